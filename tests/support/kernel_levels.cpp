// check_kernels_agree (kernel_levels.h).
#include "support/kernel_levels.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/cpu/reference/conv2d.h"
#include "engine/cpu/reference/pool.h"
#include "engine/random.h"

namespace tg::test {
namespace {

std::vector<float> random_floats(size_t n, uint64_t seed) {
  Generator gen(seed);
  std::vector<float> v(n);
  for (float& x : v) x = gen.uniform(-1.f, 1.f);
  return v;
}

// max |a - b| / (1 + max |b|): the kernels round differently (FMA contraction, summation order).
double scaled_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0.0, scale = 1.0;
  for (float v : b) scale = std::max(scale, 1.0 + std::fabs(v));
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    worst = std::max(worst, std::isnan(d) ? 1e30 : d);
  }
  return worst / scale;
}

void check_sgemm(const cpu::KernelTable& t, const cpu::KernelTable& r) {
  struct Case {
    bool ta, tb;
    int64_t M, N, K;
    float alpha, beta;
  };
  const Case cases[] = {{false, false, 37, 45, 70, 1.f, 0.f},   {true, false, 14, 33, 300, 0.5f, 1.f},
                        {false, true, 13, 64, 17, 1.f, -0.5f},  {true, true, 29, 7, 9, 2.f, 0.f},
                        {false, false, 96, 130, 260, 1.f, 1.f}, {false, false, 1, 1, 1, 1.f, 0.f}};
  for (const Case& c : cases) {
    CAPTURE(c.M);
    CAPTURE(c.N);
    CAPTURE(c.K);
    CAPTURE(c.ta);
    CAPTURE(c.tb);
    const auto A = random_floats(static_cast<size_t>(c.M * c.K), 1), B = random_floats(static_cast<size_t>(c.K * c.N), 2);
    auto C = random_floats(static_cast<size_t>(c.M * c.N), 3), C_ref = C;
    const int64_t lda = c.ta ? c.M : c.K, ldb = c.tb ? c.K : c.N;
    auto C_packed = C;
    t.sgemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C.data(), c.N);
    r.sgemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C_ref.data(), c.N);
    CHECK(scaled_diff(C, C_ref) < 1e-5);
    // The level's pre-packed A (its own layout) gives its sgemm's bits.
    std::vector<float> packed(static_cast<size_t>(t.sgemm_packed_a_floats(c.M, c.K)));
    t.sgemm_pack_a(packed.data(), c.ta, c.M, c.K, A.data(), lda);
    t.sgemm_packed(packed.data(), c.M, c.K, c.tb, c.N, c.alpha, B.data(), ldb, c.beta, C_packed.data(), c.N);
    CHECK(std::memcmp(C_packed.data(), C.data(), C.size() * sizeof(float)) == 0);
  }
}

