// pybridge._twin_kernels: the two passes of a twin's neighbour refresh that touch every one of
// the N^2 access-point-to-device links (the model and its error bounds live with the scenario
// that calls them, pybridge/scenarios/<scenario>/large_scale.py; these compute its formulas). In numpy each pass is five to eight
// array sweeps, memory-bound at N = 5000 (100 MB per array); fused here they read and write
// each link once, on row blocks over a few threads, with the GIL released.
//
// Also the fading noise of the neighbour model: circular complex Gaussian draws from a
// counter-based generator (complex_normal, ar1_advance).
//
// Arrays are AP-major [B, N, D] float32 (AP i's row holds its link to every device d), per-AP
// vectors [B, N], per-device vectors [B, D]; all C-contiguous (the Python side allocates them).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace py = pybind11;

namespace {

using F32Array = py::array_t<float, py::array::c_style>;
using F64Array = py::array_t<double, py::array::c_style>;
using Arrays = std::initializer_list<const py::array*>;

void require(bool ok, const std::string& what) {
  if (!ok) throw py::value_error(what);
}

void check_shape(const py::array& a, std::initializer_list<py::ssize_t> shape,
                 const char* name) {
  require(a.ndim() == static_cast<py::ssize_t>(shape.size()),
          std::string(name) + ": wrong number of dimensions");
  py::ssize_t k = 0;
  for (py::ssize_t s : shape) {
    require(a.shape(k) == s, std::string(name) + ": wrong shape");
    ++k;
  }
}

// fn(first_row, last_row) over rows [0, rows) split into `threads` blocks.
void parallel_rows(int64_t rows, int threads, const std::function<void(int64_t, int64_t)>& fn) {
  threads = static_cast<int>(std::clamp<int64_t>(threads, 1, std::max<int64_t>(rows, 1)));
  if (threads == 1) {
    fn(0, rows);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  const int64_t step = (rows + threads - 1) / threads;
  for (int t = 1; t < threads; ++t) {
    const int64_t lo = std::min(rows, t * step), hi = std::min(rows, (t + 1) * step);
    pool.emplace_back(fn, lo, hi);
  }
  fn(0, std::min(rows, step));
  for (auto& th : pool) th.join();
}

// Far-link distance terms: for every link, d = |ap - dev| (2-D, float32 as the numpy refresh),
// index = floor(d / step + 1/2) clamped to the tables, and the three table entries.
void far_terms(const F64Array& ap, const F64Array& dev, const F32Array& g_los,
               const F32Array& g_nlos, const F32Array& thr_table, double step, F32Array& far_los,
               F32Array& far_nlos, F32Array& far_thr, int threads) {
  const py::ssize_t B = ap.shape(0), N = ap.shape(1), D = dev.shape(1);
  check_shape(ap, {B, N, 2}, "ap");
  check_shape(dev, {B, D, 2}, "dev");
  const py::ssize_t T = g_los.shape(0);
  require(T > 0 && g_nlos.shape(0) == T && thr_table.shape(0) == T, "tables differ in size");
  for (const py::array* a : Arrays{&far_los, &far_nlos, &far_thr}) {
    check_shape(*a, {B, N, D}, "far terms");
  }
  require(step > 0, "step must be > 0");
  const double* pa = ap.data();
  const double* pd = dev.data();
  const float *tl = g_los.data(), *tn = g_nlos.data(), *tt = thr_table.data();
  float *ol = far_los.mutable_data(), *on = far_nlos.mutable_data(),
        *ot = far_thr.mutable_data();
  const float inv = static_cast<float>(1.0 / step);
  const int64_t last = T - 1;
  py::gil_scoped_release release;
  parallel_rows(B * N, threads, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t b = r / N;
      const float ax = static_cast<float>(pa[2 * r]), ay = static_cast<float>(pa[2 * r + 1]);
      const double* dv = pd + 2 * b * D;
      const int64_t o = r * D;
      for (int64_t d = 0; d < D; ++d) {
        const float dx = ax - static_cast<float>(dv[2 * d]);
        const float dy = ay - static_cast<float>(dv[2 * d + 1]);
        const int64_t i =
            std::min<int64_t>(static_cast<int64_t>(std::sqrt(dx * dx + dy * dy) * inv + 0.5f),
                              last);
        ol[o + d] = tl[i];
        on[o + d] = tn[i];
        ot[o + d] = tt[i];
      }
    }
  });
}

