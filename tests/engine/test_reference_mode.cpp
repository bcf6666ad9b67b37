// The reference kernel mode (engine/cpu/kernel_mode.h, engine/cpu/reference/): every CPU op run through
// the public op functions once with the fast kernels and once with the reference loops, on small odd
// shapes that reach the fast paths (Winograd, the direct stem conv, im2col + GEMM, the 2x2 pool, the
// fused epilogues), comparing the outputs, the gradients of sum(out * probe) for a fixed random
// probe, and any input the op updates in place (batch norm's running statistics).
//
// Tolerance: max |fast - reference| / (1 + max |reference|) over a tensor. The reference kernels
// sum in double, the fast ones in float, so the two differ by the float rounding of sums of at most
// a few hundred terms: measured at most 2e-7 (many ops agree exactly), kTol = 1e-6. The Winograd
// convs round ~6x more in their transforms: measured up to 2.6e-6, kWinogradTol = 1e-5.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "engine/cpu/reference/conv2d.h"
#include "engine/error.h"
#include "engine/cpu/kernel_mode.h"
#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "support/kernel_mode_guard.h"

using namespace tg;
using tg::test::KernelModeGuard;

namespace {

constexpr double kTol = 1e-6;
constexpr double kWinogradTol = 1e-5;

using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;
using In = const std::vector<Tensor>&;  // an OpFn's inputs

// What one run of an op produced: its output, the gradient of sum(out * probe) for each input that
// requires grad, and every other input as the op left it (in-place updates).
struct OpRun {
  std::vector<float> out;
  std::vector<std::vector<float>> grads;
  std::vector<std::vector<float>> inputs_after;
};

// Runs fn on fresh copies of `inputs` (each copy requires grad when its input does) in `mode`.
OpRun run_in_mode(KernelMode mode, const OpFn& fn, const std::vector<Tensor>& inputs) {
  KernelModeGuard guard(mode);
  std::vector<Tensor> leaves;
  for (const Tensor& x : inputs) {
    Tensor t = x.detach().clone();
    t.set_requires_grad(x.requires_grad());
    leaves.push_back(t);
  }
  Tensor out = fn(leaves);
  OpRun run;
  run.out = out.to_vector();
  if (out.requires_grad()) {
    Generator probe_gen(99);
    sum(mul(out, Tensor::randn(out.shape(), probe_gen))).backward();
  }
  for (const Tensor& t : leaves) {
    if (t.requires_grad()) run.grads.push_back(t.grad().to_vector());
    else run.inputs_after.push_back(t.to_vector());
  }
  return run;
}

// max |a - b| / (1 + max |b|)
double scaled_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return diff / (1.0 + scale);
}

// The op's output, gradients and in-place updates agree between the two modes within tol.
void check_modes_agree(const std::string& name, const OpFn& fn, const std::vector<Tensor>& inputs,
                       double tol = kTol) {
  const OpRun fast = run_in_mode(KernelMode::Fast, fn, inputs);
  const OpRun ref = run_in_mode(KernelMode::Reference, fn, inputs);
  CHECK_MESSAGE(scaled_diff(fast.out, ref.out) <= tol, name << " forward: " << scaled_diff(fast.out, ref.out));
  REQUIRE(fast.grads.size() == ref.grads.size());
  for (size_t i = 0; i < fast.grads.size(); ++i)
    CHECK_MESSAGE(scaled_diff(fast.grads[i], ref.grads[i]) <= tol,
                  name << " gradient " << i << ": " << scaled_diff(fast.grads[i], ref.grads[i]));
  for (size_t i = 0; i < fast.inputs_after.size(); ++i)
    CHECK_MESSAGE(scaled_diff(fast.inputs_after[i], ref.inputs_after[i]) <= tol,
                  name << " in-place input " << i << ": " << scaled_diff(fast.inputs_after[i], ref.inputs_after[i]));
}