// Runs `conv` forward and backward with both tables on shape s (which the tested table must route
// to the given algorithm: applies(s)); the Winograd forward with epilogue `epi` (out is the pooled
// map with ReluMaxPool2x2).
void check_conv(const cpu::KernelTable& t, const cpu::KernelTable& r, const ConvShape& s, bool winograd,
                ConvEpilogue epi = ConvEpilogue::None) {
  CAPTURE(s.C);
  CAPTURE(s.H);
  CAPTURE(s.W);
  CAPTURE(s.K);
  CAPTURE(s.pad_h);
  CAPTURE(winograd);
  CAPTURE(static_cast<int>(epi));
  const size_t n_in = static_cast<size_t>(s.N * s.C * s.H * s.W), n_w = static_cast<size_t>(s.K * s.C * 9);
  const size_t n_out = static_cast<size_t>(s.N * s.K * s.P() * s.Q());
  const size_t n_fwd = epi == ConvEpilogue::ReluMaxPool2x2 ? static_cast<size_t>(s.N * s.K * (s.P() / 2) * (s.Q() / 2))
                                                           : n_out;
  const auto in = random_floats(n_in, 4), w = random_floats(n_w, 5), b = random_floats(static_cast<size_t>(s.K), 6);
  const auto dout = random_floats(n_out, 7);
  // din starts as NaN: the kernels overwrite it (Winograd's scatter reads as 0 what it touches first,
  // never what was there), so a value left over or read before its first write shows.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> out(n_fwd), out_ref(n_fwd), din(n_in, nan), din_ref(n_in, nan), dw(n_w), dw_ref(n_w);
  if (winograd) {
    REQUIRE(t.winograd_applies(s));
    t.winograd_forward(out.data(), in.data(), w.data(), b.data(), s, epi);
    r.winograd_forward(out_ref.data(), in.data(), w.data(), b.data(), s, epi);
    t.winograd_backward(din.data(), dw.data(), dout.data(), in.data(), w.data(), s);
    r.winograd_backward(din_ref.data(), dw_ref.data(), dout.data(), in.data(), w.data(), s);
  } else {
    if (!t.direct_applies(s)) return;  // generic has no direct loops
    t.direct_forward(out.data(), in.data(), w.data(), b.data(), s, true);
    t.direct_weight_grad(dw.data(), dout.data(), in.data(), s);
    t.direct_input_grad(din.data(), dout.data(), w.data(), s);
    if (r.direct_applies(s)) {
      r.direct_forward(out_ref.data(), in.data(), w.data(), b.data(), s, true);
      r.direct_weight_grad(dw_ref.data(), dout.data(), in.data(), s);
      r.direct_input_grad(din_ref.data(), dout.data(), w.data(), s);
    } else {  // the reference level routes these to im2col: compare with the plain loops instead
      cpu::reference::conv2d_forward(out_ref.data(), in.data(), w.data(), b.data(), s);
      for (float& v : out_ref) v = std::max(v, 0.f);
      cpu::reference::conv2d_backward(din_ref.data(), dw_ref.data(), nullptr, dout.data(), in.data(), w.data(), s);
    }
  }
  CHECK(scaled_diff(out, out_ref) < 1e-5);
  CHECK(scaled_diff(din, din_ref) < 1e-5);
  CHECK(scaled_diff(dw, dw_ref) < 1e-5);
}

void check_batchnorm(const cpu::KernelTable& t, const cpu::KernelTable& r) {
  const int64_t N = 3, C = 5, HW = 37;
  const size_t n = static_cast<size_t>(N * C * HW);
  const auto x = random_floats(n, 8), dout = random_floats(n, 9), gamma = random_floats(C, 10), beta = random_floats(C, 11);
  std::vector<float> out(n), out_ref(n), din(n), din_ref(n), affine(2 * C), affine_ref(2 * C);
  std::vector<float> mean(C), mean_ref(C), invstd(C), invstd_ref(C), dg(C), dg_ref(C), db(C), db_ref(C);
  t.batchnorm2d_relu_forward_train(out.data(), mean.data(), invstd.data(), affine.data(), x.data(), gamma.data(),
                                   beta.data(), N, C, HW, 1e-5f);
  r.batchnorm2d_relu_forward_train(out_ref.data(), mean_ref.data(), invstd_ref.data(), affine_ref.data(), x.data(),
                                   gamma.data(), beta.data(), N, C, HW, 1e-5f);
  CHECK(scaled_diff(out, out_ref) < 1e-5);
  CHECK(scaled_diff(invstd, invstd_ref) < 1e-5);
  t.batchnorm2d_relu_backward(din.data(), dg.data(), db.data(), dout.data(), affine_ref.data(), x.data(), gamma.data(),
                              mean_ref.data(), invstd_ref.data(), N, C, HW);
  r.batchnorm2d_relu_backward(din_ref.data(), dg_ref.data(), db_ref.data(), dout.data(), affine_ref.data(), x.data(),
                              gamma.data(), mean_ref.data(), invstd_ref.data(), N, C, HW);
  CHECK(scaled_diff(din, din_ref) < 1e-5);
  CHECK(scaled_diff(dg, dg_ref) < 1e-5);
  CHECK(scaled_diff(db, db_ref) < 1e-5);
}