// Far-link powers: rx = G_NLOS f_nlos(ap) f_nlos(dev), or G_LOS f_los(ap) f_los(dev) where
// s_los(ap) + s_los(dev) < thr.
void far_pass(const F32Array& far_los, const F32Array& far_nlos, const F32Array& far_thr,
                 const F32Array& f_nlos_ap, const F32Array& f_nlos_dev,
                 const F32Array& f_los_ap, const F32Array& f_los_dev, const F32Array& s_ap,
                 const F32Array& s_dev, F32Array& rx, int threads) {
  const py::ssize_t B = far_los.shape(0), N = far_los.shape(1), D = far_los.shape(2);
  for (const py::array* a : Arrays{&far_nlos, &far_thr, &rx}) {
    check_shape(*a, {B, N, D}, "link arrays");
  }
  for (const py::array* a : Arrays{&f_nlos_ap, &f_los_ap, &s_ap}) {
    check_shape(*a, {B, N}, "AP vectors");
  }
  for (const py::array* a : Arrays{&f_nlos_dev, &f_los_dev, &s_dev}) {
    check_shape(*a, {B, D}, "device vectors");
  }
  const float *gl = far_los.data(), *gn = far_nlos.data(), *th = far_thr.data();
  const float *fna = f_nlos_ap.data(), *fnd = f_nlos_dev.data(), *fla = f_los_ap.data(),
              *fld = f_los_dev.data(), *sa = s_ap.data(), *sd = s_dev.data();
  float* out = rx.mutable_data();
  py::gil_scoped_release release;
  parallel_rows(B * N, threads, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t b = r / N, o = r * D;
      const float a_n = fna[r], a_l = fla[r], a_s = sa[r];
      const float *dn = fnd + b * D, *dl = fld + b * D, *ds = sd + b * D;
      for (int64_t d = 0; d < D; ++d) {
        out[o + d] = a_s + ds[d] < th[o + d] ? gl[o + d] * a_l * dl[d] : gn[o + d] * a_n * dn[d];
      }
    }
  });
}

// Per-channel interference of the faded links at every receiver: for receiver r (of R = B D)
// with faded links l = 1..L (h[:, r, 0] is its own link), interf[r, channel[ap[r, l]]] +=
// |h[:, r, l]|^2 mean[r, l - 1]; own[r] = |h[:, r, 0]|^2. Fuses a gather, a square, a product
// and numpy's bincount (five passes and a float64 buffer) into one pass.
void faded_channel_sums(const F32Array& h, const F32Array& mean,
                        const py::array_t<int64_t, py::array::c_style>& ap,
                        const py::array_t<int64_t, py::array::c_style>& channel, F32Array& interf,
                        F32Array& own) {
  require(h.ndim() == 3 && h.shape(0) == 2, "h: [2, R, L + 1]");
  const py::ssize_t R = h.shape(1), L = h.shape(2) - 1;
  require(L >= 1, "h: at least one faded interferer");
  check_shape(mean, {R, L}, "mean");
  check_shape(ap, {R, L}, "ap");
  require(interf.ndim() == 2 && interf.shape(0) == R, "interf: [R, K]");
  check_shape(own, {R}, "own");
  const py::ssize_t K = interf.shape(1), C = channel.size();
  const float *re = h.data(), *im = re + R * (L + 1), *mn = mean.data();
  const int64_t *pa = ap.data(), *ch = channel.data();
  float *out = interf.mutable_data(), *po = own.mutable_data();
  // Checked once up front, so the loop below cannot index out of bounds.
  for (py::ssize_t i = 0; i < R * L; ++i) require(pa[i] >= 0 && pa[i] < C, "ap index range");
  for (py::ssize_t i = 0; i < C; ++i) require(ch[i] >= 0 && ch[i] < K, "channel range");
  py::gil_scoped_release release;
  for (py::ssize_t r = 0; r < R; ++r) {
    const py::ssize_t o = r * (L + 1);
    float* row = out + r * K;
    std::fill(row, row + K, 0.0f);
    po[r] = re[o] * re[o] + im[o] * im[o];
    for (py::ssize_t l = 0; l < L; ++l) {
      const float a = re[o + 1 + l], b = im[o + 1 + l];
      row[ch[pa[r * L + l]]] += (a * a + b * b) * mn[r * L + l];
    }
  }
}

