// CPU/CUDA parity of conv2d forward/backward (cuda/conv2d.h vs engine/cpu/conv2d.h) over padding,
// strides, rectangular kernels, groups and the 1x1 shortcut; plus the im2col/col2im adjoint identity.
#include <doctest/doctest.h>

#ifdef TRUSTGRAD_WITH_CUDA
#include <cmath>
#include <string>
#include <vector>

#include "cuda/conv2d.h"
#include "cuda/elementwise.h"
#include "engine/cpu/conv2d.h"
#include "tests/cuda/cuda_test_util.h"

using namespace tg;
using namespace tg::cuda::test;

namespace {

std::string conv_name(const ConvShape& s) {
  return "conv N" + std::to_string(s.N) + " C" + std::to_string(s.C) + " " + std::to_string(s.H) + "x" +
         std::to_string(s.W) + " K" + std::to_string(s.K) + " " + std::to_string(s.R) + "x" + std::to_string(s.S) +
         " s" + std::to_string(s.stride_h) + std::to_string(s.stride_w) + " p" + std::to_string(s.pad_h) +
         std::to_string(s.pad_w) + " g" + std::to_string(s.groups);
}

const std::vector<ConvShape> kShapes = {
    // N, C, H, W, K, R, S, sh, sw, ph, pw, groups
    {2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1},     // 3x3 same padding
    {3, 4, 9, 9, 6, 2, 2, 2, 2, 0, 0, 1},     // 2x2 stride 2
    {2, 4, 8, 7, 6, 3, 3, 2, 1, 1, 0, 2},     // groups, uneven stride/padding
    {2, 8, 5, 5, 8, 3, 2, 1, 1, 1, 1, 8},     // depthwise, rectangular kernel
    {4, 16, 6, 6, 12, 1, 1, 1, 1, 0, 0, 1},   // pointwise: no im2col
    {2, 32, 16, 16, 64, 3, 3, 1, 1, 1, 1, 1}, // a CIFAR-sized block
};

}  // namespace

TEST_CASE("cuda conv2d forward and backward match the CPU") {
  TG_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 100;
  for (const auto& s : kShapes) {
    const int64_t in_n = s.N * s.C * s.H * s.W, w_n = s.K * (s.C / s.groups) * s.R * s.S;
    const int64_t out_n = s.N * s.K * s.P() * s.Q();
    const auto x = random_floats(in_n, seed++), w = random_floats(w_n, seed++), b = random_floats(s.K, seed++);
    const auto dout = random_floats(out_n, seed++);
    std::vector<float> out(out_n), din(in_n), dw(w_n), db(s.K);
    cpu::conv2d_forward(out.data(), x.data(), w.data(), b.data(), s);
    cpu::conv2d_backward(din.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), s);

    DeviceFloats dx(x), dwt(w), dbias(b), ddout(dout), gout(out_n), gdin(in_n), gdw(w_n), gdb(s.K);
    cuda::conv2d_forward(gout.get(), dx.get(), dwt.get(), dbias.get(), s);
    cuda::conv2d_backward(gdin.get(), gdw.get(), gdb.get(), ddout.get(), dx.get(), dwt.get(), s);
    const std::string name = conv_name(s);
    check_close(gout.host(), out, 1e-4, 1e-5, name + " forward");
    check_close(gdin.host(), din, 1e-4, 1e-5, name + " din");
    check_close(gdw.host(), dw, 1e-4, 1e-5, name + " dw");
    check_close(gdb.host(), db, 1e-5, 1e-5, name + " db");

    // No bias, and gradients requested one at a time.
    cpu::conv2d_forward(out.data(), x.data(), w.data(), nullptr, s);
    cuda::conv2d_forward(gout.get(), dx.get(), dwt.get(), nullptr, s);
    check_close(gout.host(), out, 1e-4, 1e-5, name + " forward (no bias)");
    cuda::fill(gdw.get(), NAN, w_n);  // must be overwritten, not accumulated into
    cuda::conv2d_backward(nullptr, gdw.get(), nullptr, ddout.get(), dx.get(), dwt.get(), s);
    check_close(gdw.host(), dw, 1e-4, 1e-5, name + " dw only");
  }
}

TEST_CASE("cuda im2col and col2im are adjoint: <col2im(y), x> == <y, im2col(x)>") {
  TG_REQUIRE_CUDA_DEVICE();
  const ConvShape s{2, 3, 7, 8, 1, 3, 2, 2, 1, 1, 1, 1};
  const int64_t in_n = s.N * s.C * s.H * s.W, col_n = s.N * s.C * s.R * s.S * s.P() * s.Q();
  const auto x = random_floats(in_n, 120), y = random_floats(col_n, 121);
  DeviceFloats dx(x), dy(y), dcol(col_n), dimg(in_n);
  cuda::im2col(dcol.get(), dx.get(), s.N, s);
  cuda::col2im(dimg.get(), dy.get(), s.N, s);
  const auto col = dcol.host(), img = dimg.host();
  double lhs = 0.0, rhs = 0.0;
  for (int64_t i = 0; i < in_n; ++i) lhs += static_cast<double>(img[i]) * x[i];
  for (int64_t i = 0; i < col_n; ++i) rhs += static_cast<double>(y[i]) * col[i];
  CHECK(lhs == doctest::Approx(rhs).epsilon(1e-5));
}

#endif  // TRUSTGRAD_WITH_CUDA
