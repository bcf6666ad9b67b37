// Finite-difference gradient check used by every op and layer test.
//
// The op's output y is reduced to a scalar L = sum_i w_i y_i with fixed random weights w (so every
// output element and every direction of the Jacobian is exercised). The analytic gradient dL/dx
// from backward() is compared with the central difference (L(x + h e_j) - L(x - h e_j)) / 2h.
//
// Tolerances (float32 forward, L summed in double): the central-difference truncation error is
// O(h^2 f''') ~ 1e-6 for h = 1e-3 on smooth ops, and the float32 rounding of y (relative 6e-8 per
// element, growing ~sqrt(n) in sums) divided by 2h gives an absolute error around 1e-4 * |y|.
// So we accept |num - ana| <= atol + rtol * |ana| with atol = 2e-3, rtol = 2e-2 by default; tests
// of ops with large internal sums (conv, batch norm) may widen atol and must say why.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace tg::test {

struct GradcheckOptions {
  double h = 1e-3;     // finite-difference step
  double atol = 2e-3;  // absolute tolerance on each gradient element
  double rtol = 2e-2;  // relative tolerance on each gradient element
  uint64_t seed = 1234;  // for the output weights w
};

struct GradcheckResult {
  bool ok = true;
  double max_abs_err = 0.0;
  double max_rel_err = 0.0;
  int64_t checked = 0;  // gradient elements compared
  std::string report;   // which input/element failed first, with both values
};

// fn maps the inputs to one output tensor. Inputs with requires_grad are checked; they must be
// leaves on the CPU. Inputs are restored exactly after perturbation.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& opts = {});

// A leaf tensor of the given shape with U(lo, hi) values that requires grad (seeded).
Tensor leaf(const Shape& shape, uint64_t seed, float lo = -1.f, float hi = 1.f);

}  // namespace tg::test