// ---------------------------------------------------------------------------- fading noise
// CN(0, 1) samples w = sqrt(-ln u1) (cos 2 pi u2, sin 2 pi u2): |w|^2 = -ln u1 is Exp(1) and the
// phase is uniform, so w is circular complex Gaussian (the polar form numpy's version of the
// twin uses). Sample i takes u1, u2 (24 bits each) from SplitMix64's output for counter i of
// `key` (Steele, Lea, Flood, OOPSLA 2014: the state key + (i + 1) 0x9e3779b97f4a7c15 through
// its finaliser), so any index range can be filled on its own: threads split the array and
// the result does not depend on how many there are.
//
// numpy spends ~3 ns per float32 uniform here (one call through the bit generator per value)
// and the transcendentals are per-element passes; fused, with log and sin/cos as polynomials
// that the compiler vectorises, a sample costs ~2-3 ns. Accuracy: -ln u to 2e-7 relative
// (atanh series, |s| <= 0.172, five terms), sin/cos on [-pi/4, pi/4] to 2e-9 (Taylor to x^9 /
// x^10), both below float32 rounding. No fused multiply-add contraction (the target's
// -ffp-contract=off): every instruction set below gives the same bits.
namespace fading {

constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;
constexpr int kChunk = 256;

inline uint64_t splitmix64(uint64_t key, uint64_t i) {
  uint64_t z = key + (i + 1) * kGolden;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// -ln(u) for u in (0, 1]: u = 2^e m, m folded into [sqrt 1/2, sqrt 2), ln m = 2 atanh(s),
// s = (m - 1) / (m + 1). Branch-free so that it vectorises.
inline float neg_log(float u) {
  uint32_t bits;
  std::memcpy(&bits, &u, sizeof bits);
  const float e = static_cast<float>(static_cast<int32_t>(bits >> 23) - 127);
  const uint32_t mbits = (bits & 0x7fffffu) | 0x3f800000u;  // m in [1, 2)
  float m;
  std::memcpy(&m, &mbits, sizeof m);
  const float fold = static_cast<float>(static_cast<int32_t>(mbits > 0x3fb504f3u));  // m > sqrt 2
  m *= 1.0f - 0.5f * fold;
  const float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
  const float atanh =
      s * (1.0f + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9)))));
  return -((e + fold) * 0.693147180559945f + 2.0f * atanh);
}

// Samples [lo, hi) of `key` into re/im: out = rho out + scale w, or scale w when !keep.
template <bool keep>
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
void fill(float* re, float* im, int64_t lo, int64_t hi, uint64_t key, float rho, float scale) {
  int32_t k1[kChunk], k2[kChunk];
  constexpr float kU = 1.0f / 16777216.0f;                       // 2^-24
  constexpr float kQuarter = 1.57079632679490f / 4194304.0f;     // (pi / 2) 2^-22
  for (int64_t base = lo; base < hi; base += kChunk) {
    const int n = static_cast<int>(std::min<int64_t>(kChunk, hi - base));
    for (int j = 0; j < n; ++j) {  // 64-bit multiplies: scalar, ~0.5 ns each
      const uint64_t z = splitmix64(key, static_cast<uint64_t>(base + j));
      k1[j] = static_cast<int32_t>(z >> 40);
      k2[j] = static_cast<int32_t>((z >> 16) & 0xffffffu);
    }
    for (int j = 0; j < n; ++j) {
      const float r = scale * std::sqrt(neg_log(static_cast<float>(k1[j] + 1) * kU));
      // Phase: quadrant q from the top two bits, x uniform in [-pi/4, pi/4) from the other 22;
      // q pi/2 + x is uniform over a full turn.
      const int32_t q = k2[j] >> 22;
      const float x = (static_cast<float>(k2[j] & 0x3fffff) + 0.5f) * kQuarter - 0.785398163397448f;
      const float x2 = x * x;
      const float sn =
          x * (1.0f + x2 * (-1.0f / 6 + x2 * (1.0f / 120 + x2 * (-1.0f / 5040 + x2 / 362880))));
      const float cs =
          1.0f + x2 * (-0.5f + x2 * (1.0f / 24 + x2 * (-1.0f / 720 + x2 * (1.0f / 40320 -
                                                                     x2 / 3628800))));
      const float odd = static_cast<float>(q & 1), sign = 1.0f - 2.0f * static_cast<float>(q >> 1);
      const float c = sign * (cs - odd * (sn + cs)), s = sign * (sn + odd * (cs - sn));
      const int64_t i = base + j;
      if constexpr (keep) {
        re[i] = rho * re[i] + r * c;
        im[i] = rho * im[i] + r * s;
      } else {
        re[i] = r * c;
        im[i] = r * s;
      }
    }
  }
}

