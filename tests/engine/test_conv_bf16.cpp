// conv2d with ConvPrecision::Bf16 (bfloat16 GEMM operands, fp32 sums): on the im2col path
// (ConvAlgorithm::Gemm) the GEMM operands are the input, the weights and dout themselves, so with
// bf16-representable inputs the bf16 conv must equal the fp32 one up to fp32 summation order, and
// with arbitrary inputs it must equal the fp32 conv of the rounded inputs. On Winograd (Auto) the
// rounding happens in the transformed domain: its error is bounded against fp32 from both sides
// (below, so the test fails if bf16 is silently ignored; above, so it stays a usable training mode).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "engine/cpu/gemm_bf16.h"
#include "engine/cpu/isa.h"
#include "engine/nn_ops.h"
#include "engine/random.h"
#include "engine/tensor.h"
#include "support/fixtures.h"

using namespace tg;

namespace {

double rel_l2(const Tensor& a, const Tensor& b) {
  double diff = 0.0, norm = 0.0;
  const std::vector<float> av = a.to_vector(), bv = b.to_vector();
  REQUIRE(av.size() == bv.size());
  for (size_t i = 0; i < av.size(); ++i) {
    const double d = static_cast<double>(av[i]) - bv[i];
    diff += d * d;
    norm += static_cast<double>(bv[i]) * bv[i];
  }
  return std::sqrt(diff / norm);
}

Tensor rounded(const Tensor& t) {
  std::vector<float> v = t.to_vector();
  for (float& x : v) x = cpu::round_to_bf16(x);
  return Tensor::from_vector(v, t.shape());
}

struct ConvCase {
  Shape x, w;
  int stride, padding, groups;
};

// y, dx, dw, db of conv2d(x, w, b) for dout, at the given algorithm and precision.
std::vector<Tensor> conv_and_grads(const Tensor& x0, const Tensor& w0, const Tensor& b0, const Tensor& dout,
                                   const ConvCase& c, ConvAlgorithm algo, ConvPrecision precision) {
  Tensor x = x0.clone().set_requires_grad(true), w = w0.clone().set_requires_grad(true);
  Tensor b = b0.clone().set_requires_grad(true);
  Tensor y = conv2d(x, w, b, c.stride, c.padding, c.groups, algo, precision);
  y.backward(dout);
  return {y.detach(), x.grad(), w.grad(), b.grad()};
}

const std::vector<ConvCase> kCases = {
    {{2, 16, 10, 9}, {24, 16, 3, 3}, 1, 1, 1},  // Winograd-eligible (Auto)
    {{2, 8, 9, 9}, {12, 8, 3, 3}, 2, 1, 1},     // strided: im2col
    {{3, 20, 5, 6}, {40, 20, 1, 1}, 1, 0, 1},   // pointwise: the input is the GEMM operand in place
    {{2, 12, 7, 7}, {18, 6, 3, 3}, 1, 1, 2},    // grouped
};

}  // namespace

TEST_CASE("conv2d bf16 on the im2col path: the fp32 conv of the bf16-rounded operands") {
  const std::string where = cpu_bf16_gemm();
  MESSAGE("bf16 GEMMs: " << where);
  Generator gen(91);
  for (const ConvCase& c : kCases) {
    CAPTURE(c.x);
    CAPTURE(c.w);
    const Tensor x = Tensor::randn(c.x, gen), w = Tensor::randn(c.w, gen), b = Tensor::randn({c.w[0]}, gen);
    Tensor probe;
    {
      NoGradGuard no_grad;
      probe = conv2d(x, w, b, c.stride, c.padding, c.groups);
    }
    const Tensor dout = Tensor::randn(probe.shape(), gen);
    // Rounded operands: bf16 changes nothing but the order of the fp32 sums.
    const auto bf16 = conv_and_grads(rounded(x), rounded(w), b, rounded(dout), c, ConvAlgorithm::Gemm, ConvPrecision::Bf16);
    const auto fp32 = conv_and_grads(rounded(x), rounded(w), b, rounded(dout), c, ConvAlgorithm::Gemm, ConvPrecision::Fp32);
    for (size_t i = 0; i < bf16.size(); ++i) {
      CAPTURE(i);
      CHECK(rel_l2(bf16[i], fp32[i]) < 1e-6);
    }
    // Unrounded operands: the forward is the fp32 conv of rounded x and w; it differs from plain fp32 by
    // bf16's precision (2^-9 relative per operand).
    const auto raw = conv_and_grads(x, w, b, dout, c, ConvAlgorithm::Gemm, ConvPrecision::Bf16);
    const auto exact = conv_and_grads(x, w, b, dout, c, ConvAlgorithm::Gemm, ConvPrecision::Fp32);
    CHECK(rel_l2(raw[0], conv_and_grads(rounded(x), rounded(w), b, dout, c, ConvAlgorithm::Gemm,
                                        ConvPrecision::Fp32)[0]) < 1e-6);
    for (size_t i = 0; i < 3; ++i) {  // y, dx, dw (db is a plain fp32 sum of dout in both)
      CAPTURE(i);
      const double err = rel_l2(raw[i], exact[i]);
      MESSAGE("im2col bf16 vs fp32, output " << i << ": relative L2 " << err);
      CHECK(err > 2e-4);
      CHECK(err < 6e-3);
    }
    CHECK(raw[3].to_vector() == exact[3].to_vector());
  }
}