// Batch norm + ReLU + 2x2 max pool on an odd map (the last row and column normalised, not pooled):
// pooled values and argmax against the reference level, then the backward from the same indices.
void check_batchnorm_pool(const cpu::KernelTable& t, const cpu::KernelTable& r) {
  const int64_t N = 3, C = 4, H = 7, W = 9, P = H / 2, Q = W / 2;
  const size_t n = static_cast<size_t>(N * C * H * W), n_out = static_cast<size_t>(N * C * P * Q);
  const auto x = random_floats(n, 14), dout = random_floats(n_out, 15), gamma = random_floats(C, 16);
  auto beta = random_floats(C, 17);
  beta[0] = -3.f;  // channel 0's windows all zeroed by the ReLU (argmax: the first element)
  std::vector<float> out(n_out), out_ref(n_out), din(n), din_ref(n), affine(2 * C), affine_ref(2 * C);
  std::vector<float> mean(C), mean_ref(C), invstd(C), invstd_ref(C), dg(C), dg_ref(C), db(C), db_ref(C);
  std::vector<int32_t> idx(n_out), idx_ref(n_out);
  t.batchnorm2d_relu_maxpool2x2_forward_train(out.data(), idx.data(), mean.data(), invstd.data(), affine.data(),
                                              x.data(), gamma.data(), beta.data(), N, C, H, W, 1e-5f);
  r.batchnorm2d_relu_maxpool2x2_forward_train(out_ref.data(), idx_ref.data(), mean_ref.data(), invstd_ref.data(),
                                              affine_ref.data(), x.data(), gamma.data(), beta.data(), N, C, H, W,
                                              1e-5f);
  CHECK(scaled_diff(out, out_ref) < 1e-5);
  CHECK(scaled_diff(invstd, invstd_ref) < 1e-5);
  size_t same_index = 0, zeros = 0;  // indices may differ only inside ties, which this data avoids
  for (size_t i = 0; i < n_out; ++i) {
    same_index += idx[i] == idx_ref[i];
    zeros += out_ref[i] == 0.f;
  }
  CHECK(same_index == n_out);
  CHECK(zeros > 0);  // the ReLU zeroed whole windows (their first element is the argmax)
  t.batchnorm2d_relu_maxpool2x2_backward(din.data(), dg.data(), db.data(), dout.data(), idx_ref.data(),
                                         affine_ref.data(), x.data(), gamma.data(), mean_ref.data(),
                                         invstd_ref.data(), N, C, H, W);
  r.batchnorm2d_relu_maxpool2x2_backward(din_ref.data(), dg_ref.data(), db_ref.data(), dout.data(), idx_ref.data(),
                                         affine_ref.data(), x.data(), gamma.data(), mean_ref.data(),
                                         invstd_ref.data(), N, C, H, W);
  CHECK(scaled_diff(din, din_ref) < 1e-5);
  CHECK(scaled_diff(dg, dg_ref) < 1e-5);
  CHECK(scaled_diff(db, db_ref) < 1e-5);
}

// The 2x2 max pool: the same values and argmax bits at every level, ties (first maximum wins) and
// NaNs (take over) included, odd H and W (the last row / column dropped), rows of fewer than 16
// outputs (28 -> 14, 7 -> 3: masked at AVX-512), more than 16 (37 -> 18, 66 -> 33), and values only.
void check_max_pool2x2_shape(const cpu::KernelTable& t, const cpu::KernelTable& r, const PoolShape& s) {
  CAPTURE(s.H);
  CAPTURE(s.W);
  auto in = random_floats(static_cast<size_t>(s.N * s.C * s.H * s.W), 12);
  for (size_t i = 0; i + 1 < in.size(); i += 7) in[i] = in[i + 1];  // ties inside windows
  for (size_t i = 5; i < in.size(); i += 53) in[i] = std::nanf("");
  const size_t n_out = static_cast<size_t>(s.N * s.C * s.P() * s.Q());
  std::vector<float> out(n_out), out_ref(n_out), values_only(n_out);
  std::vector<int32_t> idx(n_out), idx_ref(n_out);
  t.max_pool2x2_forward(out.data(), idx.data(), in.data(), s);
  t.max_pool2x2_forward(values_only.data(), nullptr, in.data(), s);
  r.max_pool2x2_forward(out_ref.data(), idx_ref.data(), in.data(), s);
  CHECK(idx == idx_ref);
  // The backward from those indices: both levels' 2x2 kernels and the general reference scatter
  // (memset, then din[idx] += dout) give the same bits, -0 and NaN gradients included.
  auto dout = random_floats(n_out, 13);
  for (size_t i = 3; i < n_out; i += 11) dout[i] = -0.f;
  for (size_t i = 7; i < n_out; i += 29) dout[i] = std::nanf("");
  const size_t n_in = in.size();
  std::vector<float> din(n_in, 5.f), din_ref(n_in, 5.f), din_scatter(n_in, 5.f);  // 5: overwritten everywhere
  t.max_pool2x2_backward(din.data(), dout.data(), idx_ref.data(), s);
  r.max_pool2x2_backward(din_ref.data(), dout.data(), idx_ref.data(), s);
  cpu::reference::max_pool2d_backward(din_scatter.data(), dout.data(), idx_ref.data(), s);
  CHECK(std::memcmp(din.data(), din_ref.data(), n_in * sizeof(float)) == 0);
  CHECK(std::memcmp(din.data(), din_scatter.data(), n_in * sizeof(float)) == 0);
  bool same = true;
  for (size_t i = 0; i < n_out; ++i) {
    same &= std::isnan(out[i]) ? std::isnan(out_ref[i]) : out[i] == out_ref[i];
    same &= std::isnan(values_only[i]) ? std::isnan(out_ref[i]) : values_only[i] == out_ref[i];
  }
  CHECK(same);
}

