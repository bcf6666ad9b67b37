// Elementwise ops with autograd: binary (broadcasting), scalar, unary, expand / sum_to.
// Backward rules:  d(a+b) = (g, g)   d(a-b) = (g, -g)   d(ab) = (g b, g a)   d(a/b) = (g/b, -g a/b^2),
// each summed back to its input's shape over broadcast dims.
#include <cmath>

#include "engine/cpu/elementwise.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#ifdef TRUSTGRAD_WITH_CUDA
#include "cuda/elementwise.h"
#endif

namespace tg {

namespace {

Tensor binary(const Tensor& a, const Tensor& b, BinaryOp op, const char* name) {
  check_defined(a, name, "a");
  check_defined(b, name, "b");
  check_same_device(a, b, name);
  const Shape out_shape = cpu::broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(out_shape, a.device());
  switch (a.device().type) {
    case DeviceType::CPU:
      cpu::binary_forward(out.data(), a.data(), b.data(), op, cpu::make_broadcast(out_shape, a.shape(), b.shape()));
      break;
    case DeviceType::CUDA:
      TG_CUDA_CALL(cuda::binary_forward(out.data(), a.data(), b.data(), op,
                                        cpu::make_broadcast(out_shape, a.shape(), b.shape())));
      break;
  }
  // Only the gradients some input needs are computed, and only the values they read are kept:
  // da = g b and g / b read b; db = g a reads a, db = -g (a / b) / b reads both.
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  const bool need_values = op == BinaryOp::Mul || op == BinaryOp::Div;
  Tensor ad = need_values && need_b ? a.detach() : Tensor();
  Tensor bd = need_values && (need_a || (op == BinaryOp::Div && need_b)) ? b.detach() : Tensor();
  const Shape sa = a.shape(), sb = b.shape();
  return record_op(out, name, {&a, &b}, [op, ad, bd, sa, sb, need_a, need_b](const Tensor& g) {
    Tensor da, db;
    switch (op) {
      case BinaryOp::Add:
        if (need_a) da = sum_to(g, sa);
        if (need_b) db = sum_to(g, sb);
        break;
      case BinaryOp::Sub:
        if (need_a) da = sum_to(g, sa);
        if (need_b) db = sum_to(neg(g), sb);
        break;
      case BinaryOp::Mul:
        if (need_a) da = sum_to(mul(g, bd), sa);
        if (need_b) db = sum_to(mul(g, ad), sb);
        break;
      case BinaryOp::Div:
        if (need_a) da = sum_to(div(g, bd), sa);
        // -g (a / b) / b, as PyTorch: the b^2 of -g a / b^2 overflows (b = 1e20) or underflows
        // (b = 1e-20) where the quotient does not.
        if (need_b) db = sum_to(neg(mul(g, div(div(ad, bd), bd))), sb);
        break;
    }
    return std::vector<Tensor>{da, db};
  }, {&ad, &bd});
}

Tensor scalar_op(const Tensor& a, float s, BinaryOp op, bool scalar_first, const char* name) {
  check_defined(a, name);
  Tensor out = Tensor::empty(a.shape(), a.device());
  switch (a.device().type) {
    case DeviceType::CPU: cpu::binary_scalar(out.data(), a.data(), s, op, scalar_first, a.numel()); break;
    case DeviceType::CUDA: TG_CUDA_CALL(cuda::binary_scalar(out.data(), a.data(), s, op, scalar_first, a.numel())); break;
  }
  Tensor ad = (op == BinaryOp::Div && scalar_first) ? a.detach() : Tensor();
  return record_op(out, name, {&a}, [op, s, scalar_first, ad](const Tensor& g) {
    switch (op) {
      case BinaryOp::Add: return std::vector<Tensor>{g};
      case BinaryOp::Sub: return std::vector<Tensor>{scalar_first ? neg(g) : g};
      case BinaryOp::Mul: return std::vector<Tensor>{mul(g, s)};
      case BinaryOp::Div:  // d(a/s) = g/s;  d(s/a) = -s g / a^2, as -s ((g / a) / a): a^2 overflows at 1e20
        return std::vector<Tensor>{scalar_first ? mul(div(div(g, ad), ad), -s) : div(g, s)};
    }
    return std::vector<Tensor>{Tensor()};
  }, {&ad});
}

Tensor unary(const Tensor& x, UnaryOp op, float param, const char* name) {
  check_defined(x, name);
  Tensor y = Tensor::empty(x.shape(), x.device());
  switch (x.device().type) {
    case DeviceType::CPU: cpu::unary_forward(y.data(), x.data(), op, param, x.numel()); break;
    case DeviceType::CUDA: TG_CUDA_CALL(cuda::unary_forward(y.data(), x.data(), op, param, x.numel())); break;
  }
  // Keep alive only the tensor the derivative reads: x for log, pow, gelu; y for exp, sqrt, sigmoid,
  // tanh and relu (y = max(x, 0) > 0 exactly when x > 0). After a ReLU the input is then freed as
  // soon as its other users are done (in a ResNet block: the residual sum). The kernel receives the
  // kept tensor in both pointer slots and reads only the one its rule uses (cpu::unary_backward).
  const bool keep_x = op == UnaryOp::Log || op == UnaryOp::Pow || op == UnaryOp::Gelu;
  Tensor saved = keep_x ? x.detach() : y.detach();
  return record_op(y, name, {&x}, [op, param, saved](const Tensor& g) {
    Tensor dx = Tensor::empty(saved.shape(), saved.device());
    const float* v = saved.data();  // x or y, see above
    switch (saved.device().type) {
      case DeviceType::CPU: cpu::unary_backward(dx.data(), g.data(), v, v, op, param, saved.numel()); break;
      case DeviceType::CUDA: TG_CUDA_CALL(cuda::unary_backward(dx.data(), g.data(), v, v, op, param, saved.numel())); break;
    }
    return std::vector<Tensor>{dx};
  }, {&saved});
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary(a, b, BinaryOp::Add, "add"); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(a, b, BinaryOp::Sub, "sub"); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(a, b, BinaryOp::Mul, "mul"); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(a, b, BinaryOp::Div, "div"); }
Tensor add(const Tensor& a, float s) { return scalar_op(a, s, BinaryOp::Add, false, "add"); }
Tensor sub(const Tensor& a, float s) { return scalar_op(a, s, BinaryOp::Sub, false, "sub"); }
Tensor mul(const Tensor& a, float s) { return scalar_op(a, s, BinaryOp::Mul, false, "mul"); }
Tensor div(const Tensor& a, float s) { return scalar_op(a, s, BinaryOp::Div, false, "div"); }
Tensor rsub(float s, const Tensor& a) { return scalar_op(a, s, BinaryOp::Sub, true, "rsub"); }
Tensor rdiv(float s, const Tensor& a) { return scalar_op(a, s, BinaryOp::Div, true, "rdiv"); }

Tensor neg(const Tensor& x) { return unary(x, UnaryOp::Neg, 0.f, "neg"); }
Tensor exp(const Tensor& x) { return unary(x, UnaryOp::Exp, 0.f, "exp"); }
Tensor log(const Tensor& x) { return unary(x, UnaryOp::Log, 0.f, "log"); }
Tensor sqrt(const Tensor& x) { return unary(x, UnaryOp::Sqrt, 0.f, "sqrt"); }
Tensor pow(const Tensor& x, float exponent) { return unary(x, UnaryOp::Pow, exponent, "pow"); }
Tensor relu(const Tensor& x) { return unary(x, UnaryOp::Relu, 0.f, "relu"); }
Tensor gelu(const Tensor& x) { return unary(x, UnaryOp::Gelu, 0.f, "gelu"); }
Tensor sigmoid(const Tensor& x) { return unary(x, UnaryOp::Sigmoid, 0.f, "sigmoid"); }
Tensor tanh(const Tensor& x) { return unary(x, UnaryOp::Tanh, 0.f, "tanh"); }

Tensor expand(const Tensor& x, const Shape& shape) {
  check_defined(x, "expand");
  const Shape out_shape = cpu::broadcast_shapes(x.shape(), shape, "expand");
  TG_CHECK(out_shape == shape, "expand: cannot expand shape " << shape_str(x.shape()) << " to " << shape_str(shape));
  if (x.shape() == shape) return x;
  Tensor out = Tensor::empty(shape, x.device());
  switch (x.device().type) {
    case DeviceType::CPU: cpu::broadcast_to(out.data(), shape, x.data(), x.shape()); break;
    case DeviceType::CUDA: TG_CUDA_CALL(cuda::broadcast_to(out.data(), shape, x.data(), x.shape())); break;
  }
  const Shape in_shape = x.shape();
  return record_op(out, "expand", {&x}, [in_shape](const Tensor& g) { return std::vector<Tensor>{sum_to(g, in_shape)}; });
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  check_defined(x, "sum_to");
  TG_CHECK(cpu::broadcast_shapes(shape, x.shape(), "sum_to") == x.shape(),
           "sum_to: shape " << shape_str(shape) << " does not broadcast to " << shape_str(x.shape()));
  if (x.shape() == shape) return x;
  Tensor out = Tensor::empty(shape, x.device());
  switch (x.device().type) {
    case DeviceType::CPU: cpu::sum_to_shape(out.data(), shape, x.data(), x.shape()); break;
    case DeviceType::CUDA: TG_CUDA_CALL(cuda::sum_to_shape(out.data(), shape, x.data(), x.shape())); break;
  }
  const Shape in_shape = x.shape();
  return record_op(out, "sum_to", {&x}, [in_shape](const Tensor& g) { return std::vector<Tensor>{expand(g, in_shape)}; });
}

}  // namespace tg
