// pybridge._shm: the Python side of the shared-memory bridge, compiled from the same
// fedmarl/shm_layout.h as every peer. It only touches the header (init, read, signal, wait); the
// arrays are read and written from Python as zero-copy numpy views (np.frombuffer on the mmap).
//
// Every function takes the segment as any writable buffer (the mmap object). The buffer is
// borrowed for the duration of the call only, so a closed mmap raises instead of crashing, and
// an mmap cannot be closed while a wait on it is in progress in another thread.
#include <Python.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <string>
#include <vector>

#include "fedmarl/shm_layout.h"

namespace py = pybind11;
using namespace fedmarl::shm;

namespace {

// A borrowed view of the segment buffer. Raw PyObject_GetBuffer rather than py::buffer: the
// request/wait path runs every step and py::buffer_info allocates shape/stride vectors.
class Borrowed {
 public:
  Borrowed(py::handle obj, size_t min_size) {
    if (PyObject_GetBuffer(obj.ptr(), &view_, PyBUF_WRITABLE) != 0) throw py::error_already_set();
    if (static_cast<size_t>(view_.len) < min_size) {
      PyBuffer_Release(&view_);
      throw py::value_error("segment buffer too small: " + std::to_string(view_.len) +
                            " bytes, need at least " + std::to_string(min_size));
    }
    if (reinterpret_cast<uintptr_t>(view_.buf) % kCacheLine != 0) {
      PyBuffer_Release(&view_);
      throw py::value_error("segment buffer is not 64-byte aligned (use an mmap)");
    }
  }
  Borrowed(const Borrowed&) = delete;
  Borrowed& operator=(const Borrowed&) = delete;
  ~Borrowed() { PyBuffer_Release(&view_); }  // runs with the GIL held (declared before releases)

  Header* header() const { return static_cast<Header*>(view_.buf); }
  size_t size() const { return static_cast<size_t>(view_.len); }

 private:
  Py_buffer view_{};
};

std::vector<ArraySpec> ToSpecs(const std::vector<std::tuple<std::string, uint32_t, uint64_t>>& in) {
  std::vector<ArraySpec> specs;
  specs.reserve(in.size());
  for (const auto& [name, dtype, count] : in) specs.push_back({name, dtype, count});
  return specs;
}

using TableRow = std::tuple<std::string, uint32_t, uint64_t, uint64_t>;  // name, dtype, count, offset

std::vector<TableRow> TableOf(const std::vector<ArrayEntry>& entries) {
  std::vector<TableRow> rows;
  for (const ArrayEntry& e : entries) {
    rows.emplace_back(std::string(e.name, strnlen(e.name, kNameSize)), e.dtype, e.count, e.offset);
  }
  return rows;
}

Plan PlanOrThrow(const std::vector<std::tuple<std::string, uint32_t, uint64_t>>& arrays) {
  try {
    return PlanLayout(ToSpecs(arrays));
  } catch (const LayoutError& e) {
    throw py::value_error(e.what());
  }
}

// Caps a wait slice so the caller regains control (signals, liveness checks) at least 20 times a
// second whatever it asks for.
constexpr int64_t kMaxSliceMs = 50;

int64_t SliceNs(double slice_ms) {
  const double ms = std::clamp(slice_ms, 0.0, static_cast<double>(kMaxSliceMs));
  return static_cast<int64_t>(ms * 1e6);
}

bool PeerFailed(const Header* h) {
  return h->peer_state.load(std::memory_order_acquire) == static_cast<uint32_t>(PeerState::kError);
}

// Waits for response `seq` on a borrowed segment; true when it arrived and the peer is not in
// ERROR (a peer that reports an error may still bump the sequence to wake us).
bool WaitResponse(Header* h, uint32_t seq, int64_t spin_ns, double slice_ms) {
  // Fast path without touching the GIL: the answer is sometimes already there.
  if (h->response_seq.load(std::memory_order_acquire) == seq) return !PeerFailed(h);
  WaitStatus s;
  {
    py::gil_scoped_release nogil;
    s = WaitOn(
        h->response_seq, &h->response_waiters, [seq](uint32_t v) { return v == seq; },
        [h] { return PeerFailed(h); }, spin_ns, SliceNs(slice_ms));
  }
  return s == WaitStatus::kDone && !PeerFailed(h);
}

void SignalRequest(Header* h, uint32_t seq, uint32_t command, uint64_t arg) {
  h->command = command;
  h->command_arg = arg;
  Publish(h->request_seq, h->request_waiters, seq);  // release: the inputs were written before
}

}  // namespace