void check_max_pool2x2(const cpu::KernelTable& t, const cpu::KernelTable& r) {
  check_max_pool2x2_shape(t, r, PoolShape{2, 3, 9, 37, 2, 2, 2, 2, 0, 0});
  check_max_pool2x2_shape(t, r, PoolShape{2, 3, 28, 28, 2, 2, 2, 2, 0, 0});
  check_max_pool2x2_shape(t, r, PoolShape{1, 5, 7, 7, 2, 2, 2, 2, 0, 0});
  check_max_pool2x2_shape(t, r, PoolShape{1, 2, 4, 66, 2, 2, 2, 2, 0, 0});
  check_max_pool2x2_shape(t, r, PoolShape{1, 2, 3, 2, 2, 2, 2, 2, 0, 0});
}

}  // namespace

void check_kernels_agree(const cpu::KernelTable& tested, const cpu::KernelTable& reference) {
  check_sgemm(tested, reference);
  // Winograd: padding 1 and 0, a ragged 4x4 tile grid, images split across chunks.
  check_conv(tested, reference, {2, 16, 10, 13, 24, 3, 3, 1, 1, 1, 1, 1}, true);
  check_conv(tested, reference, {3, 32, 8, 8, 16, 3, 3, 1, 1, 0, 0, 1}, true);
  // Edge tiles and channel counts that are no multiple of 16: a ragged right and bottom edge (Q = 7
  // and 11: masked stores of 3 columns), planes under 8 floats (2 x 2, pad 2: masked loads), pad 0
  // with more than one group of lanes per image; the fused ReLU and ReLU + 2x2 max pool epilogues on
  // a ragged grid (odd pooled width).
  check_conv(tested, reference, {3, 17, 11, 7, 21, 3, 3, 1, 1, 1, 1, 1}, true);
  check_conv(tested, reference, {2, 19, 2, 2, 17, 3, 3, 1, 1, 2, 2, 1}, true);
  check_conv(tested, reference, {1, 16, 9, 14, 33, 3, 3, 1, 1, 0, 0, 1}, true);
  check_conv(tested, reference, {2, 18, 10, 11, 16, 3, 3, 1, 1, 1, 1, 1}, true, ConvEpilogue::Relu);
  check_conv(tested, reference, {2, 18, 10, 14, 16, 3, 3, 1, 1, 1, 1, 1}, true, ConvEpilogue::ReluMaxPool2x2);
  // Direct stems: 1 and 3 channels, widths with a ragged last vector.
  check_conv(tested, reference, {2, 1, 12, 28, 8, 3, 3, 1, 1, 1, 1, 1}, false);
  check_conv(tested, reference, {2, 3, 9, 37, 13, 3, 3, 1, 1, 1, 1, 1}, false);
  // ... 2 and 4 channels, maps narrower than one vector (pad 0: Q = 3) and one past a 16-float vector.
  check_conv(tested, reference, {3, 2, 7, 5, 7, 3, 3, 1, 1, 0, 0, 1}, false);
  check_conv(tested, reference, {2, 4, 6, 17, 9, 3, 3, 1, 1, 1, 1, 1}, false);
  check_batchnorm(tested, reference);
  check_batchnorm_pool(tested, reference);
  check_max_pool2x2(tested, reference);
}

}  // namespace tg::test