TEST_CASE("conv2d bf16 on Winograd: close to fp32, and really rounded") {
  Generator gen(92);
  // 16 -> 24 channels: the backward by units of images; 128 -> 128: by chunks of the whole team
  // (winograd.cpp kTeamMinKC). Both take the weights packed once per call.
  for (const ConvCase& c : {kCases[0], ConvCase{{2, 128, 8, 8}, {128, 128, 3, 3}, 1, 1, 1}}) {
    CAPTURE(c.w);
    const Tensor x = Tensor::randn(c.x, gen), w = Tensor::randn(c.w, gen), b = Tensor::randn({c.w[0]}, gen);
    const Tensor dout = Tensor::randn({c.x[0], c.w[0], c.x[2], c.x[3]}, gen);
    const auto bf16 = conv_and_grads(x, w, b, dout, c, ConvAlgorithm::Auto, ConvPrecision::Bf16);
    const auto fp32 = conv_and_grads(x, w, b, dout, c, ConvAlgorithm::Auto, ConvPrecision::Fp32);
    for (size_t i = 0; i < 3; ++i) {
      CAPTURE(i);
      const double err = rel_l2(bf16[i], fp32[i]);
      MESSAGE("Winograd bf16 vs fp32, output " << i << ": relative L2 " << err);
      CHECK(err > 2e-3);
      CHECK(err < 4e-2);  // measured 0.022-0.028: ~10x the im2col path (0.0023-0.0024; the transforms scale by up to ~10)
    }
  }
}

TEST_CASE("bf16 matches PyTorch: its float32 -> bfloat16 rounding, and a conv of rounded operands (fixture bf16)") {
  const auto f = test::load_fixture("bf16");
  const std::vector<float> x = f.at("round.x").to_vector(), y = f.at("round.y").to_vector();
  REQUIRE(x.size() == y.size());
  for (size_t i = 0; i < x.size(); ++i) {
    CAPTURE(x[i]);
    const float r = cpu::round_to_bf16(x[i]);
    uint32_t ours, theirs;
    std::memcpy(&ours, &r, sizeof ours);
    std::memcpy(&theirs, &y[i], sizeof theirs);
    CHECK(ours == theirs);  // bit for bit: signed zeros and infinities too
  }
  // A strided conv (the im2col path under either algorithm) in bf16: the float64 conv of the
  // rounded x and w, and its gradients for the rounded dout, up to fp32 summation.
  for (ConvAlgorithm algo : {ConvAlgorithm::Auto, ConvAlgorithm::Gemm}) {
    Tensor cx = f.at("conv.x").clone().set_requires_grad(true), cw = f.at("conv.w").clone().set_requires_grad(true);
    Tensor out = conv2d(cx, cw, Tensor(), 2, 1, 1, algo, ConvPrecision::Bf16);
    test::expect_close(out, f.at("conv.out"), 1e-5, 1e-5, "bf16 conv out");
    out.backward(f.at("conv.dout"));
    test::expect_close(cx.grad(), f.at("conv.dx"), 1e-5, 1e-5, "bf16 conv dx");
    test::expect_close(cw.grad(), f.at("conv.dw"), 1e-5, 1e-5, "bf16 conv dw");
  }
}