PYBIND11_MODULE(_shm, m) {
  m.doc() = "Shared-memory bridge header operations (layout from fedmarl/shm_layout.h).";

  m.attr("LAYOUT_VERSION") = kLayoutVersion;
  m.attr("LAYOUT_HASH") = kLayoutHash;
  m.attr("LAYOUT_DESCRIPTION") = std::string(kLayoutDescription);
  m.attr("HEADER_SIZE") = sizeof(Header);
  m.attr("MAX_ARRAYS") = kMaxArrays;
  m.attr("NAME_SIZE") = kNameSize;
  m.attr("ERROR_SIZE") = kErrorSize;
  m.attr("ARRAY_ALIGN") = kArrayAlign;
  m.attr("MAGIC") = py::bytes(kMagic, sizeof(kMagic));
  m.attr("MAX_SLICE_MS") = kMaxSliceMs;

  py::dict commands, states, dtypes, offsets;
#define FEDMARL_PY_ENUM(dict, name, value) dict[#name] = value;
#define FEDMARL_PY_COMMAND(name, value) FEDMARL_PY_ENUM(commands, name, value)
#define FEDMARL_PY_STATE(name, value) FEDMARL_PY_ENUM(states, name, value)
#define FEDMARL_PY_DTYPE(name, code, size, type) dtypes[#name] = py::make_tuple(code, size);
#define FEDMARL_PY_OFFSET(name, type, off) offsets[#name] = off;
  FEDMARL_SHM_COMMANDS(FEDMARL_PY_COMMAND)
  FEDMARL_SHM_STATES(FEDMARL_PY_STATE)
  FEDMARL_SHM_DTYPES(FEDMARL_PY_DTYPE)
  FEDMARL_SHM_HEADER_FIELDS(FEDMARL_PY_OFFSET)
#undef FEDMARL_PY_ENUM
#undef FEDMARL_PY_COMMAND
#undef FEDMARL_PY_STATE
#undef FEDMARL_PY_DTYPE
#undef FEDMARL_PY_OFFSET
  m.attr("COMMANDS") = commands;       // name -> code
  m.attr("STATES") = states;           // name -> code
  m.attr("DTYPES") = dtypes;           // name -> (code, element size)
  m.attr("FIELD_OFFSETS") = offsets;   // header field -> byte offset

  m.def("plan_segment", [](const std::vector<std::tuple<std::string, uint32_t, uint64_t>>& arrays) {
        Plan plan = PlanOrThrow(arrays);
        return py::make_tuple(plan.total_size, TableOf(plan.entries));
      }, py::arg("arrays"),
      "(total_size, [(name, dtype, count, offset)]) for a list of (name, dtype code, count).");

  m.def("init_segment", [](py::handle buffer,
                           const std::vector<std::tuple<std::string, uint32_t, uint64_t>>& arrays,
                           int32_t owner_pid) {
        Plan plan = PlanOrThrow(arrays);
        Borrowed b(buffer, sizeof(Header));
        try {
          InitHeader(b.header(), b.size(), plan, owner_pid);
        } catch (const LayoutError& e) {
          throw py::value_error(e.what());
        }
        return TableOf(plan.entries);
      }, py::arg("buffer"), py::arg("arrays"), py::arg("owner_pid"),
      "Write a fresh header and array table into a zero-filled writable buffer.");

  m.def("check_segment", [](py::handle buffer) {
        Borrowed b(buffer, kCacheLine);
        return CheckSegment(b.header(), b.size());
      }, py::arg("buffer"),
      "'' when the buffer holds a consistent segment of this layout, else what is wrong.");

  m.def("array_table", [](py::handle buffer) {
        Borrowed b(buffer, sizeof(Header));
        const std::string problem = CheckSegment(b.header(), b.size());
        if (!problem.empty()) throw py::value_error(problem);
        const Header* h = b.header();
        return TableOf(std::vector<ArrayEntry>(h->arrays, h->arrays + h->n_arrays));
      }, py::arg("buffer"), "[(name, dtype, count, offset)] of a checked segment.");

  m.def("read_header", [](py::handle buffer) {
        Borrowed b(buffer, kCacheLine);
        const Header* h = b.header();
        py::dict d;
        // The preamble (line 0) is readable whatever the layout version.
        d["magic"] = py::bytes(h->magic, sizeof(h->magic));
        d["version"] = h->version;
        d["layout_hash"] = h->layout_hash;
        d["header_size"] = h->header_size;
        d["total_size"] = h->total_size;
        d["owner_pid"] = h->owner_pid;
        d["peer_pid"] = h->peer_pid.load(std::memory_order_acquire);
        d["peer_state"] = h->peer_state.load(std::memory_order_acquire);
        d["n_arrays"] = h->n_arrays;
        d["error_code"] = h->error_code;
        d["peer_version"] = h->peer_version;
        d["peer_layout_hash"] = h->peer_layout_hash;
        if (h->version == kLayoutVersion && h->layout_hash == kLayoutHash &&
            b.size() >= sizeof(Header)) {
          d["request_seq"] = h->request_seq.load(std::memory_order_acquire);
          d["response_seq"] = h->response_seq.load(std::memory_order_acquire);
          d["command"] = h->command;
          d["command_arg"] = h->command_arg;
          d["step_counter"] = h->step_counter.load(std::memory_order_acquire);
          d["error_message"] = std::string(h->error_message, strnlen(h->error_message, kErrorSize));
        }
        return d;
      }, py::arg("buffer"), "Header fields as a dict (only the preamble on a foreign layout).");

  m.def("signal_request", [](py::handle buffer, uint32_t seq, uint32_t command, uint64_t arg) {
        Borrowed b(buffer, sizeof(Header));
        SignalRequest(b.header(), seq, command, arg);
      }, py::arg("buffer"), py::arg("seq"), py::arg("command"), py::arg("arg") = 0,
      "Publish request `seq` (inputs must already be written) and wake the peer if it sleeps.");

  m.def("wait_response", [](py::handle buffer, uint32_t seq, int64_t spin_ns, double slice_ms) {
        Borrowed b(buffer, sizeof(Header));
        return WaitResponse(b.header(), seq, spin_ns, slice_ms);
      }, py::arg("buffer"), py::arg("seq"), py::arg("spin_ns"), py::arg("slice_ms"),
      "Wait (GIL released) for response `seq`: spin spin_ns, then futex-wait up to slice_ms "
      "(capped at 50). True when it arrived; False on slice timeout or a peer ERROR.");

  // The per-step hot path in one call: signal_request then the first wait_response slice.
  m.def("request", [](py::handle buffer, uint32_t seq, uint32_t command, uint64_t arg,
                      int64_t spin_ns, double slice_ms) {
        Borrowed b(buffer, sizeof(Header));
        SignalRequest(b.header(), seq, command, arg);
        return WaitResponse(b.header(), seq, spin_ns, slice_ms);
      }, py::arg("buffer"), py::arg("seq"), py::arg("command"), py::arg("arg"),
      py::arg("spin_ns"), py::arg("slice_ms"),
      "signal_request + wait_response(seq, spin_ns, slice_ms) in one call.");

  m.def("wait_peer_state", [](py::handle buffer, uint32_t from_state, double slice_ms) {
        Borrowed b(buffer, kCacheLine);
        Header* h = b.header();
        uint32_t seen = from_state;
        {
          py::gil_scoped_release nogil;
          WaitOn(h->peer_state, nullptr, [from_state](uint32_t v) { return v != from_state; },
                 [] { return false; }, 0, SliceNs(slice_ms), &seen);
        }
        return seen;
      }, py::arg("buffer"), py::arg("from_state"), py::arg("slice_ms"),
      "Wait (GIL released) up to slice_ms (capped at 50) for peer_state to leave from_state; "
      "returns the state seen.");

  m.def("cas_peer_state", [](py::handle buffer, uint32_t expected, uint32_t desired) {
        Borrowed b(buffer, kCacheLine);
        uint32_t e = expected;
        const bool ok = b.header()->peer_state.compare_exchange_strong(e, desired);
        if (ok) FutexWakeAll(&b.header()->peer_state);
        return ok;
      }, py::arg("buffer"), py::arg("expected"), py::arg("desired"),
      "Atomically move peer_state from expected to desired (e.g. HELLO -> READY).");
}
