// fedmarl-echo-peer: a stand-in for the ns-3 scenario that tests and benchmarks the bridge.
//
// It attaches to the segment Python created, says hello, and serves requests:
//   STEP        obs[i*W + j] = actions[i] + 0.5 j, reward[i] = 2 actions[i]; step counter + 1
//   RESET(seed) obs = 0, metrics[0] = seed, metrics[1] += 1 (when a "metrics" f64 array exists)
//   CLOSE       answers and exits 0
// Arrays: "actions" i32 [N], "obs" f32 [N*W], "reward" f32 [N]; N and W come from the counts.
// Fault injection (tests): --crash-at-step=K, --hang-at-step=K, --fake-version=V,
// --skip-layout-check. --spin-us=U sets how long it spins before sleeping on the futex.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "fedmarl/shm_layout.h"

namespace shm = fedmarl::shm;

namespace {

constexpr const char* kUsage =
    "usage: fedmarl-echo-peer --segment=NAME [--crash-at-step=K] [--hang-at-step=K]\n"
    "                         [--fake-version=V] [--skip-layout-check] [--spin-us=U]\n";

struct Flags {
  std::string segment;
  std::optional<unsigned long long> crash_at, hang_at, fake_version;
  bool skip_check = false;
  long long spin_us = 50;
};

bool ParseNumber(std::string_view text, unsigned long long& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  const std::string s(text);
  errno = 0;
  out = std::strtoull(s.c_str(), &end, 10);
  return errno == 0 && end && *end == '\0' && s[0] != '-';
}

// Exits with status 2 on a bad command line, like most CLI tools.
Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value_of = [&](std::string_view key, std::optional<unsigned long long>& dst) {
      if (!a.starts_with(key)) return false;
      unsigned long long v = 0;
      if (!ParseNumber(a.substr(key.size()), v)) {
        std::fprintf(stderr, "fedmarl-echo-peer: bad number in '%s'\n%s", argv[i], kUsage);
        std::exit(2);
      }
      dst = v;
      return true;
    };
    if (a.starts_with("--segment=")) {
      f.segment = std::string(a.substr(10));
    } else if (value_of("--crash-at-step=", f.crash_at) || value_of("--hang-at-step=", f.hang_at) ||
               value_of("--fake-version=", f.fake_version)) {
    } else if (a == "--skip-layout-check") {
      f.skip_check = true;
    } else if (a.starts_with("--spin-us=")) {
      std::optional<unsigned long long> v;
      value_of("--spin-us=", v);
      f.spin_us = static_cast<long long>(*v);
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      std::fprintf(stderr, "fedmarl-echo-peer: unknown argument '%s'\n%s", argv[i], kUsage);
      std::exit(2);
    }
  }
  if (f.segment.empty()) {
    std::fprintf(stderr, "fedmarl-echo-peer: --segment=NAME is required\n%s", kUsage);
    std::exit(2);
  }
  return f;
}

// The arrays do not overlap (the layout gives each its own range): __restrict lets the
// compiler keep values in registers and vectorise instead of reloading after every store. A
// compile-time width (kW > 0) unrolls the row loop: a runtime width of 4 runs ~5x slower at
// N = 1000, and the peer's arithmetic should not weigh on what the benchmark says of the bridge.
template <size_t kW>
void EchoRows(const int32_t* __restrict actions, float* __restrict obs, float* __restrict reward,
              size_t n, size_t w) {
  const size_t width = kW ? kW : w;
  for (size_t i = 0; i < n; ++i) {
    const float a = static_cast<float>(actions[i]);
    for (size_t j = 0; j < width; ++j) obs[i * width + j] = a + 0.5f * static_cast<float>(j);
    reward[i] = 2.0f * a;
  }
}