// Random N(0, 1) values of `shape`, requiring grad when `grad`.
Tensor randn_input(const Shape& shape, Generator& gen, bool grad = true) {
  return Tensor::randn(shape, gen).set_requires_grad(grad);
}
// Random values in [0.5, 1.5): inputs of log, sqrt, pow, div, running variances.
Tensor positive_input(const Shape& shape, Generator& gen, bool grad = true) {
  return add(Tensor::rand(shape, gen), 0.5f).set_requires_grad(grad);
}

}  // namespace

TEST_CASE("kernel mode: names, parsing and a clear error for a bad value") {
  CHECK(std::string(kernel_mode_name(KernelMode::Fast)) == "fast");
  CHECK(std::string(kernel_mode_name(KernelMode::Reference)) == "reference");
  CHECK(parse_kernel_mode("reference") == KernelMode::Reference);
  CHECK(parse_kernel_mode("fast") == KernelMode::Fast);
  try {
    parse_kernel_mode("bogus");
    FAIL("parse_kernel_mode accepted 'bogus'");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "TG_KERNELS='bogus' is not a kernel mode; use fast or reference");
  }
  CHECK_THROWS_WITH_AS(parse_kernel_mode("Fast", "--kernels"),
                       "--kernels='Fast' is not a kernel mode; use fast or reference", Error);
  const KernelMode before = kernel_mode();  // fast, unless the suite runs under TG_KERNELS=reference
  {
    KernelModeGuard guard(KernelMode::Reference);
    CHECK(kernel_mode() == KernelMode::Reference);
    CHECK(std::string(kernel_mode_name()) == "reference");
    set_kernel_mode(KernelMode::Fast);
    CHECK(std::string(kernel_mode_name()) == "fast");
  }
  CHECK(kernel_mode() == before);
}

TEST_CASE("reference mode: tg::conv2d runs the reference loops") {
  Generator gen(1);
  const ConvShape s{2, 16, 9, 7, 16, 3, 3, 1, 1, 1, 1, 1};  // a Winograd shape in fast mode
  Tensor x = Tensor::randn({2, 16, 9, 7}, gen), w = Tensor::randn({16, 16, 3, 3}, gen), b = Tensor::randn({16}, gen);
  std::vector<float> expected(static_cast<size_t>(s.N * s.K * s.P() * s.Q()));
  cpu::reference::conv2d_forward(expected.data(), x.data(), w.data(), b.data(), s);
  KernelModeGuard guard(KernelMode::Reference);
  const std::vector<float> got = conv2d(x, w, b, 1, 1).to_vector();
  REQUIRE(got.size() == expected.size());
  CHECK(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)) == 0);  // bit for bit
}

TEST_CASE("reference mode: convolutions agree with the fast kernels") {
  Generator gen(2);
  const auto conv = [](int stride, int padding, int groups) {
    return [=](In in) {
      return conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), stride, padding, groups);
    };
  };
  check_modes_agree("conv2d im2col stride 2", conv(2, 1, 1),
                    {randn_input({3, 5, 7, 9}, gen), randn_input({6, 5, 3, 3}, gen), randn_input({6}, gen)});
  check_modes_agree("conv2d groups 2", conv(1, 1, 2), {randn_input({2, 6, 7, 5}, gen), randn_input({4, 3, 3, 3}, gen)});
  check_modes_agree("conv2d 1x1", conv(1, 0, 1),
                    {randn_input({2, 8, 5, 5}, gen), randn_input({4, 8, 1, 1}, gen), randn_input({4}, gen)});
  check_modes_agree("conv2d winograd", conv(1, 1, 1),
                    {randn_input({2, 16, 9, 7}, gen), randn_input({16, 16, 3, 3}, gen), randn_input({16}, gen)},
                    kWinogradTol);
  check_modes_agree("conv2d stem (direct)", conv(1, 1, 1),
                    {randn_input({2, 3, 9, 11}, gen), randn_input({8, 3, 3, 3}, gen), randn_input({8}, gen)});
  const auto relu_conv = [](In in) { return conv2d_relu(in[0], in[1], in[2], 1, 1); };
  check_modes_agree("conv2d_relu winograd", relu_conv,
                    {randn_input({2, 16, 9, 7}, gen), randn_input({16, 16, 3, 3}, gen), randn_input({16}, gen)},
                    kWinogradTol);
  check_modes_agree("conv2d_relu im2col", relu_conv,
                    {randn_input({2, 5, 7, 9}, gen), randn_input({6, 5, 3, 3}, gen), randn_input({6}, gen)});
  // Inference only: no gradients.
  const auto pooled = [](In in) { return conv2d_relu_maxpool2x2(in[0], in[1], in[2], 1, 1); };
  check_modes_agree("conv2d_relu_maxpool2x2 winograd", pooled,
                    {randn_input({2, 16, 10, 9}, gen, false), randn_input({16, 16, 3, 3}, gen, false),
                     randn_input({16}, gen, false)},
                    kWinogradTol);
  check_modes_agree("conv2d_relu_maxpool2x2 im2col", pooled,
                    {randn_input({2, 5, 9, 9}, gen, false), randn_input({6, 5, 3, 3}, gen, false),
                     randn_input({6}, gen, false)});
}