// Below this many samples one thread is faster than starting others.
constexpr int64_t kThreadsMin = 1 << 18;

template <bool keep>
void run(F32Array& h, uint64_t key, float rho, float scale, int threads) {
  require(h.ndim() >= 1 && h.shape(0) == 2, "h: [2, ...] real and imaginary parts");
  const int64_t M = h.size() / 2;
  float* re = h.mutable_data();
  float* im = re + M;
  py::gil_scoped_release release;
  const int64_t blocks = (M + kChunk - 1) / kChunk;
  parallel_rows(blocks, M >= kThreadsMin ? threads : 1, [&](int64_t b0, int64_t b1) {
    fill<keep>(re, im, b0 * kChunk, std::min(M, b1 * kChunk), key, rho, scale);
  });
}

}  // namespace fading

void complex_normal(F32Array& out, uint64_t key, int threads) {
  fading::run<false>(out, key, 0.0f, 1.0f, threads);
}

void ar1_advance(F32Array& h, float rho, float scale, uint64_t key, int threads) {
  fading::run<true>(h, key, rho, scale, threads);
}

}  // namespace

PYBIND11_MODULE(_twin_kernels, m) {
  m.doc() = "Fused N^2 link passes of the twins' neighbour refresh (scenario large_scale.py) and "
          "their fading noise.";
  m.def("far_terms", &far_terms, py::arg("ap"), py::arg("dev"), py::arg("g_los"),
        py::arg("g_nlos"), py::arg("thr_table"), py::arg("step"), py::arg("far_los"),
        py::arg("far_nlos"), py::arg("far_thr"), py::arg("threads"),
        "Table lookups of every link's LOS/NLOS gain and LOS threshold at its 2-D distance.");
  m.def("far_pass", &far_pass, py::arg("far_los"), py::arg("far_nlos"), py::arg("far_thr"),
        py::arg("f_nlos_ap"), py::arg("f_nlos_dev"), py::arg("f_los_ap"), py::arg("f_los_dev"),
        py::arg("s_ap"), py::arg("s_dev"), py::arg("rx"), py::arg("threads"),
        "Separable far-link powers with the per-link LOS draw.");
  m.def("faded_channel_sums", &faded_channel_sums, py::arg("h"), py::arg("mean"), py::arg("ap"),
        py::arg("channel"), py::arg("interf"), py::arg("own"),
        "Per-channel interference of the faded links and the own link's fading power.");
  // noconvert: an output of another dtype or layout is refused, not silently copied.
  m.def("complex_normal", &complex_normal, py::arg("out").noconvert(), py::arg("key"), py::arg("threads"),
        "CN(0, 1) samples into out [2, ...] (real, imaginary), a function of key only.");
  m.def("ar1_advance", &ar1_advance, py::arg("h").noconvert(), py::arg("rho"), py::arg("scale"),
        py::arg("key"), py::arg("threads"),
        "h <- rho h + scale w, w CN(0, 1) as complex_normal draws them for key.");
}
