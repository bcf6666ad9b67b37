// CPU/CUDA parity of the engine ops through the op layer (dispatch + autograd on the device):
// each op's forward and input gradients on CUDA must match the CPU. Skips without a device.
#include <doctest/doctest.h>

#include <functional>

#include "engine/nn_ops.h"
#include "engine/ops.h"
#include "engine/random.h"
#include "support/fixtures.h"

using namespace tg;
using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;

namespace {

// Runs fn on copies of `inputs` placed on `device`; returns output and input grads on the host.
std::vector<Tensor> run_on(Device device, const std::vector<Tensor>& inputs, const std::vector<bool>& grad,
                           const OpFn& fn, const Tensor& dout) {
  std::vector<Tensor> xs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor t = inputs[i].clone().to(device);
    if (grad[i]) t.set_requires_grad(true);
    xs.push_back(t);
  }
  Tensor y = fn(xs);
  std::vector<Tensor> out{y.to(Device::cpu()).detach()};
  y.backward(dout.to(device));
  for (size_t i = 0; i < xs.size(); ++i)
    if (grad[i]) out.push_back(xs[i].grad().to(Device::cpu()));
  return out;
}

}  // namespace

TEST_CASE("engine ops on CUDA match the CPU (forward and backward)") {
  if (cuda_device_count() == 0) {
    MESSAGE("skipped: no CUDA device (" << backends_summary() << ")");
    return;
  }
  Generator gen(3);
  auto r = [&](const Shape& s) { return Tensor::randn(s, gen); };
  auto pos = [&](const Shape& s) { return add(Tensor::rand(s, gen), 0.5f); };
  struct Case {
    std::string name;
    std::vector<Tensor> inputs;
    std::vector<bool> grad;
    OpFn fn;
  };
  using V = std::vector<Tensor>;
  const Tensor targets = Tensor::from_vector({1, 0, 4, 2}, {4});
  std::vector<Case> cases = {
      {"add_bcast", {r({2, 3, 4, 4}), r({3, 1, 1})}, {true, true}, [](const V& x) { return add(x[0], x[1]); }},
      {"mul_bcast", {r({4, 6}), r({6})}, {true, true}, [](const V& x) { return mul(x[0], x[1]); }},
      {"div", {r({4, 6}), pos({4, 6})}, {true, true}, [](const V& x) { return div(x[0], x[1]); }},
      {"scalar", {r({5, 5})}, {true}, [](const V& x) { return rdiv(2.f, add(mul(x[0], x[0]), 1.f)); }},
      {"gelu", {r({3, 70})}, {true}, [](const V& x) { return gelu(x[0]); }},
      {"relu_tanh_sigmoid", {r({3, 70})}, {true}, [](const V& x) { return sigmoid(tanh(relu(x[0]))); }},
      {"add_relu", {r({2, 3, 4, 4}), r({2, 3, 4, 4})}, {true, true}, [](const V& x) { return add_relu(x[0], x[1]); }},
      {"exp_log_sqrt_pow", {pos({3, 9})}, {true}, [](const V& x) { return pow(sqrt(log(exp(x[0]))), 3.f); }},
      {"sum_dims", {r({3, 5, 7})}, {true}, [](const V& x) { return sum(x[0], 1); }},
      {"mean_all", {r({3, 5, 7})}, {true}, [](const V& x) { return mean(x[0]); }},
      {"norm", {r({33, 17})}, {true}, [](const V& x) { return norm(x[0]); }},
      {"matmul", {r({37, 29}), r({29, 41})}, {true, true}, [](const V& x) { return matmul(x[0], x[1]); }},
      {"linear", {r({8, 20}), r({10, 20}), r({10})}, {true, true, true},
       [](const V& x) { return linear(x[0], x[1], x[2]); }},
      {"softmax", {r({4, 10})}, {true}, [](const V& x) { return softmax(x[0], 1); }},
      {"log_softmax", {r({4, 10})}, {true}, [](const V& x) { return log_softmax(x[0], 1); }},
      {"cross_entropy_ls", {r({4, 5}), targets}, {true, false},
       [](const V& x) { return cross_entropy(x[0], x[1], 0.1f); }},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    Tensor y_shape_probe;
    {
      std::vector<Tensor> probe;
      for (const Tensor& t : c.inputs) probe.push_back(t.clone());
      y_shape_probe = c.fn(probe);
    }
    const Tensor dout = Tensor::randn(y_shape_probe.shape(), gen);
    const auto cpu_out = run_on(Device::cpu(), c.inputs, c.grad, c.fn, dout);
    const auto gpu_out = run_on(Device::cuda(0), c.inputs, c.grad, c.fn, dout);
    REQUIRE(cpu_out.size() == gpu_out.size());
    // Different summation orders (tree reductions, tiled GEMM) and libm: 1e-4 relative.
    for (size_t i = 0; i < cpu_out.size(); ++i)
      test::expect_close(gpu_out[i], cpu_out[i], 1e-4, 1e-5, c.name + (i == 0 ? " forward" : " grad " + std::to_string(i - 1)));
  }
}
