// The single definition of the shared-memory segment between Python and a C++ peer (the ns-3
// scenario, or the echo peer of the tests). The pybind11 module pybridge._shm is compiled from this
// header and every peer includes it, so the two sides cannot disagree on where a field lives; a
// layout hash computed at compile time from the field list below is checked at connect time, so
// a peer built from an older copy of this file is refused instead of misreading the segment.
//
// Segment = one file /dev/shm/fedmarl-<owner pid>-<hex>, created and sized by Python:
//
//   [Header, sizeof(Header) bytes][array 0, 64-byte aligned][array 1, 64-byte aligned]...
//
// Protocol (one request in flight at a time; sequence numbers are uint32 and wrap):
//   hello    the peer maps the segment named on its command line (--segment=NAME), checks magic,
//            version and layout hash (mismatch: it records its own version/hash, sets ERROR and
//            exits non-zero), records its pid, sets peer_state = HELLO and wakes peer_state.
//            Python checks the peer's version/hash too, then sets READY.
//   request  Python writes the inputs (e.g. "actions"), command and command_arg, then stores
//            request_seq = k and futex-wakes it if the peer sleeps (request_waiters > 0).
//   serve    the peer waits for request_seq != last seen (short spin, then FUTEX_WAIT), runs the
//            command, writes the outputs, stores response_seq = k and wakes Python if it sleeps.
//   wait     Python spins briefly on response_seq, then futex-waits in slices of <= 50 ms with
//            the GIL released, checking between slices that the peer process is still alive.
//   errors   the peer sets peer_state = ERROR with a message and wakes both words; Python raises.
//   commands STEP (run one decision interval), RESET (arg = the episode's run number: the ns-3
//            RngRun for inx-factory), CLOSE (answer, then exit 0).
//            A peer whose owner process is gone exits by itself (checked once a second).
//
// Arrays. The bridge itself is generic: the segment's array table holds up to kMaxArrays (32)
// named arrays (names of at most kNameSize - 1 = 23 characters; dtypes f32, f64, i32, u8), each
// 64-byte aligned, and a peer looks its arrays up by name with Array<T>(), which checks dtype
// and element count. Which arrays a scenario exchanges is declared by the scenario binary
// itself: `<binary> --contract-json` prints its array table (name, dtype, shape over dim
// symbols, direction, doc), Python creates the segment from it and the binary binds the same
// table (ns3-scenarios/common/scenario-arrays.h). inx-factory has 21 arrays: one input
// (actions) and 20 outputs (ns3-scenarios/inx-factory/inx-factory-contract.cc).
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace fedmarl::shm {

// ----------------------------------------------------------------------------- layout constants
// Macros only where the value must also appear inside the layout description string below.
#define FEDMARL_SHM_VERSION 1
#define FEDMARL_SHM_MAX_ARRAYS 32
#define FEDMARL_SHM_NAME_SIZE 24
#define FEDMARL_SHM_ERROR_SIZE 256
#define FEDMARL_SHM_ALIGN 64
#define FEDMARL_SHM_STR_(x) #x
#define FEDMARL_SHM_STR(x) FEDMARL_SHM_STR_(x)

inline constexpr uint32_t kLayoutVersion = FEDMARL_SHM_VERSION;
inline constexpr char kMagic[8] = {'F', 'E', 'D', 'M', 'A', 'R', 'L', '\0'};
inline constexpr size_t kCacheLine = 64;
inline constexpr size_t kArrayAlign = FEDMARL_SHM_ALIGN;
inline constexpr uint32_t kMaxArrays = FEDMARL_SHM_MAX_ARRAYS;
inline constexpr size_t kNameSize = FEDMARL_SHM_NAME_SIZE;  // including the terminating NUL
inline constexpr size_t kErrorSize = FEDMARL_SHM_ERROR_SIZE;
inline constexpr const char* kShmDir = "/dev/shm/";

// X-macro lists: each enum is defined once and the same list feeds the layout description (so a
// renumbering changes the hash) and the Python module's name tables.
#define FEDMARL_SHM_COMMANDS(X) X(None, 0) X(Step, 1) X(Reset, 2) X(Close, 3)
#define FEDMARL_SHM_STATES(X) X(Created, 0) X(Hello, 1) X(Ready, 2) X(Error, 3) X(Closed, 4)
// name, code, element size, C++ type
#define FEDMARL_SHM_DTYPES(X) X(f32, 1, 4, float) X(f64, 2, 8, double) \
  X(i32, 3, 4, int32_t) X(u8, 4, 1, uint8_t)

#define FEDMARL_SHM_ENUM_ITEM(name, value) k##name = value,
enum class Command : uint32_t { FEDMARL_SHM_COMMANDS(FEDMARL_SHM_ENUM_ITEM) };
enum class PeerState : uint32_t { FEDMARL_SHM_STATES(FEDMARL_SHM_ENUM_ITEM) };
#undef FEDMARL_SHM_ENUM_ITEM
#define FEDMARL_SHM_DTYPE_ITEM(name, code, size, type) name = code,
enum class DType : uint32_t { FEDMARL_SHM_DTYPES(FEDMARL_SHM_DTYPE_ITEM) };
#undef FEDMARL_SHM_DTYPE_ITEM

// Error codes a peer reports with peer_state = ERROR (error_code field).
enum class ErrorCode : uint32_t {
  kNone = 0,
  kLayoutMismatch = 1,  // magic, version or layout hash differ
  kBadSegment = 2,      // the segment is malformed (sizes, table)
  kArrays = 3,          // an array the peer needs is missing or has the wrong dtype/count
  kCommand = 4,         // unknown command
  kSimulation = 5,      // the simulation itself failed
};

inline constexpr size_t DTypeSize(uint32_t code) {
#define FEDMARL_SHM_DTYPE_SIZE(name, c, size, type) if (code == c) return size;
  FEDMARL_SHM_DTYPES(FEDMARL_SHM_DTYPE_SIZE)
#undef FEDMARL_SHM_DTYPE_SIZE
  return 0;  // unknown code
}

inline constexpr const char* DTypeName(uint32_t code) {
#define FEDMARL_SHM_DTYPE_NAME(name, c, size, type) if (code == c) return #name;
  FEDMARL_SHM_DTYPES(FEDMARL_SHM_DTYPE_NAME)
#undef FEDMARL_SHM_DTYPE_NAME
  return "unknown";
}

template <class T>
constexpr DType DTypeOf() {
  using U = std::remove_cv_t<T>;
#define FEDMARL_SHM_DTYPE_OF(name, c, size, type) if constexpr (std::is_same_v<U, type>) \
  return DType::name; else
  FEDMARL_SHM_DTYPES(FEDMARL_SHM_DTYPE_OF)
#undef FEDMARL_SHM_DTYPE_OF
  static_assert(sizeof(U) == 0, "segment arrays are float, double, int32_t or uint8_t");
}

// ----------------------------------------------------------------------------- the structs
struct ArrayEntry {
  char name[kNameSize];  // NUL-terminated, at most kNameSize - 1 characters
  uint32_t dtype;        // DType code
  uint32_t reserved;
  uint64_t count;   // elements
  uint64_t offset;  // bytes from the start of the segment; a multiple of kArrayAlign
};

// Cache line 0 is the stable preamble: its fields keep their offsets in every layout version, so
// two sides built from different versions can still read each other's version and hash and
// report the mismatch. Lines 1 and 2 hold one futex word each, so the side spinning on one does
// not bounce the line the other side writes; the command travels on the request line and the
// step counter on the response line, one cache-line transfer per direction.
struct alignas(kCacheLine) Header {
  // line 0: identity (written once by Python) and the peer's hello
  char magic[8];
  uint32_t version;
  uint32_t header_size;
  uint64_t layout_hash;
  uint64_t total_size;
  int32_t owner_pid;
  std::atomic<int32_t> peer_pid;
  std::atomic<uint32_t> peer_state;  // PeerState; also a futex word (the hello wait)
  uint32_t n_arrays;
  uint32_t error_code;        // ErrorCode, valid when peer_state == ERROR
  uint32_t peer_version;      // the layout version the peer was built with
  uint64_t peer_layout_hash;  // the layout hash the peer was built with
  // line 1: Python -> peer
  alignas(kCacheLine) std::atomic<uint32_t> request_seq;  // futex word
  std::atomic<uint32_t> request_waiters;  // > 0 while the peer sleeps in FUTEX_WAIT
  uint32_t command;                       // Command
  uint32_t reserved1;
  uint64_t command_arg;  // e.g. the RESET seed
  // line 2: peer -> Python
  alignas(kCacheLine) std::atomic<uint32_t> response_seq;  // futex word
  std::atomic<uint32_t> response_waiters;  // > 0 while Python sleeps in FUTEX_WAIT
  std::atomic<uint64_t> step_counter;      // STEP commands served since the peer started
  // lines 3..6: the peer's error message
  alignas(kCacheLine) char error_message[kErrorSize];
  // lines 7..: the array table
  ArrayEntry arrays[kMaxArrays];
};

// Every field: name, type (for the description and a size check), byte offset. The static_asserts
// below tie this list to the struct, and the list is what the layout hash is computed from, so
// any edit of the struct that is not mirrored here fails to compile, and any edit mirrored here
// changes the hash.
#define FEDMARL_SHM_HEADER_FIELDS(X)                                               \
  X(magic, char[8], 0) X(version, uint32_t, 8) X(header_size, uint32_t, 12)        \
  X(layout_hash, uint64_t, 16) X(total_size, uint64_t, 24) X(owner_pid, int32_t, 32) \
  X(peer_pid, int32_t, 36) X(peer_state, uint32_t, 40) X(n_arrays, uint32_t, 44)   \
  X(error_code, uint32_t, 48) X(peer_version, uint32_t, 52)                        \
  X(peer_layout_hash, uint64_t, 56) X(request_seq, uint32_t, 64)                   \
  X(request_waiters, uint32_t, 68) X(command, uint32_t, 72) X(reserved1, uint32_t, 76) \
  X(command_arg, uint64_t, 80) X(response_seq, uint32_t, 128)                      \
  X(response_waiters, uint32_t, 132) X(step_counter, uint64_t, 136)                \
  X(error_message, char[FEDMARL_SHM_ERROR_SIZE], 192)                              \
  X(arrays, ArrayEntry[FEDMARL_SHM_MAX_ARRAYS], 448)
#define FEDMARL_SHM_ARRAY_FIELDS(X)                                                 \
  X(name, char[FEDMARL_SHM_NAME_SIZE], 0) X(dtype, uint32_t, 24) X(reserved, uint32_t, 28) \
  X(count, uint64_t, 32) X(offset, uint64_t, 40)

#define FEDMARL_SHM_DESCRIBE_FIELD(name, type, off) #name ":" #type "@" #off ";"
#define FEDMARL_SHM_DESCRIBE_ENUM(name, value) #name "=" #value ";"
#define FEDMARL_SHM_DESCRIBE_DTYPE(name, code, size, type) #name "=" #code "/" #size ";"
inline constexpr char kLayoutDescription[] =
    "fedmarl-shm version=" FEDMARL_SHM_STR(FEDMARL_SHM_VERSION) ";magic=FEDMARL;"
    "Header{" FEDMARL_SHM_HEADER_FIELDS(FEDMARL_SHM_DESCRIBE_FIELD) "}"
    "ArrayEntry{" FEDMARL_SHM_ARRAY_FIELDS(FEDMARL_SHM_DESCRIBE_FIELD) "}"
    "Command{" FEDMARL_SHM_COMMANDS(FEDMARL_SHM_DESCRIBE_ENUM) "}"
    "PeerState{" FEDMARL_SHM_STATES(FEDMARL_SHM_DESCRIBE_ENUM) "}"
    "DType{" FEDMARL_SHM_DTYPES(FEDMARL_SHM_DESCRIBE_DTYPE) "}"
    "array_align=" FEDMARL_SHM_STR(FEDMARL_SHM_ALIGN) ";max_arrays=" FEDMARL_SHM_STR(FEDMARL_SHM_MAX_ARRAYS)
    ";name_size=" FEDMARL_SHM_STR(FEDMARL_SHM_NAME_SIZE) ";error_size=" FEDMARL_SHM_STR(FEDMARL_SHM_ERROR_SIZE) ";"
    "futex=shared,waiters-counted;seq=u32-wrapping;";
#undef FEDMARL_SHM_DESCRIBE_FIELD
#undef FEDMARL_SHM_DESCRIBE_ENUM
#undef FEDMARL_SHM_DESCRIBE_DTYPE

// 64-bit FNV-1a: tiny, constexpr, and good enough to tell layouts apart (not a security hash).
constexpr uint64_t Fnv1a64(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}
inline constexpr uint64_t kLayoutHash = Fnv1a64(kLayoutDescription);

#define FEDMARL_SHM_CHECK_FIELD(S, name, type, off)                        \
  static_assert(offsetof(S, name) == (off), #S "::" #name " moved: update the field list"); \
  static_assert(sizeof(S::name) == sizeof(type), #S "::" #name " changed size");
#define FEDMARL_SHM_CHECK_HEADER(name, type, off) FEDMARL_SHM_CHECK_FIELD(Header, name, type, off)
#define FEDMARL_SHM_CHECK_ARRAY(name, type, off) FEDMARL_SHM_CHECK_FIELD(ArrayEntry, name, type, off)
FEDMARL_SHM_HEADER_FIELDS(FEDMARL_SHM_CHECK_HEADER)
FEDMARL_SHM_ARRAY_FIELDS(FEDMARL_SHM_CHECK_ARRAY)
#undef FEDMARL_SHM_CHECK_HEADER
#undef FEDMARL_SHM_CHECK_ARRAY
#undef FEDMARL_SHM_CHECK_FIELD

static_assert(std::is_standard_layout_v<Header>, "offsetof needs a standard-layout Header");
static_assert(sizeof(ArrayEntry) == 48);
static_assert(sizeof(Header) == 448 + kMaxArrays * sizeof(ArrayEntry));
static_assert(sizeof(Header) % kArrayAlign == 0, "the first array starts right after the header");
static_assert(offsetof(Header, request_seq) / kCacheLine != offsetof(Header, response_seq) / kCacheLine);
static_assert(offsetof(Header, request_seq) % kCacheLine == 0 && offsetof(Header, response_seq) % kCacheLine == 0);
static_assert(offsetof(Header, request_seq) % 4 == 0 && offsetof(Header, peer_state) % 4 == 0,
              "futex words must be 4-byte aligned");
// A futex operates on a plain 32-bit word: the atomics must be exactly that, and lock-free so that
// two processes see the same bytes (a lock-based atomic would keep its lock in the process).
static_assert(sizeof(std::atomic<uint32_t>) == 4 && std::atomic<uint32_t>::is_always_lock_free);
static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<int32_t>::is_always_lock_free);

// ----------------------------------------------------------------------------- planning/checking
class LayoutError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ArraySpec {
  std::string name;
  uint32_t dtype;
  uint64_t count;
};

struct Plan {
  std::vector<ArrayEntry> entries;
  uint64_t total_size = 0;
};

constexpr uint64_t AlignUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

// Where each array goes and how big the segment is. Throws LayoutError on a bad list.
inline Plan PlanLayout(const std::vector<ArraySpec>& specs) {
  if (specs.size() > kMaxArrays) {
    throw LayoutError("too many arrays: " + std::to_string(specs.size()) + " (at most " +
                      std::to_string(kMaxArrays) + ")");
  }
  Plan plan;
  uint64_t offset = sizeof(Header);
  for (size_t i = 0; i < specs.size(); ++i) {
    const ArraySpec& s = specs[i];
    if (s.name.empty() || s.name.size() >= kNameSize || s.name.find('\0') != std::string::npos) {
      throw LayoutError("array name '" + s.name + "' must have 1 to " +
                        std::to_string(kNameSize - 1) + " characters");
    }
    for (size_t j = 0; j < i; ++j) {
      if (specs[j].name == s.name) throw LayoutError("array name '" + s.name + "' used twice");
    }
    const size_t esize = DTypeSize(s.dtype);
    if (esize == 0) {
      throw LayoutError("array '" + s.name + "': unknown dtype code " + std::to_string(s.dtype));
    }
    // Bounded so that offset arithmetic cannot overflow; 2^40 bytes is far beyond any scenario.
    if (s.count == 0 || s.count > (uint64_t{1} << 40) / esize) {
      throw LayoutError("array '" + s.name + "': element count " + std::to_string(s.count) +
                        " out of range");
    }
    ArrayEntry e{};
    std::memcpy(e.name, s.name.data(), s.name.size());
    e.dtype = s.dtype;
    e.count = s.count;
    e.offset = offset;
    plan.entries.push_back(e);
    offset = AlignUp(offset + s.count * esize, kArrayAlign);
  }
  plan.total_size = offset;
  return plan;
}

// Writes a fresh header (and the array table) at `base`. The caller owns a zero-filled mapping of
// at least plan.total_size bytes that no peer has attached yet.
inline Header* InitHeader(void* base, size_t mapped_size, const Plan& plan, int32_t owner_pid) {
  if (mapped_size < plan.total_size) throw LayoutError("mapping smaller than the planned segment");
  if (reinterpret_cast<uintptr_t>(base) % kArrayAlign != 0) {
    throw LayoutError("segment base is not 64-byte aligned");
  }
  std::memset(base, 0, sizeof(Header));
  auto* h = new (base) Header();  // value-initialised: atomics start at 0 (CREATED, seq 0)
  h->version = kLayoutVersion;
  h->header_size = sizeof(Header);
  h->layout_hash = kLayoutHash;
  h->total_size = plan.total_size;
  h->owner_pid = owner_pid;
  h->n_arrays = static_cast<uint32_t>(plan.entries.size());
  for (size_t i = 0; i < plan.entries.size(); ++i) h->arrays[i] = plan.entries[i];
  // The magic goes last: a reader that sees it sees a complete header.
  std::atomic_thread_fence(std::memory_order_release);
  std::memcpy(h->magic, kMagic, sizeof(kMagic));
  return h;
}

inline std::string Hex64(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Empty when `h` (mapped_size bytes) is a segment of this layout whose table is consistent;
// otherwise what is wrong, naming both versions/hashes on a layout mismatch.
inline std::string CheckSegment(const Header* h, size_t mapped_size,
                                uint32_t my_version = kLayoutVersion,
                                uint64_t my_hash = kLayoutHash) {
  if (mapped_size < kCacheLine || std::memcmp(h->magic, kMagic, sizeof(kMagic)) != 0) {
    return "not a fedmarl segment (bad magic)";
  }
  if (h->version != my_version || h->layout_hash != my_hash) {
    return "layout mismatch: the segment has layout version " + std::to_string(h->version) +
           " (hash " + Hex64(h->layout_hash) + "), this side was built with layout version " +
           std::to_string(my_version) + " (hash " + Hex64(my_hash) +
           "); rebuild both sides from the same fedmarl/shm_layout.h";
  }
  if (mapped_size < sizeof(Header) || h->header_size != sizeof(Header)) {
    return "segment smaller than its header";
  }
  if (h->total_size > mapped_size) {
    return "segment declares " + std::to_string(h->total_size) + " bytes but only " +
           std::to_string(mapped_size) + " are mapped";
  }
  if (h->n_arrays > kMaxArrays) return "array table has " + std::to_string(h->n_arrays) + " entries";
  for (uint32_t i = 0; i < h->n_arrays; ++i) {
    const ArrayEntry& e = h->arrays[i];
    const std::string_view name(e.name, strnlen(e.name, kNameSize));
    if (name.empty() || name.size() == kNameSize) return "array " + std::to_string(i) + ": bad name";
    const size_t esize = DTypeSize(e.dtype);
    if (esize == 0) return "array '" + std::string(name) + "': unknown dtype code";
    if (e.offset % kArrayAlign != 0 || e.offset < sizeof(Header) ||
        e.count > (uint64_t{1} << 40) || e.offset + e.count * esize > h->total_size) {
      return "array '" + std::string(name) + "': offset/count outside the segment";
    }
  }
  return {};
}

inline const ArrayEntry* FindArray(const Header* h, std::string_view name) {
  const uint32_t n = h->n_arrays < kMaxArrays ? h->n_arrays : kMaxArrays;
  for (uint32_t i = 0; i < n; ++i) {
    if (name == std::string_view(h->arrays[i].name, strnlen(h->arrays[i].name, kNameSize))) {
      return &h->arrays[i];
    }
  }
  return nullptr;
}

// The array `name` as a span of T, checking that it exists and has T's dtype.
template <class T>
std::span<T> ArraySpan(Header* h, const char* name) {
  const ArrayEntry* e = FindArray(h, name);
  if (e == nullptr) {
    std::string have;
    for (uint32_t i = 0; i < h->n_arrays && i < kMaxArrays; ++i) {
      have += (i ? ", " : "") + std::string(h->arrays[i].name, strnlen(h->arrays[i].name, kNameSize));
    }
    throw LayoutError(std::string("array '") + name + "' is not in the segment (it has: " +
                      (have.empty() ? "no arrays" : have) + ")");
  }
  constexpr DType want = DTypeOf<T>();
  if (e->dtype != static_cast<uint32_t>(want)) {
    throw LayoutError(std::string("array '") + name + "' has dtype " + DTypeName(e->dtype) +
                      " but this peer reads it as " + DTypeName(static_cast<uint32_t>(want)));
  }
  auto* base = reinterpret_cast<unsigned char*>(h);
  return {reinterpret_cast<T*>(base + e->offset), static_cast<size_t>(e->count)};
}

// The array `name` as T*, checking dtype and element count: the usual way a scenario binds
// the arrays it was configured for.
template <class T>
T* Array(Header* h, const char* name, size_t expected_count) {
  std::span<T> s = ArraySpan<T>(h, name);
  if (s.size() != expected_count) {
    throw LayoutError(std::string("array '") + name + "' has " + std::to_string(s.size()) +
                      " elements but this peer expects " + std::to_string(expected_count));
  }
  return s.data();
}

// ----------------------------------------------------------------------------- futex waits
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#endif
}

inline int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Shared (not FUTEX_PRIVATE) operations: the word lives in a MAP_SHARED mapping of two processes.
inline long FutexWait(std::atomic<uint32_t>* word, uint32_t expected, int64_t timeout_ns) {
  timespec ts{static_cast<time_t>(timeout_ns / 1000000000), static_cast<long>(timeout_ns % 1000000000)};
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
}
inline void FutexWakeAll(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

enum class WaitStatus { kDone, kTimeout, kAborted };

// How long WaitOn spins on pause alone before it also yields the core between checks. Measured
// on a 2-vCPU VM (echo peer, N = 20): on separate cores a round trip stays ~1 us either way; when
// the scheduler puts both processes on one core (the other is busy) it costs ~5 us with 1 us of
// pure spin and ~13 us with 4 us, since each side spins that long before the other can run.
inline constexpr int64_t kPureSpinNs = 1'000;

// Waits until done(word) holds: spins for spin_ns (a round trip with a fast peer is about a
// microsecond, far below a futex wake-up), then sleeps in FUTEX_WAIT until timeout_ns after the
// start. `waiters` (may be null) counts sleepers so the other side skips the wake syscall when
// nobody sleeps; the seq_cst increment-then-load here pairs with the seq_cst store-then-load in
// Publish() (a Dekker pattern: at least one side sees the other's write). abort() is polled while
// spinning and on every wake-up.
template <class Done, class Abort>
WaitStatus WaitOn(std::atomic<uint32_t>& word, std::atomic<uint32_t>* waiters, Done done,
                  Abort abort, int64_t spin_ns, int64_t timeout_ns, uint32_t* seen = nullptr) {
  uint32_t v = word.load(std::memory_order_acquire);
  WaitStatus status = WaitStatus::kTimeout;
  const int64_t start = NowNs();
  const int64_t deadline = start + (spin_ns > 0 ? spin_ns : 0) + (timeout_ns > 0 ? timeout_ns : 0);
  if (done(v)) {
    status = WaitStatus::kDone;
  } else if (spin_ns > 0) {
    for (uint32_t i = 1;; ++i) {
      CpuRelax();
      v = word.load(std::memory_order_acquire);
      if (done(v)) {
        status = WaitStatus::kDone;
        break;
      }
      if ((i & 15) == 0) {
        if (abort()) {
          status = WaitStatus::kAborted;
          break;
        }
        const int64_t spun = NowNs() - start;
        if (spun >= spin_ns) break;
        // Past the first microseconds, offer the core: on a machine with more runnable threads
        // than cores the side we wait for may be queued behind our own spinning.
        if (spun >= kPureSpinNs) sched_yield();
      }
    }
  }
  if (status == WaitStatus::kTimeout) {
    if (waiters) waiters->fetch_add(1, std::memory_order_seq_cst);
    for (;;) {
      v = word.load(std::memory_order_seq_cst);
      if (done(v)) {
        status = WaitStatus::kDone;
        break;
      }
      if (abort()) {
        status = WaitStatus::kAborted;
        break;
      }
      const int64_t left = deadline - NowNs();
      if (left <= 0) break;
      // Returns on a wake, when the word no longer holds v (EAGAIN), on EINTR or on timeout; the
      // loop re-checks in every case.
      FutexWait(&word, v, left);
    }
    if (waiters) waiters->fetch_sub(1, std::memory_order_seq_cst);
  }
  if (seen) *seen = v;
  return status;
}

// Stores a new value of a futex word and wakes the other side only if it sleeps.
inline void Publish(std::atomic<uint32_t>& word, std::atomic<uint32_t>& waiters, uint32_t value) {
  word.store(value, std::memory_order_seq_cst);
  if (waiters.load(std::memory_order_seq_cst) != 0) FutexWakeAll(&word);
}

// ----------------------------------------------------------------------------- peer side
// What a peer (the ns-3 scenario, the echo peer) uses: attach, hello, serve requests, report.
//
//   PeerSegment seg(name);                       // throws SegmentError (already reported)
//   float* obs = Array<float>(seg.header(), "obs", n * w);
//   seg.Hello();
//   PeerSegment::Request req;
//   while (seg.WaitRequest(req)) { ...; seg.Respond(); }   // false: the owner process is gone
class SegmentError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class PeerSegment {
 public:
  struct Options {
    // What this peer claims to be built with; differs from the compiled values only in tests.
    uint32_t version = kLayoutVersion;
    uint64_t layout_hash = kLayoutHash;
    bool check_layout = true;  // tests only: skip the check so Python's own check is exercised
  };
  struct Request {
    uint32_t seq = 0;
    Command command = Command::kNone;
    uint64_t arg = 0;
  };

  explicit PeerSegment(const std::string& name) : PeerSegment(name, Options{}) {}
  PeerSegment(const std::string& name, const Options& opt) : name_(name), opt_(opt) {
    if (name.empty() || name.find('/') != std::string::npos) {
      throw SegmentError("bad segment name '" + name + "' (expected e.g. fedmarl-123-abcd)");
    }
    const std::string path = std::string(kShmDir) + name;
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      throw SegmentError("cannot open " + path + ": " + std::strerror(errno) +
                         " (Python creates the segment first; start the peer with the name it prints)");
    }
    struct stat st{};
    if (::fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(kCacheLine)) {
      ::close(fd);
      throw SegmentError(path + " is too small to be a fedmarl segment");
    }
    size_ = static_cast<size_t>(st.st_size);
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);  // the mapping keeps the segment alive
    if (p == MAP_FAILED) throw SegmentError("cannot map " + path + ": " + std::strerror(errno));
    h_ = static_cast<Header*>(p);
    initial_ppid_ = ::getppid();
    if (std::memcmp(h_->magic, kMagic, sizeof(kMagic)) != 0) {
      Unmap();
      throw SegmentError(path + " is not a fedmarl segment (bad magic)");
    }
    // Line 0 is the same in every layout version: record what we were built with there, so
    // Python can name both versions whatever happens next.
    h_->peer_version = opt_.version;
    h_->peer_layout_hash = opt_.layout_hash;
    h_->peer_pid.store(static_cast<int32_t>(::getpid()), std::memory_order_relaxed);
    {
      // Without the layout check (tests only) the structure is still checked, so array lookups
      // stay inside the mapping whatever the segment says.
      std::string problem = opt_.check_layout
                                ? CheckSegment(h_, size_, opt_.version, opt_.layout_hash)
                                : CheckSegment(h_, size_, h_->version, h_->layout_hash);
      if (!problem.empty()) {
        const bool same_layout = h_->version == kLayoutVersion && h_->layout_hash == kLayoutHash;
        ReportError(problem.starts_with("layout") ? ErrorCode::kLayoutMismatch : ErrorCode::kBadSegment,
                    problem, /*write_message=*/same_layout);
        Unmap();
        throw SegmentError(path + ": " + problem);
      }
    }
    last_seq_ = h_->request_seq.load(std::memory_order_acquire);
  }
  PeerSegment(const PeerSegment&) = delete;
  PeerSegment& operator=(const PeerSegment&) = delete;
  ~PeerSegment() { Unmap(); }

  Header* header() const { return h_; }
  const std::string& name() const { return name_; }

  void Hello() {
    h_->peer_state.store(static_cast<uint32_t>(PeerState::kHello), std::memory_order_seq_cst);
    FutexWakeAll(&h_->peer_state);
  }

  // Waits for the next request. Between sleeps of `poll_ms` it checks that the owner process is
  // alive, so a peer whose Python died does not wait forever; returns false then.
  bool WaitRequest(Request& req, int64_t spin_ns = 50'000, int64_t poll_ms = 1000) {
    const uint32_t last = last_seq_;
    uint32_t seen = last;
    for (;;) {
      const WaitStatus s = WaitOn(
          h_->request_seq, &h_->request_waiters, [last](uint32_t v) { return v != last; },
          [] { return false; }, spin_ns, poll_ms * 1'000'000, &seen);
      if (s == WaitStatus::kDone) break;
      if (!OwnerAlive()) return false;
      spin_ns = 0;
    }
    last_seq_ = seen;
    req.seq = seen;
    req.command = static_cast<Command>(h_->command);
    req.arg = h_->command_arg;
    return true;
  }

  // Publishes the outputs of the request last returned by WaitRequest.
  void Respond() { Publish(h_->response_seq, h_->response_waiters, last_seq_); }

  // CLOSE: mark the peer closed and answer; the caller then exits.
  void Close() {
    h_->peer_state.store(static_cast<uint32_t>(PeerState::kClosed), std::memory_order_seq_cst);
    Respond();
  }

  // Sets ERROR with a message (truncated to the field) and wakes whatever Python waits on.
  void ReportError(ErrorCode code, std::string_view message, bool write_message = true) {
    if (write_message) {
      const size_t n = message.size() < kErrorSize - 1 ? message.size() : kErrorSize - 1;
      std::memcpy(h_->error_message, message.data(), n);
      h_->error_message[n] = '\0';
    }
    h_->error_code = static_cast<uint32_t>(code);
    h_->peer_state.store(static_cast<uint32_t>(PeerState::kError), std::memory_order_seq_cst);
    FutexWakeAll(&h_->peer_state);
    if (write_message) FutexWakeAll(&h_->response_seq);
  }

  bool OwnerAlive() const {
    // Launched peers are children of the owner: a changed parent means it died (a zombie owner
    // would still pass the kill test). Peers started by hand (attach mode) only have the pid.
    if (initial_ppid_ == h_->owner_pid && ::getppid() != initial_ppid_) return false;
    return !(::kill(h_->owner_pid, 0) != 0 && errno == ESRCH);
  }

 private:
  void Unmap() {
    if (h_) ::munmap(h_, size_);
    h_ = nullptr;
  }

  std::string name_;
  Options opt_;
  Header* h_ = nullptr;
  size_t size_ = 0;
  pid_t initial_ppid_ = 0;
  uint32_t last_seq_ = 0;
};

}  // namespace fedmarl::shm
