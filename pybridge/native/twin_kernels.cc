// pybridge._twin_kernels: the two passes of a twin's neighbour refresh that touch every one of
// the N^2 access-point-to-device links (the model and its error bounds live with the scenario
// that calls them, pybridge/scenarios/<scenario>/large_scale.py; these compute its formulas). In numpy each pass is five to eight
// array sweeps, memory-bound at N = 5000 (100 MB per array); fused here they read and write
// each link once, on row blocks over a few threads, with the GIL released.
//
// Arrays are AP-major [B, N, D] float32 (AP i's row holds its link to every device d), per-AP
// vectors [B, N], per-device vectors [B, D]; all C-contiguous (the Python side allocates them).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
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

}  // namespace

PYBIND11_MODULE(_twin_kernels, m) {
  m.doc() = "Fused N^2 link passes of the twins' neighbour refresh (scenario large_scale.py).";
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
}
