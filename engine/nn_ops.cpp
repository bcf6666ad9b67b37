// Differentiable conv-net ops (engine/nn_ops.h): argument checks naming the op and the shapes, an
// explicit device switch to the kernels (engine/cpu/, and cuda/ launchers with the same signatures),
// and autograd nodes whose backward calls the fused backward kernels.
#include "engine/nn_ops.h"

#include <cmath>
#include <memory>
#include <string>

#include "engine/cpu/batchnorm.h"
#include "engine/cpu/conv2d.h"
#include "engine/cpu/elementwise.h"
#include "engine/cpu/pool.h"
#include "engine/cpu/reference/dropout.h"
#include "engine/dispatch.h"
#include "engine/error.h"
#include "engine/cpu/kernel_mode.h"
#include "engine/ops.h"
#include "engine/storage.h"
#ifdef TRUSTGRAD_WITH_CUDA
#include "cuda/batchnorm.h"
#include "cuda/conv2d.h"
#include "cuda/elementwise.h"
#include "cuda/pool.h"
#endif

namespace tg {
namespace {

void check_4d(const Tensor& x, const char* op) {
  check_defined(x, op, "input");
  TG_CHECK(x.dim() == 4, op << ": expected a 4-D input (N, C, H, W), got shape " << shape_str(x.shape()));
}

// A per-channel parameter (C) when defined.
void check_channel_vec(const Tensor& t, int64_t C, const Tensor& x, const char* op, const char* name) {
  if (!t.defined()) return;
  check_same_device(x, t, op);
  TG_CHECK(t.dim() == 1 && t.size(0) == C, op << ": " << name << " must have shape " << shape_str({C}) << " for input "
                                               << shape_str(x.shape()) << ", got " << shape_str(t.shape()));
}

float* data_or_null(const Tensor& t) { return t.defined() ? t.data() : nullptr; }

// The per-channel vectors of a batch norm over x (N, C, H, W): each (C) or undefined; eps > 0 and
// momentum in [0, 1] (as nn::BatchNorm2d), so the running statistics stay a convex blend.
void check_bn_args(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                   const Tensor& running_var, float momentum, float eps, const char* op) {
  const int64_t C = x.size(1);
  check_channel_vec(gamma, C, x, op, "weight (gamma)");
  check_channel_vec(beta, C, x, op, "bias (beta)");
  check_channel_vec(running_mean, C, x, op, "running_mean");
  check_channel_vec(running_var, C, x, op, "running_var");
  TG_CHECK(eps > 0.f, op << ": eps must be positive, got " << eps);
  TG_CHECK(momentum >= 0.f && momentum <= 1.f, op << ": momentum must be in [0, 1], got " << momentum);
}

// Pool window checks shared by max and average pooling; resolves stride = -1 to the kernel size.
PoolShape pool_shape(const Tensor& x, int kernel, int& stride, int padding, const char* op) {
  check_4d(x, op);
  if (stride == -1) stride = kernel;
  TG_CHECK(kernel >= 1 && stride >= 1 && padding >= 0,
           op << ": need kernel >= 1, stride >= 1, padding >= 0, got kernel " << kernel << ", stride " << stride
              << ", padding " << padding);
  const int64_t pad2 = 2 * int64_t{padding};  // int64: 2 * padding overflows int from 2^30
  TG_CHECK(pad2 <= kernel, op << ": padding " << padding << " must be at most half the kernel size " << kernel);
  const int64_t H = x.size(2), W = x.size(3);
  TG_CHECK(H + pad2 >= kernel && W + pad2 >= kernel,
           op << ": kernel " << kernel << "x" << kernel << " is larger than the padded input (" << H + pad2 << "x"
              << W + pad2 << ") of input " << shape_str(x.shape()));
  return {x.size(0), x.size(1), H, W, kernel, kernel, stride, stride, padding, padding};
}

// ---- conv2d ----

// Checks a conv2d's arguments (messages name `op`) and returns its shape.
ConvShape conv_shape(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int padding, int groups,
                     ConvAlgorithm algorithm, ConvPrecision precision, const char* op) {
  check_4d(x, op);
  check_defined(w, op, "weight");
  check_same_device(x, w, op);
  TG_CHECK(w.dim() == 4, op << ": expected a 4-D weight (K, C/groups, R, S), got shape " << shape_str(w.shape()));
  TG_CHECK(stride >= 1 && padding >= 0 && groups >= 1, op << ": need stride >= 1, padding >= 0, groups >= 1, got stride "
                                                          << stride << ", padding " << padding << ", groups " << groups);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t K = w.size(0), R = w.size(2), S = w.size(3);
  TG_CHECK(C % groups == 0 && K % groups == 0, op << ": groups " << groups << " must divide the input channels " << C
                                                  << " and the output channels " << K << " (input "
                                                  << shape_str(x.shape()) << ", weight " << shape_str(w.shape()) << ")");
  TG_CHECK(w.size(1) * groups == C, op << ": input " << shape_str(x.shape()) << " has " << C
                                       << " channels but weight " << shape_str(w.shape()) << " with groups " << groups
                                       << " expects " << w.size(1) * groups);
  const int64_t pad2 = 2 * int64_t{padding};  // int64: 2 * padding overflows int from 2^30
  TG_CHECK(H + pad2 >= R && W + pad2 >= S,
           op << ": kernel " << R << "x" << S << " is larger than the padded input (" << H + pad2 << "x" << W + pad2
              << ") of input " << shape_str(x.shape()) << " with padding " << padding);
  if (b.defined()) {
    check_same_device(x, b, op);
    TG_CHECK(b.dim() == 1 && b.size(0) == K,
             op << ": bias must have shape " << shape_str({K}) << " for weight " << shape_str(w.shape()) << ", got "
                << shape_str(b.shape()));
  }
  TG_CHECK(precision == ConvPrecision::Fp32 || !x.device().is_cuda(),
           op << ": bf16 precision is a CPU mode (its GEMMs run on AMX tiles or emulated); the CUDA kernels compute "
                 "in fp32: use precision fp32 for a model on " << x.device().str());
  ConvShape s{N, C, H, W, K, R, S, stride, stride, padding, padding, groups, algorithm};
  s.precision = precision;
  return s;
}

// conv2d and conv2d_relu: the forward with its activation, and the backward (through the ReLU's mask
// when there is one: dconv = dout where out > 0, else 0).
Tensor conv2d_with(const Tensor& x, const Tensor& w, const Tensor& b, const ConvShape& s, bool relu,
                   const char* op) {
  Tensor out = Tensor::empty({s.N, s.K, s.P(), s.Q()}, x.device());
  const ConvEpilogue epi = relu ? ConvEpilogue::Relu : ConvEpilogue::None;
  switch (x.device().type) {
    case DeviceType::CPU: cpu::conv2d_forward(out.data(), x.data(), w.data(), data_or_null(b), s, epi); break;
    case DeviceType::CUDA:  // the CUDA conv has no epilogue: the ReLU is a second kernel, in place
      TG_CUDA_CALL(cuda::conv2d_forward(out.data(), x.data(), w.data(), data_or_null(b), s));
      if (relu) TG_CUDA_CALL(cuda::unary_forward(out.data(), out.data(), UnaryOp::Relu, 0.f, out.numel()));
      break;
  }
  const bool need_x = x.requires_grad(), need_w = w.requires_grad(), need_b = b.defined() && b.requires_grad();
  Tensor xd = x.detach(), wd = w.detach();
  Tensor yd = relu ? out.detach() : Tensor();  // the ReLU's mask: out > 0
  return record_op(out, op, {&x, &w, &b}, [xd, wd, yd, s, need_x, need_w, need_b](const Tensor& dout_in) {
    Tensor dout = dout_in;
    if (yd.defined()) {
      dout = Tensor::empty(yd.shape(), yd.device());
      const float* y = yd.data();
      switch (yd.device().type) {
        case DeviceType::CPU:
          cpu::unary_backward(dout.data(), dout_in.data(), y, y, UnaryOp::Relu, 0.f, yd.numel());
          break;
        case DeviceType::CUDA:
          TG_CUDA_CALL(cuda::unary_backward(dout.data(), dout_in.data(), y, y, UnaryOp::Relu, 0.f, yd.numel()));
          break;
      }
    }
    Tensor dx = need_x ? Tensor::empty(xd.shape(), dout.device()) : Tensor();
    Tensor dw = need_w ? Tensor::empty(wd.shape(), dout.device()) : Tensor();
    Tensor db = need_b ? Tensor::empty({s.K}, dout.device()) : Tensor();
    switch (dout.device().type) {
      case DeviceType::CPU:
        cpu::conv2d_backward(data_or_null(dx), data_or_null(dw), data_or_null(db), dout.data(), xd.data(), wd.data(), s);
        break;
      case DeviceType::CUDA:
        TG_CUDA_CALL(cuda::conv2d_backward(data_or_null(dx), data_or_null(dw), data_or_null(db), dout.data(), xd.data(),
                                           wd.data(), s));
        break;
    }
    return std::vector<Tensor>{dx, dw, db};
  }, {need_w ? &xd : nullptr, need_x ? &wd : nullptr, &yd});  // dw reads x, dx reads w
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int padding, int groups,
              ConvAlgorithm algorithm, ConvPrecision precision) {
  const char* op = "conv2d";
  return conv2d_with(x, w, b, conv_shape(x, w, b, stride, padding, groups, algorithm, precision, op), /*relu=*/false,
                     op);
}

Tensor conv2d_relu(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int padding, int groups,
                   ConvAlgorithm algorithm, ConvPrecision precision) {
  const char* op = "conv2d_relu";
  return conv2d_with(x, w, b, conv_shape(x, w, b, stride, padding, groups, algorithm, precision, op), /*relu=*/true,
                     op);
}

Tensor conv2d_relu_maxpool2x2(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int padding, int groups,
                              ConvAlgorithm algorithm, ConvPrecision precision) {
  const char* op = "conv2d_relu_maxpool2x2";
  const ConvShape s = conv_shape(x, w, b, stride, padding, groups, algorithm, precision, op);
  TG_CHECK(!any_requires_grad({&x, &w, &b}),
           op << ": inference only (it keeps no pooling indices for a backward); with grad mode on and an input that "
                 "requires grad, use max_pool2d(conv2d_relu(...), 2)");
  TG_CHECK(s.P() >= 2 && s.Q() >= 2, op << ": the conv output " << s.P() << "x" << s.Q() << " of input "
                                        << shape_str(x.shape()) << " is smaller than the 2x2 pooling window");
  if (x.device().is_cuda()) return max_pool2d(conv2d_relu(x, w, b, stride, padding, groups, algorithm, precision), 2);
  Tensor out = Tensor::empty({s.N, s.K, s.P() / 2, s.Q() / 2}, x.device());
  cpu::conv2d_forward(out.data(), x.data(), w.data(), data_or_null(b), s, ConvEpilogue::ReluMaxPool2x2);
  return out;
}

// ---- batch_norm2d ----

Tensor batch_norm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                    const Tensor& running_var, bool training, float momentum, float eps) {
  const char* op = "batch_norm2d";
  check_4d(x, op);
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  check_bn_args(x, gamma, beta, running_mean, running_var, momentum, eps, op);
  Tensor out = Tensor::empty(x.shape(), x.device());
  const bool need_x = x.requires_grad();
  const bool need_g = gamma.defined() && gamma.requires_grad(), need_b = beta.defined() && beta.requires_grad();
  Tensor xd = x.detach(), gd = gamma.defined() ? gamma.detach() : Tensor();

  if (training) {
    TG_CHECK(N * HW > 1, op << ": expected more than 1 value per channel when training, got input "
                            << shape_str(x.shape()));
    Tensor mean = Tensor::empty({C}, x.device()), invstd = Tensor::empty({C}, x.device());  // (C)
    switch (x.device().type) {
      case DeviceType::CPU:
        cpu::batchnorm2d_forward_train(out.data(), mean.data(), invstd.data(), x.data(), data_or_null(gamma),
                                       data_or_null(beta), N, C, HW, eps);
        // running = (1 - momentum) * running + momentum * batch   (unbiased variance for running_var)
        cpu::batchnorm2d_update_running(data_or_null(running_mean), data_or_null(running_var), mean.data(),
                                        invstd.data(), C, N * HW, momentum, eps);
        break;
      case DeviceType::CUDA:
        TG_CUDA_CALL(cuda::batchnorm2d_forward_train(out.data(), mean.data(), invstd.data(), x.data(),
                                                     data_or_null(gamma), data_or_null(beta), N, C, HW, eps));
        TG_CUDA_CALL(cuda::batchnorm2d_update_running(data_or_null(running_mean), data_or_null(running_var),
                                                      mean.data(), invstd.data(), C, N * HW, momentum, eps));
        break;
    }
    running_mean.bump_version();  // written in place (undefined: no-op)
    running_var.bump_version();
    return record_op(out, op, {&x, &gamma, &beta},
                     [xd, gd, mean, invstd, N, C, HW, need_x, need_g, need_b](const Tensor& dout) {
                       Tensor dx = need_x ? Tensor::empty(xd.shape(), dout.device()) : Tensor();
                       Tensor dg = need_g ? Tensor::empty({C}, dout.device()) : Tensor();
                       Tensor db = need_b ? Tensor::empty({C}, dout.device()) : Tensor();
                       switch (dout.device().type) {
                         case DeviceType::CPU:
                           cpu::batchnorm2d_backward(data_or_null(dx), data_or_null(dg), data_or_null(db), dout.data(),
                                                     xd.data(), data_or_null(gd), mean.data(), invstd.data(), N, C, HW);
                           break;
                         case DeviceType::CUDA:
                           TG_CUDA_CALL(cuda::batchnorm2d_backward(data_or_null(dx), data_or_null(dg), data_or_null(db),
                                                                   dout.data(), xd.data(), data_or_null(gd), mean.data(),
                                                                   invstd.data(), N, C, HW));
                           break;
                       }
                       return std::vector<Tensor>{dx, dg, db};
                     }, {need_x || need_g ? &xd : nullptr, need_x ? &gd : nullptr});  // dgamma and dx read x, dx gamma
  }

  TG_CHECK(running_mean.defined() && running_var.defined(),
           op << ": eval mode (training=false) needs running_mean and running_var, for input " << shape_str(x.shape()));
  switch (x.device().type) {
    case DeviceType::CPU:
      cpu::batchnorm2d_forward_eval(out.data(), x.data(), data_or_null(gamma), data_or_null(beta), running_mean.data(),
                                    running_var.data(), N, C, HW, eps);
      break;
    case DeviceType::CUDA:
      TG_CUDA_CALL(cuda::batchnorm2d_forward_eval(out.data(), x.data(), data_or_null(gamma), data_or_null(beta),
                                                  running_mean.data(), running_var.data(), N, C, HW, eps));
      break;
  }
  // The backward needs the statistics as they are now, not after a later training step updates them:
  // mean (C) copied, invstd (C) = 1 / sqrt(running_var + eps) computed on the host (C values).
  Tensor mean = running_mean.clone();
  std::vector<float> inv = running_var.to_vector();
  for (float& v : inv) v = static_cast<float>(1.0 / std::sqrt(static_cast<double>(v) + eps));
  Tensor invstd = Tensor::from_vector(inv, {C}).to(x.device());
  return record_op(out, op, {&x, &gamma, &beta},
                   [xd, gd, mean, invstd, N, C, HW, need_x, need_g, need_b](const Tensor& dout) {
                     Tensor dx = need_x ? Tensor::empty(xd.shape(), dout.device()) : Tensor();
                     Tensor dg = need_g ? Tensor::empty({C}, dout.device()) : Tensor();
                     Tensor db = need_b ? Tensor::empty({C}, dout.device()) : Tensor();
                     switch (dout.device().type) {
                       case DeviceType::CPU:
                         cpu::batchnorm2d_backward_eval(data_or_null(dx), data_or_null(dg), data_or_null(db),
                                                        dout.data(), xd.data(), data_or_null(gd), mean.data(),
                                                        invstd.data(), N, C, HW);
                         break;
                       case DeviceType::CUDA:
                         TG_CUDA_CALL(cuda::batchnorm2d_backward_eval(data_or_null(dx), data_or_null(dg),
                                                                      data_or_null(db), dout.data(), xd.data(),
                                                                      data_or_null(gd), mean.data(), invstd.data(), N, C,
                                                                      HW));
                         break;
                     }
                     return std::vector<Tensor>{dx, dg, db};
                   }, {need_g ? &xd : nullptr, need_x ? &gd : nullptr});  // dgamma reads x, dx gamma
}

// ---- add_relu: relu(a + b), the residual sum and its ReLU in one CPU pass ----

Tensor add_relu(const Tensor& a, const Tensor& b) {
  const char* op = "add_relu";
  check_defined(a, op, "a");
  check_defined(b, op, "b");
  check_same_device(a, b, op);
  cpu::broadcast_shapes(a.shape(), b.shape(), op);  // throws, naming add_relu, when they cannot broadcast
  // Broadcasting shapes and the GPU compose the two ops (the same values and gradients).
  if (a.shape() != b.shape() || !a.device().is_cpu()) return relu(add(a, b));
  Tensor out = Tensor::empty(a.shape(), a.device());
  cpu::add_relu_forward(out.data(), a.data(), b.data(), a.numel());  // out = max(a + b, 0)
  Tensor saved = out.detach();  // the ReLU mask: out > 0 exactly where a + b > 0
  return record_op(out, op, {&a, &b}, [saved](const Tensor& g) {
    Tensor d = Tensor::empty(saved.shape(), saved.device());  // d = g * (out > 0), for a and for b
    cpu::unary_backward(d.data(), g.data(), saved.data(), saved.data(), UnaryOp::Relu, 0.f, saved.numel());
    return std::vector<Tensor>{d, d};
  }, {&saved});
}

// ---- batch_norm2d_relu: relu(batch_norm2d(x)) in one pass each way on the CPU ----

Tensor batch_norm2d_relu(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                         const Tensor& running_var, bool training, float momentum, float eps) {
  const char* op = "batch_norm2d_relu";
  check_4d(x, op);
  const bool any_grad = grad_mode_enabled() && (x.requires_grad() || (gamma.defined() && gamma.requires_grad()) ||
                                                (beta.defined() && beta.requires_grad()));
  // The GPU, and eval mode with a gradient (rare: fine-tuning through frozen statistics), compose
  // the two ops; the results are the same.
  if (!x.device().is_cpu() || (!training && any_grad)) {
    return relu(batch_norm2d(x, gamma, beta, running_mean, running_var, training, momentum, eps));
  }
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  check_bn_args(x, gamma, beta, running_mean, running_var, momentum, eps, op);
  Tensor out = Tensor::empty(x.shape(), x.device());
  if (!training) {
    TG_CHECK(running_mean.defined() && running_var.defined(),
             op << ": eval mode (training=false) needs running_mean and running_var, for input " << shape_str(x.shape()));
    cpu::batchnorm2d_relu_forward_eval(out.data(), x.data(), data_or_null(gamma), data_or_null(beta),
                                       running_mean.data(), running_var.data(), N, C, HW, eps);
    return out;  // no gradient needed (checked above)
  }
  TG_CHECK(N * HW > 1, op << ": expected more than 1 value per channel when training, got input " << shape_str(x.shape()));
  Tensor mean = Tensor::empty({C}, x.device()), invstd = Tensor::empty({C}, x.device());  // (C)
  Tensor affine = Tensor::empty({2 * C}, x.device());  // the applied scales, then shifts: the backward's ReLU mask
  cpu::batchnorm2d_relu_forward_train(out.data(), mean.data(), invstd.data(), affine.data(), x.data(),
                                      data_or_null(gamma), data_or_null(beta), N, C, HW, eps);
  cpu::batchnorm2d_update_running(data_or_null(running_mean), data_or_null(running_var), mean.data(), invstd.data(),
                                  C, N * HW, momentum, eps);
  running_mean.bump_version();
  running_var.bump_version();
  const bool need_x = x.requires_grad();
  const bool need_g = gamma.defined() && gamma.requires_grad(), need_b = beta.defined() && beta.requires_grad();
  Tensor xd = x.detach(), gd = gamma.defined() ? gamma.detach() : Tensor();
  return record_op(out, op, {&x, &gamma, &beta},
                   [xd, gd, affine, mean, invstd, N, C, HW, need_x, need_g, need_b](const Tensor& dout) {
                     Tensor dx = need_x ? Tensor::empty(xd.shape(), dout.device()) : Tensor();
                     Tensor dg = need_g ? Tensor::empty({C}, dout.device()) : Tensor();
                     Tensor db = need_b ? Tensor::empty({C}, dout.device()) : Tensor();
                     // dz = dout * (z > 0), z = x * scale + shift recomputed from x (out is not read),
                     // then the batch-norm backward of dz (one fused pass).
                     cpu::batchnorm2d_relu_backward(data_or_null(dx), data_or_null(dg), data_or_null(db), dout.data(),
                                                    affine.data(), xd.data(), data_or_null(gd), mean.data(),
                                                    invstd.data(), N, C, HW);
                     return std::vector<Tensor>{dx, dg, db};
                   }, {&xd, need_x ? &gd : nullptr});  // the ReLU mask (every gradient) reads x, dx gamma
}

// ---- batch_norm2d_relu_maxpool2x2: max_pool2d(relu(batch_norm2d(x)), 2), the full-size output never stored ----

Tensor batch_norm2d_relu_maxpool2x2(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                   const Tensor& running_mean, const Tensor& running_var, bool training,
                                   float momentum, float eps) {
  const char* op = "batch_norm2d_relu_maxpool2x2";
  check_4d(x, op);
  TG_CHECK(x.size(2) >= 2 && x.size(3) >= 2,
           op << ": the 2x2 max pool needs maps of at least 2x2, got input " << shape_str(x.shape()));
  // Eval mode (in inference the conv usually folds the batch norm: fold_bn.h) and the GPU compose
  // the ops; the results are the same.
  if (!training || !x.device().is_cpu()) {
    return max_pool2d(batch_norm2d_relu(x, gamma, beta, running_mean, running_var, training, momentum, eps), 2);
  }
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  check_bn_args(x, gamma, beta, running_mean, running_var, momentum, eps, op);
  TG_CHECK(N * H * W > 1, op << ": expected more than 1 value per channel when training, got input " << shape_str(x.shape()));
  Tensor out = Tensor::empty({N, C, H / 2, W / 2}, x.device());
  auto indices = std::make_shared<Storage>(static_cast<size_t>(out.numel()) * sizeof(int32_t), x.device());
  Tensor mean = Tensor::empty({C}, x.device()), invstd = Tensor::empty({C}, x.device());  // (C)
  Tensor affine = Tensor::empty({2 * C}, x.device());  // the applied scales, then shifts: the backward's ReLU mask
  cpu::batchnorm2d_relu_maxpool2x2_forward_train(out.data(), static_cast<int32_t*>(indices->data()), mean.data(),
                                                 invstd.data(), affine.data(), x.data(), data_or_null(gamma),
                                                 data_or_null(beta), N, C, H, W, eps);
  cpu::batchnorm2d_update_running(data_or_null(running_mean), data_or_null(running_var), mean.data(), invstd.data(),
                                  C, N * H * W, momentum, eps);
  running_mean.bump_version();
  running_var.bump_version();
  const bool need_x = x.requires_grad();
  const bool need_g = gamma.defined() && gamma.requires_grad(), need_b = beta.defined() && beta.requires_grad();
  Tensor xd = x.detach(), gd = gamma.defined() ? gamma.detach() : Tensor();
  return record_op(out, op, {&x, &gamma, &beta},
                   [xd, gd, indices, affine, mean, invstd, N, C, H, W, need_x, need_g, need_b](const Tensor& dout) {
                     Tensor dx = need_x ? Tensor::empty(xd.shape(), dout.device()) : Tensor();
                     Tensor dg = need_g ? Tensor::empty({C}, dout.device()) : Tensor();
                     Tensor db = need_b ? Tensor::empty({C}, dout.device()) : Tensor();
                     cpu::batchnorm2d_relu_maxpool2x2_backward(
                         data_or_null(dx), data_or_null(dg), data_or_null(db), dout.data(),
                         static_cast<const int32_t*>(indices->data()), affine.data(), xd.data(), data_or_null(gd),
                         mean.data(), invstd.data(), N, C, H, W);
                     return std::vector<Tensor>{dx, dg, db};
                   }, {&xd, need_x ? &gd : nullptr});  // the ReLU mask (every gradient) reads x, dx gamma
}

// ---- pooling ----

Tensor max_pool2d(const Tensor& x, int kernel, int stride, int padding) {
  const char* op = "max_pool2d";
  const PoolShape s = pool_shape(x, kernel, stride, padding, op);
  Tensor out = Tensor::empty({s.N, s.C, s.P(), s.Q()}, x.device());
  // argmax per output element (flat h*W + w within its plane), int32, on the tensor's device; on the
  // CPU only when a backward may read it.
  const bool need_indices = x.device().is_cuda() || any_requires_grad({&x});
  auto indices = need_indices
                     ? std::make_shared<Storage>(static_cast<size_t>(out.numel()) * sizeof(int32_t), x.device())
                     : nullptr;
  switch (x.device().type) {
    case DeviceType::CPU:
      cpu::max_pool2d_forward(out.data(), indices ? static_cast<int32_t*>(indices->data()) : nullptr, x.data(), s);
      break;
    case DeviceType::CUDA:
      TG_CUDA_CALL(cuda::max_pool2d_forward(out.data(), static_cast<int32_t*>(indices->data()), x.data(), s));
      break;
  }
  const Shape in_shape = x.shape();
  return record_op(out, op, {&x}, [indices, s, in_shape](const Tensor& dout) {
    Tensor dx = Tensor::empty(in_shape, dout.device());
    switch (dout.device().type) {
      case DeviceType::CPU:
        cpu::max_pool2d_backward(dx.data(), dout.data(), static_cast<const int32_t*>(indices->data()), s);
        break;
      case DeviceType::CUDA:
        TG_CUDA_CALL(cuda::max_pool2d_backward(dx.data(), dout.data(), static_cast<const int32_t*>(indices->data()), s));
        break;
    }
    return std::vector<Tensor>{dx};
  });
}

Tensor avg_pool2d(const Tensor& x, int kernel, int stride, int padding) {
  const char* op = "avg_pool2d";
  const PoolShape s = pool_shape(x, kernel, stride, padding, op);
  Tensor out = Tensor::empty({s.N, s.C, s.P(), s.Q()}, x.device());
  switch (x.device().type) {
    case DeviceType::CPU: cpu::avg_pool2d_forward(out.data(), x.data(), s); break;
    case DeviceType::CUDA: TG_CUDA_CALL(cuda::avg_pool2d_forward(out.data(), x.data(), s)); break;
  }
  const Shape in_shape = x.shape();
  return record_op(out, op, {&x}, [s, in_shape](const Tensor& dout) {
    Tensor dx = Tensor::empty(in_shape, dout.device());
    switch (dout.device().type) {
      case DeviceType::CPU: cpu::avg_pool2d_backward(dx.data(), dout.data(), s); break;
      case DeviceType::CUDA: TG_CUDA_CALL(cuda::avg_pool2d_backward(dx.data(), dout.data(), s)); break;
    }
    return std::vector<Tensor>{dx};
  });
}

Tensor global_avg_pool2d(const Tensor& x) {
  const char* op = "global_avg_pool2d";
  check_4d(x, op);
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  Tensor out = Tensor::empty({N, C}, x.device());
  switch (x.device().type) {
    case DeviceType::CPU: cpu::global_avg_pool2d_forward(out.data(), x.data(), N * C, HW); break;
    case DeviceType::CUDA: TG_CUDA_CALL(cuda::global_avg_pool2d_forward(out.data(), x.data(), N * C, HW)); break;
  }
  const Shape in_shape = x.shape();
  return record_op(out, op, {&x}, [in_shape, N, C, HW](const Tensor& dout) {
    Tensor dx = Tensor::empty(in_shape, dout.device());
    switch (dout.device().type) {
      case DeviceType::CPU: cpu::global_avg_pool2d_backward(dx.data(), dout.data(), N * C, HW); break;
      case DeviceType::CUDA: TG_CUDA_CALL(cuda::global_avg_pool2d_backward(dx.data(), dout.data(), N * C, HW)); break;
    }
    return std::vector<Tensor>{dx};
  });
}

// ---- dropout ----

namespace {

// y = t * mask, elementwise, on t's device (mask already there), recording no autograd node.
Tensor times_mask(const Tensor& t, const Tensor& mask) {
  switch (t.device().type) {
    case DeviceType::CPU: {
      Tensor y = Tensor::empty(t.shape(), t.device());
      const float* a = t.data();
      const float* m = mask.data();
      float* out = y.data();
      const int64_t n = t.numel();
      if (reference_kernels()) {  // TG_KERNELS=reference (engine/cpu/kernel_mode.h)
        cpu::reference::dropout_apply(out, a, m, n);
        return y;
      }
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) out[i] = a[i] * m[i];
      return y;
    }
    case DeviceType::CUDA: {  // the elementwise product op's CUDA kernel
      NoGradGuard no_grad;
      return mul(t.detach(), mask);
    }
  }
  throw_no_kernel("dropout", t.device());
}

}  // namespace

Tensor dropout(const Tensor& x, float p, bool training, Generator& gen) {
  const char* op = "dropout";
  check_defined(x, op, "input");
  TG_CHECK(p >= 0.f && p <= 1.f, op << ": probability must be in [0, 1], got " << p);
  if (!training || p == 0.f) return x;  // identity (PyTorch returns the input itself too)
  // mask = keep / (1 - p) with keep ~ Bernoulli(1 - p), drawn on the host in element order so the
  // same generator state gives the same mask on every device; p = 1 drops everything.
  Tensor mask = Tensor::empty(x.shape());
  {
    float* m = mask.data();
    const float scale = p < 1.f ? 1.f / (1.f - p) : 0.f;
    for (int64_t i = 0; i < mask.numel(); ++i) m[i] = gen.uniform() >= p ? scale : 0.f;
  }
  mask = mask.to(x.device());
  Tensor out = times_mask(x, mask);  // y = x * mask
  return record_op(out, op, {&x}, [mask](const Tensor& dout) {
    return std::vector<Tensor>{times_mask(dout, mask)};  // dx = dout * mask
  });
}

}  // namespace tg
