// CPU/CUDA parity of the elementwise launchers (cuda/elementwise.h vs engine/cpu/elementwise.h):
// broadcasting binary ops, scalar ops, unary forward/backward, sum_to_shape / broadcast_to.
#include <doctest/doctest.h>

#ifdef TRUSTGRAD_WITH_CUDA
#include <string>
#include <vector>

#include "cuda/broadcast.h"
#include "cuda/elementwise.h"
#include "engine/cpu/elementwise.h"
#include "engine/error.h"
#include "tests/cuda/cuda_test_util.h"

using namespace tg;
using namespace tg::cuda::test;

namespace {

int64_t count(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string text(const Shape& s) {
  std::string t = "(";
  for (size_t i = 0; i < s.size(); ++i) {  // appended piece by piece: GCC 12 warns (-Wrestrict) on "lit" + to_string
    if (i) t += ',';
    t += std::to_string(s[i]);
  }
  return t + ")";
}

const char* op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "add";
    case BinaryOp::Sub: return "sub";
    case BinaryOp::Mul: return "mul";
    case BinaryOp::Div: return "div";
  }
  return "?";
}

}  // namespace

TEST_CASE("cuda BroadcastIndexer: merges contiguous dims and rejects incompatible shapes (host only)") {
  // Same shapes collapse to one dim; a per-channel operand keeps stride 0 on the stretched dims.
  const auto same = cuda::BroadcastIndexer::make({2, 3, 4}, {2, 3, 4}, {2, 3, 4});
  CHECK(same.ndim == 1);
  CHECK(same.numel == 24);
  const auto bias = cuda::BroadcastIndexer::make({2, 3, 4, 5}, {2, 3, 4, 5}, {3, 1, 1});
  CHECK(bias.ndim == 3);  // (2, 3, 20)
  CHECK(bias.out[2] == 20);
  CHECK(bias.b_stride[0] == 0);
  CHECK(bias.b_stride[1] == 1);
  CHECK(bias.b_stride[2] == 0);
  int64_t oa = 0, ob = 0;
  bias.offsets(1 * 60 + 2 * 20 + 7, oa, ob);  // (n=1, c=2, hw=7)
  CHECK(oa == 107);
  CHECK(ob == 2);
  CHECK_THROWS_AS(cuda::BroadcastIndexer::make({2, 3}, {2, 3}, {4}), tg::Error);
  CHECK_THROWS_AS(cuda::BroadcastIndexer::make({1, 1, 1, 1, 1, 1, 1, 1, 2}, {2}, {2}), tg::Error);
}

TEST_CASE("cuda binary_forward matches the CPU on broadcast shapes") {
  TG_REQUIRE_CUDA_DEVICE();
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {3, 1}}, {{4, 1, 5}, {1, 6, 1}}, {{5, 7}, {}},
      {{}, {3, 2}},           {{2, 1, 3, 1, 4}, {5, 1, 1, 4}},              {{64, 32, 9}, {32, 1}}};
  uint32_t seed = 10;
  for (const auto& [sa, sb] : cases) {
    const Shape out = cpu::broadcast_shapes(sa, sb, "test");
    const BroadcastShape bs = cpu::make_broadcast(out, sa, sb);
    const auto a = random_floats(count(sa), seed++);
    auto b = random_floats(count(sb), seed++, 0.5f, 2.f);  // away from 0 for div
    cuda::test::DeviceFloats da(a), db(b), dout(count(out));
    for (auto op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div}) {
      std::vector<float> ref(count(out));
      cpu::binary_forward(ref.data(), a.data(), b.data(), op, bs);
      cuda::binary_forward(dout.get(), da.get(), db.get(), op, bs);
      check_close(dout.host(), ref, 1e-6, 0.0, std::string("binary ") + op_name(op) + " " + text(sa) + "x" + text(sb));
    }
  }
}