void Echo(const int32_t* actions, float* obs, float* reward, size_t n, size_t w) {
  switch (w) {
    case 1: return EchoRows<1>(actions, obs, reward, n, w);
    case 2: return EchoRows<2>(actions, obs, reward, n, w);
    case 3: return EchoRows<3>(actions, obs, reward, n, w);
    case 4: return EchoRows<4>(actions, obs, reward, n, w);
    case 8: return EchoRows<8>(actions, obs, reward, n, w);
    default: return EchoRows<0>(actions, obs, reward, n, w);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  shm::PeerSegment::Options opt;
  if (flags.fake_version) {
    // Pretend to be built from another layout: another version and, with it, another hash.
    opt.version = static_cast<uint32_t>(*flags.fake_version);
    opt.layout_hash = shm::kLayoutHash ^ shm::Fnv1a64("fake-version=" + std::to_string(*flags.fake_version));
  }
  opt.check_layout = !flags.skip_check;

  std::optional<shm::PeerSegment> seg;
  try {
    seg.emplace(flags.segment, opt);
  } catch (const shm::SegmentError& e) {
    std::fprintf(stderr, "fedmarl-echo-peer: %s\n", e.what());
    return 3;
  }
  shm::Header* h = seg->header();

  std::span<int32_t> actions;
  std::span<float> obs, reward;
  std::span<double> metrics;
  size_t n = 0, w = 0;
  try {
    actions = shm::ArraySpan<int32_t>(h, "actions");
    n = actions.size();
    reward = {shm::Array<float>(h, "reward", n), n};
    obs = shm::ArraySpan<float>(h, "obs");
    if (obs.size() % n != 0) {
      throw shm::LayoutError("array 'obs' has " + std::to_string(obs.size()) +
                             " elements, not a multiple of N = " + std::to_string(n));
    }
    w = obs.size() / n;
    if (shm::FindArray(h, "metrics") != nullptr) {
      metrics = shm::ArraySpan<double>(h, "metrics");
      if (metrics.size() < 2) throw shm::LayoutError("array 'metrics' needs at least 2 elements");
    }
  } catch (const shm::LayoutError& e) {
    std::fprintf(stderr, "fedmarl-echo-peer: %s\n", e.what());
    seg->ReportError(shm::ErrorCode::kArrays, e.what());
    return 4;
  }

  std::fprintf(stderr, "fedmarl-echo-peer: attached to %s (pid %d): N=%zu W=%zu\n",
               flags.segment.c_str(), static_cast<int>(getpid()), n, w);
  seg->Hello();

  const int64_t spin_ns = flags.spin_us * 1000;
  shm::PeerSegment::Request req;
  while (seg->WaitRequest(req, spin_ns)) {
    switch (req.command) {
      case shm::Command::kStep: {
        const uint64_t step = h->step_counter.load(std::memory_order_relaxed) + 1;
        if (flags.crash_at && step == *flags.crash_at) {
          std::fprintf(stderr, "fedmarl-echo-peer: crashing at step %llu as asked (--crash-at-step)\n",
                       static_cast<unsigned long long>(step));
          raise(SIGKILL);
        }
        if (flags.hang_at && step == *flags.hang_at) {
          std::fprintf(stderr, "fedmarl-echo-peer: hanging at step %llu as asked (--hang-at-step)\n",
                       static_cast<unsigned long long>(step));
          for (;;) pause();
        }
        Echo(actions.data(), obs.data(), reward.data(), n, w);
        h->step_counter.store(step, std::memory_order_relaxed);  // published by Respond()
        seg->Respond();
        break;
      }
      case shm::Command::kReset:
        std::fill(obs.begin(), obs.end(), 0.0f);
        if (!metrics.empty()) {
          metrics[0] = static_cast<double>(req.arg);
          metrics[1] += 1.0;
        }
        seg->Respond();
        break;
      case shm::Command::kClose:
        std::fprintf(stderr, "fedmarl-echo-peer: closed after %llu steps\n",
                     static_cast<unsigned long long>(h->step_counter.load()));
        seg->Close();
        return 0;
      default: {
        const std::string msg = "unknown command " + std::to_string(static_cast<uint32_t>(req.command));
        std::fprintf(stderr, "fedmarl-echo-peer: %s\n", msg.c_str());
        seg->ReportError(shm::ErrorCode::kCommand, msg);
        return 5;
      }
    }
  }
  std::fprintf(stderr, "fedmarl-echo-peer: owner process %d has gone; exiting\n", h->owner_pid);
  return 6;
}
