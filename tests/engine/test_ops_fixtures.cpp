// Every op of engine/ops.h against PyTorch golden values (tests/reference/gen_ops.py):
// forward output and every input gradient for a fixed upstream gradient.
#include <doctest/doctest.h>

#include <functional>
#include <map>

#include "engine/ops.h"
#include "support/fixtures.h"

using namespace tg;
using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;

namespace {

// float32 vs PyTorch float32: differences come only from summation order and libm, so 1e-5
// relative (1e-6 absolute for values near 0) is tight enough to catch any wrong formula.
constexpr double kRtol = 1e-5, kAtol = 1e-6;

void check_case(const io::SafetensorsFile& f, const std::string& name, int n_inputs, const std::vector<bool>& grads,
                const OpFn& fn) {
  CAPTURE(name);
  std::vector<Tensor> inputs;
  for (int i = 0; i < n_inputs; ++i) {
    Tensor t = f.at(name + ".in" + std::to_string(i)).clone();
    if (grads[static_cast<size_t>(i)]) t.set_requires_grad(true);
    inputs.push_back(t);
  }
  Tensor y = fn(inputs);
  test::expect_close(y, f.at(name + ".out"), kRtol, kAtol, name + " forward");
  y.backward(f.at(name + ".dout"));
  for (int i = 0; i < n_inputs; ++i)
    if (grads[static_cast<size_t>(i)])
      test::expect_close(inputs[static_cast<size_t>(i)].grad(), f.at(name + ".grad" + std::to_string(i)), kRtol, kAtol,
                         name + " grad of input " + std::to_string(i));
}

}  // namespace

TEST_CASE("ops match PyTorch forward and backward") {
  const io::SafetensorsFile f = test::load_fixture("ops");
  using V = std::vector<Tensor>;
  check_case(f, "add_bcast", 2, {true, true}, [](const V& x) { return add(x[0], x[1]); });
  check_case(f, "sub_bcast", 2, {true, true}, [](const V& x) { return sub(x[0], x[1]); });
  check_case(f, "mul_bcast", 2, {true, true}, [](const V& x) { return mul(x[0], x[1]); });
  check_case(f, "div_bcast", 2, {true, true}, [](const V& x) { return div(x[0], x[1]); });
  check_case(f, "exp", 1, {true}, [](const V& x) { return exp(x[0]); });
  check_case(f, "log", 1, {true}, [](const V& x) { return log(x[0]); });
  check_case(f, "sqrt", 1, {true}, [](const V& x) { return sqrt(x[0]); });
  check_case(f, "pow3", 1, {true}, [](const V& x) { return pow(x[0], 3.f); });
  check_case(f, "relu", 1, {true}, [](const V& x) { return relu(x[0]); });
  check_case(f, "gelu", 1, {true}, [](const V& x) { return gelu(x[0]); });
  check_case(f, "sigmoid", 1, {true}, [](const V& x) { return sigmoid(x[0]); });
  check_case(f, "tanh", 1, {true}, [](const V& x) { return tanh(x[0]); });
  check_case(f, "sum_dim1", 1, {true}, [](const V& x) { return sum(x[0], 1); });
  check_case(f, "mean_dim0", 1, {true}, [](const V& x) { return mean(x[0], 0); });
  check_case(f, "max_dim2", 1, {true}, [](const V& x) { return max(x[0], 2); });
  check_case(f, "norm", 1, {true}, [](const V& x) { return norm(x[0]); });
  check_case(f, "matmul", 2, {true, true}, [](const V& x) { return matmul(x[0], x[1]); });
  check_case(f, "linear", 3, {true, true, true}, [](const V& x) { return linear(x[0], x[1], x[2]); });
  check_case(f, "transpose", 1, {true}, [](const V& x) { return transpose(x[0]); });
  check_case(f, "softmax", 1, {true}, [](const V& x) { return softmax(x[0], 1); });
  check_case(f, "log_softmax", 1, {true}, [](const V& x) { return log_softmax(x[0], 1); });
  check_case(f, "cross_entropy", 2, {true, false}, [](const V& x) { return cross_entropy(x[0], x[1]); });
  check_case(f, "cross_entropy_ls", 2, {true, false}, [](const V& x) { return cross_entropy(x[0], x[1], 0.1f); });
}