TEST_CASE("reference mode: matmul and linear agree with the fast kernels") {
  Generator gen(3);
  check_modes_agree("matmul", [](In in) { return matmul(in[0], in[1]); },
                    {randn_input({5, 7}, gen), randn_input({7, 3}, gen)});
  check_modes_agree("linear", [](In in) { return linear(in[0], in[1], in[2]); },
                    {randn_input({5, 7}, gen), randn_input({3, 7}, gen), randn_input({3}, gen)});
  check_modes_agree("linear without bias", [](In in) { return linear(in[0], in[1], Tensor()); },
                    {randn_input({4, 9}, gen), randn_input({6, 9}, gen)});
}

TEST_CASE("reference mode: batch norm (train, eval, fused with relu) agrees with the fast kernels") {
  Generator gen(4);
  const auto bn = [](bool training, bool relu) {
    return [=](In in) {
      return relu ? batch_norm2d_relu(in[0], in[1], in[2], in[3], in[4], training, 0.1f, 1e-5f)
                  : batch_norm2d(in[0], in[1], in[2], in[3], in[4], training, 0.1f, 1e-5f);
    };
  };
  const auto inputs = [&](bool grad) {
    return std::vector<Tensor>{randn_input({3, 5, 4, 3}, gen, grad), randn_input({5}, gen, grad),
                               randn_input({5}, gen, grad), randn_input({5}, gen, false),
                               positive_input({5}, gen, false)};
  };
  check_modes_agree("batch_norm2d train", bn(true, false), inputs(true));
  check_modes_agree("batch_norm2d eval", bn(false, false), inputs(true));
  check_modes_agree("batch_norm2d_relu train", bn(true, true), inputs(true));
  check_modes_agree("batch_norm2d_relu eval (fused, no grad)", bn(false, true), inputs(false));
  check_modes_agree("batch_norm2d_relu_maxpool2x2 train",
                    [](In in) { return batch_norm2d_relu_maxpool2x2(in[0], in[1], in[2], in[3], in[4], true); },
                    inputs(true));
}

TEST_CASE("reference mode: pooling agrees with the fast kernels") {
  Generator gen(5);
  check_modes_agree("max_pool2d 3x3 stride 2 pad 1", [](In in) { return max_pool2d(in[0], 3, 2, 1); },
                    {randn_input({2, 3, 9, 7}, gen)});
  check_modes_agree("max_pool2d 2x2", [](In in) { return max_pool2d(in[0], 2); },
                    {randn_input({2, 3, 8, 6}, gen)});
  check_modes_agree("avg_pool2d 3x3 stride 2 pad 1", [](In in) { return avg_pool2d(in[0], 3, 2, 1); },
                    {randn_input({2, 3, 9, 7}, gen)});
  check_modes_agree("global_avg_pool2d", [](In in) { return global_avg_pool2d(in[0]); },
                    {randn_input({3, 4, 5, 7}, gen)});
}

