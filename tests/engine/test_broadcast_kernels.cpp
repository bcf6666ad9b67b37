// The fast CPU binary kernel (engine/cpu/elementwise.cpp) merges the dims of a broadcast before it
// loops (merge_dims: a same-shape add is one flat loop, a channel bias over NCHW is (N, C, HW)); the
// reference kernel (engine/cpu/reference/elementwise.cpp) indexes every element from the unmerged
// shape. The two must agree bit for bit (one float op per element either way) on every pattern of
// stretched, size-1 and contiguous dims, including shapes of different rank and zero elements.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "engine/cpu/elementwise.h"
#include "engine/cpu/reference/elementwise.h"
#include "engine/shape.h"

using namespace tg;

namespace {

std::vector<float> pattern(int64_t n, float seed) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = seed + 0.37f * static_cast<float>(i % 29) - 0.11f * static_cast<float>(i % 7);
  return v;
}

}  // namespace

TEST_CASE("broadcast kernels: merged fast loops agree with the reference bit for bit") {
  struct Case {
    Shape a, b;
  };
  const std::vector<Case> cases = {
      {{2, 3, 4, 5}, {2, 3, 4, 5}},     // same shape: one flat dim
      {{2, 3, 4, 5}, {1, 3, 1, 1}},     // channel bias over NCHW: (N, C, HW)
      {{2, 3, 4, 5}, {3, 1, 1}},        // the same with a lower-rank operand
      {{1, 3, 1, 1}, {2, 3, 4, 5}},     // stretched operand first
      {{2, 1, 4, 5}, {2, 3, 1, 1}},     // both stretched, on different dims
      {{2, 3, 4, 5}, {1}},              // a scalar tensor
      {{1}, {2, 3, 4, 5}},
      {{}, {3, 4}},                     // a 0-dim operand
      {{}, {}},                         // 0-dim both
      {{1, 1, 1}, {1, 1}},              // every dim of size 1
      {{3, 1, 5}, {4, 1}},              // the reference-mode test's shapes
      {{5, 1}, {1, 7}},                 // outer product
      {{2, 3, 1, 5}, {2, 1, 4, 1}},     // alternating stretches
      {{6, 1, 8, 1}, {1, 7, 1, 9}},
      {{64, 512, 4, 4}, {64, 512, 4, 4}},  // ResNet l4's residual add (was 4-float rows)
      {{3, 5001}, {3, 5001}},           // one flat dim cut into rows of 4096, the last one partial
      {{3, 5001}, {1}},                 // ... against a scalar
      {{1}, {7, 3001}},
      {{0, 3}, {1, 3}},                 // zero elements
      {{2, 0, 4}, {2, 1, 4}},
  };
  const std::vector<BinaryOp> ops = {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div};
  for (const Case& c : cases) {
    const Shape out_shape = cpu::broadcast_shapes(c.a, c.b, "test");
    CAPTURE(shape_str(c.a));
    CAPTURE(shape_str(c.b));
    const auto a = pattern(numel_of(c.a), 0.5f), b = pattern(numel_of(c.b), 1.25f);
    const BroadcastShape s = cpu::make_broadcast(out_shape, c.a, c.b);
    for (BinaryOp op : ops) {
      std::vector<float> fast(static_cast<size_t>(numel_of(out_shape)) + 1, -7.f);  // +1: a canary past the end
      std::vector<float> ref(fast.size(), -7.f);
      cpu::binary_forward(fast.data(), a.data(), b.data(), op, s);
      cpu::reference::binary_forward(ref.data(), a.data(), b.data(), op, s);
      CHECK(std::memcmp(fast.data(), ref.data(), fast.size() * sizeof(float)) == 0);
      CHECK(fast.back() == -7.f);
    }
    // broadcast_to goes through the same merged loop.
    if (numel_of(c.a) <= numel_of(out_shape)) {
      std::vector<float> fast(static_cast<size_t>(numel_of(out_shape))), ref(fast.size());
      cpu::broadcast_to(fast.data(), out_shape, a.data(), c.a);
      cpu::reference::broadcast_to(ref.data(), out_shape, a.data(), c.a);
      CHECK(fast == ref);
    }
  }
}