TEST_CASE("cuda binary_scalar, add_inplace and fill match the CPU") {
  TG_REQUIRE_CUDA_DEVICE();
  const int64_t n = 10007;
  const auto a = random_floats(n, 3, 0.5f, 2.f), x = random_floats(n, 4);
  DeviceFloats da(a), dout(n);
  for (auto op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div})
    for (bool first : {false, true}) {
      std::vector<float> ref(n);
      cpu::binary_scalar(ref.data(), a.data(), 1.7f, op, first, n);
      cuda::binary_scalar(dout.get(), da.get(), 1.7f, op, first, n);
      check_close(dout.host(), ref, 1e-6, 0.0, std::string("scalar ") + op_name(op) + (first ? " (s op a)" : ""));
    }
  std::vector<float> acc = a;
  cpu::add_inplace(acc.data(), x.data(), n);
  DeviceFloats dx(x);
  cuda::add_inplace(da.get(), dx.get(), n);
  check_close(da.host(), acc, 0.0, 0.0, "add_inplace");
  cuda::fill(dout.get(), -3.25f, n);
  check_close(dout.host(), std::vector<float>(n, -3.25f), 0.0, 0.0, "fill");
}

TEST_CASE("cuda unary forward and backward match the CPU for every op") {
  TG_REQUIRE_CUDA_DEVICE();
  const int64_t n = 4099;
  const std::vector<std::pair<UnaryOp, const char*>> ops = {
      {UnaryOp::Neg, "neg"},   {UnaryOp::Exp, "exp"},   {UnaryOp::Log, "log"},
      {UnaryOp::Sqrt, "sqrt"}, {UnaryOp::Pow, "pow"},   {UnaryOp::Relu, "relu"},
      {UnaryOp::Gelu, "gelu"}, {UnaryOp::Sigmoid, "sigmoid"}, {UnaryOp::Tanh, "tanh"}};
  const auto dout = random_floats(n, 7);
  DeviceFloats ddout(dout), dy(n), ddx(n);
  for (const auto& [op, name] : ops) {
    const bool positive = op == UnaryOp::Log || op == UnaryOp::Sqrt || op == UnaryOp::Pow;
    const auto x = positive ? random_floats(n, 8, 0.1f, 3.f) : random_floats(n, 8, -4.f, 4.f);
    const float param = 2.5f;
    std::vector<float> y(n), dx(n);
    cpu::unary_forward(y.data(), x.data(), op, param, n);
    cpu::unary_backward(dx.data(), dout.data(), x.data(), y.data(), op, param, n);
    DeviceFloats dxin(x);
    cuda::unary_forward(dy.get(), dxin.get(), op, param, n);
    // atol: gelu's 1 + erf(x/sqrt 2) cancels for negative x, so one ulp of erf near -1 (6e-8) times |x| <= 4.
    check_close(dy.host(), y, 2e-6, 5e-7, std::string("unary ") + name + " forward");
    cuda::unary_backward(ddx.get(), ddout.get(), dxin.get(), dy.get(), op, param, n);
    check_close(ddx.host(), dx, 2e-6, 5e-7, std::string("unary ") + name + " backward");
  }
}

TEST_CASE("cuda sum_to_shape and broadcast_to match the CPU") {
  TG_REQUIRE_CUDA_DEVICE();
  const std::vector<std::pair<Shape, Shape>> cases = {  // (from, to)
      {{4, 3, 5}, {3, 1}}, {{4, 3, 5}, {4, 1, 5}}, {{4, 3, 5}, {}}, {{6, 7}, {6, 7}},
      {{2, 64, 9, 9}, {64, 1, 1}},  // bias gradient shape: few outputs, long sums
      {{300, 20}, {20}}};
  uint32_t seed = 20;
  for (const auto& [from, to] : cases) {
    const auto in = random_floats(count(from), seed++);
    std::vector<float> ref(count(to));
    cpu::sum_to_shape(ref.data(), to, in.data(), from);
    DeviceFloats din(in), dout(count(to));
    cuda::sum_to_shape(dout.get(), to, din.get(), from);
    check_close(dout.host(), ref, 1e-6, 1e-6, "sum_to_shape " + text(from) + "->" + text(to));

    const auto small = random_floats(count(to), seed++);
    std::vector<float> big(count(from));
    cpu::broadcast_to(big.data(), from, small.data(), to);
    DeviceFloats dsmall(small), dbig(count(from));
    cuda::broadcast_to(dbig.get(), from, dsmall.get(), to);
    check_close(dbig.host(), big, 0.0, 0.0, "broadcast_to " + text(to) + "->" + text(from));
  }
}

#endif  // TRUSTGRAD_WITH_CUDA