TEST_CASE("reference mode: elementwise ops with broadcasting agree with the fast kernels") {
  Generator gen(6);
  const std::vector<std::pair<std::string, Tensor (*)(const Tensor&, const Tensor&)>> binary = {
      {"add", tg::add}, {"sub", tg::sub}, {"mul", tg::mul}, {"div", tg::div}};
  for (const auto& [name, op] : binary)
    check_modes_agree(name + " broadcast", [fn = op](In in) { return fn(in[0], in[1]); },
                      {randn_input({3, 1, 5}, gen), positive_input({4, 1}, gen)});
  check_modes_agree("scalar ops", [](In in) { return rdiv(2.f, rsub(3.f, mul(in[0], 0.5f))); },
                    {positive_input({3, 5}, gen)});
  const std::vector<std::pair<std::string, Tensor (*)(const Tensor&)>> unary = {
      {"neg", tg::neg},   {"exp", tg::exp},         {"log", tg::log},  {"sqrt", tg::sqrt},
      {"relu", tg::relu}, {"gelu", tg::gelu}, {"sigmoid", tg::sigmoid}, {"tanh", tg::tanh}};
  for (const auto& [name, op] : unary) {
    const bool positive_domain = name == "log" || name == "sqrt";
    check_modes_agree(name, [fn = op](In in) { return fn(in[0]); },
                      {positive_domain ? positive_input({4, 7}, gen) : randn_input({4, 7}, gen)});
  }
  check_modes_agree("pow", [](In in) { return pow(in[0], 1.7f); }, {positive_input({4, 7}, gen)});
  check_modes_agree("add_relu (fused)", [](In in) { return add_relu(in[0], in[1]); },
                    {randn_input({3, 4, 5, 7}, gen), randn_input({3, 4, 5, 7}, gen)});
  check_modes_agree("expand", [](In in) { return expand(in[0], {2, 3, 4}); },
                    {randn_input({3, 1}, gen)});
  check_modes_agree("sum_to", [](In in) { return sum_to(in[0], {3, 1}); },
                    {randn_input({2, 3, 4}, gen)});
}

TEST_CASE("reference mode: reductions, softmax, cross-entropy and dropout agree with the fast kernels") {
  Generator gen(7);
  const Shape shape{3, 5, 4};
  check_modes_agree("sum", [](In in) { return sum(in[0]); }, {randn_input(shape, gen)});
  check_modes_agree("sum dim 1", [](In in) { return sum(in[0], 1); }, {randn_input(shape, gen)});
  check_modes_agree("mean dim 0 keepdim", [](In in) { return mean(in[0], 0, true); },
                    {randn_input(shape, gen)});
  check_modes_agree("max dim 2", [](In in) { return max(in[0], 2); }, {randn_input(shape, gen)});
  check_modes_agree("max", [](In in) { return max(in[0]); }, {randn_input(shape, gen)});
  check_modes_agree("norm", [](In in) { return norm(in[0]); }, {randn_input(shape, gen)});
  check_modes_agree("argmax", [](In in) { return argmax(in[0], 1); },
                    {randn_input(shape, gen, false)});
  check_modes_agree("softmax dim 1", [](In in) { return softmax(in[0], 1); },
                    {randn_input(shape, gen)});
  check_modes_agree("log_softmax dim -1", [](In in) { return log_softmax(in[0], -1); },
                    {randn_input(shape, gen)});
  const Tensor targets = Tensor::from_vector({0, 4, 2, 2, 1, 3, 0}, {7});
  check_modes_agree("cross_entropy smoothed",
                    [](In in) { return cross_entropy(in[0], in[1], 0.1f); },
                    {randn_input({7, 5}, gen), targets});
  check_modes_agree("dropout",
                    [](In in) {
                      Generator mask_gen(11);  // the same mask in both modes
                      return dropout(in[0], 0.3f, /*training=*/true, mask_gen);
                    },
                    {randn_input({4, 9}, gen)});
}
