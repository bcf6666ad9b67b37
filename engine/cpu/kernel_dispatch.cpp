// The public CPU kernel entry points, each forwarding to the table of the level in use (isa.h).
#include <string>

#include "engine/cpu/kernel_table.h"
#include "engine/cpu/reference/batchnorm.h"
#include "engine/error.h"
#include "engine/cpu/kernel_mode.h"

namespace tg::cpu {

namespace generic {
const KernelTable& kernel_table();
}
#if defined(TG_ISA_X86)
namespace avx2 {
const KernelTable& kernel_table();
}
namespace avx512 {
const KernelTable& kernel_table();
}
#endif

const KernelTable& kernels_for(CpuIsa isa) {
  if (isa > cpu_isa_supported())
    throw Error(std::string("CPU kernels for ") + cpu_isa_name(isa) + " asked for, but this CPU supports only " +
                cpu_isa_name(cpu_isa_supported()));
#if defined(TG_ISA_X86)
  if (isa == CpuIsa::Avx512) return avx512::kernel_table();
  if (isa == CpuIsa::Avx2) return avx2::kernel_table();
#endif
  return generic::kernel_table();
}

const KernelTable& kernels() {
  static const KernelTable& table = kernels_for(cpu_isa());
  return table;
}

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  kernels().sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
int64_t sgemm_packed_a_floats(int64_t M, int64_t K) { return kernels().sgemm_packed_a_floats(M, K); }
void sgemm_pack_a(float* packed_a, bool trans_a, int64_t M, int64_t K, const float* A, int64_t lda) {
  kernels().sgemm_pack_a(packed_a, trans_a, M, K, A, lda);
}
void sgemm_packed(const float* packed_a, int64_t M, int64_t K, bool trans_b, int64_t N, float alpha, const float* B,
                  int64_t ldb, float beta, float* C, int64_t ldc) {
  kernels().sgemm_packed(packed_a, M, K, trans_b, N, alpha, B, ldb, beta, C, ldc);
}

bool winograd_applies(const ConvShape& s) { return kernels().winograd_applies(s); }
void winograd_forward(float* out, const float* in, const float* w, const float* b, const ConvShape& s,
                      ConvEpilogue epi) {
  kernels().winograd_forward(out, in, w, b, s, epi);
}
void winograd_backward(float* din, float* dw, const float* dout, const float* in, const float* w, const ConvShape& s) {
  kernels().winograd_backward(din, dw, dout, in, w, s);
}

bool direct_applies(const ConvShape& s) { return kernels().direct_applies(s); }
void direct_forward(float* out, const float* in, const float* w, const float* b, const ConvShape& s, bool relu) {
  kernels().direct_forward(out, in, w, b, s, relu);
}
void direct_weight_grad(float* dw, const float* dout, const float* in, const ConvShape& s) {
  kernels().direct_weight_grad(dw, dout, in, s);
}
void direct_input_grad(float* din, const float* dout, const float* w, const ConvShape& s) {
  kernels().direct_input_grad(din, dout, w, s);
}

void batchnorm2d_forward_train(float* out, float* save_mean, float* save_invstd, const float* in, const float* gamma,
                               const float* beta, int64_t N, int64_t C, int64_t HW, float eps) {
  if (reference_kernels())
    return reference::batchnorm2d_forward_train(out, save_mean, save_invstd, in, gamma, beta, N, C, HW, eps);
  kernels().batchnorm2d_forward_train(out, save_mean, save_invstd, in, gamma, beta, N, C, HW, eps);
}
void batchnorm2d_forward_eval(float* out, const float* in, const float* gamma, const float* beta,
                              const float* running_mean, const float* running_var, int64_t N, int64_t C, int64_t HW,
                              float eps) {
  if (reference_kernels())
    return reference::batchnorm2d_forward_eval(out, in, gamma, beta, running_mean, running_var, N, C, HW, eps);
  kernels().batchnorm2d_forward_eval(out, in, gamma, beta, running_mean, running_var, N, C, HW, eps);
}
void batchnorm2d_backward(float* din, float* dgamma, float* dbeta, const float* dout, const float* in,
                          const float* gamma, const float* save_mean, const float* save_invstd, int64_t N, int64_t C,
                          int64_t HW) {
  if (reference_kernels())
    return reference::batchnorm2d_backward(din, dgamma, dbeta, dout, in, gamma, save_mean, save_invstd, N, C, HW);
  kernels().batchnorm2d_backward(din, dgamma, dbeta, dout, in, gamma, save_mean, save_invstd, N, C, HW);
}
void batchnorm2d_backward_eval(float* din, float* dgamma, float* dbeta, const float* dout, const float* in,
                               const float* gamma, const float* mean, const float* invstd, int64_t N, int64_t C,
                               int64_t HW) {
  if (reference_kernels())
    return reference::batchnorm2d_backward_eval(din, dgamma, dbeta, dout, in, gamma, mean, invstd, N, C, HW);
  kernels().batchnorm2d_backward_eval(din, dgamma, dbeta, dout, in, gamma, mean, invstd, N, C, HW);
}
void batchnorm2d_relu_forward_train(float* out, float* save_mean, float* save_invstd, float* save_affine,
                                    const float* in, const float* gamma, const float* beta, int64_t N, int64_t C,
                                    int64_t HW, float eps) {
  if (reference_kernels())
    return reference::batchnorm2d_relu_forward_train(out, save_mean, save_invstd, save_affine, in, gamma, beta, N, C,
                                                     HW, eps);
  kernels().batchnorm2d_relu_forward_train(out, save_mean, save_invstd, save_affine, in, gamma, beta, N, C, HW, eps);
}
void batchnorm2d_relu_forward_eval(float* out, const float* in, const float* gamma, const float* beta,
                                   const float* running_mean, const float* running_var, int64_t N, int64_t C,
                                   int64_t HW, float eps) {
  if (reference_kernels())
    return reference::batchnorm2d_relu_forward_eval(out, in, gamma, beta, running_mean, running_var, N, C, HW, eps);
  kernels().batchnorm2d_relu_forward_eval(out, in, gamma, beta, running_mean, running_var, N, C, HW, eps);
}
void batchnorm2d_relu_backward(float* din, float* dgamma, float* dbeta, const float* dout, const float* affine,
                               const float* in, const float* gamma, const float* save_mean, const float* save_invstd,
                               int64_t N, int64_t C, int64_t HW) {
  if (reference_kernels())
    return reference::batchnorm2d_relu_backward(din, dgamma, dbeta, dout, affine, in, gamma, save_mean, save_invstd, N,
                                                C, HW);
  kernels().batchnorm2d_relu_backward(din, dgamma, dbeta, dout, affine, in, gamma, save_mean, save_invstd, N, C, HW);
}
void batchnorm2d_relu_maxpool2x2_forward_train(float* out, int32_t* indices, float* save_mean, float* save_invstd,
                                               float* save_affine, const float* in, const float* gamma,
                                               const float* beta, int64_t N, int64_t C, int64_t H, int64_t W,
                                               float eps) {
  if (reference_kernels())
    return reference::batchnorm2d_relu_maxpool2x2_forward_train(out, indices, save_mean, save_invstd, save_affine, in,
                                                                gamma, beta, N, C, H, W, eps);
  kernels().batchnorm2d_relu_maxpool2x2_forward_train(out, indices, save_mean, save_invstd, save_affine, in, gamma,
                                                      beta, N, C, H, W, eps);
}
void batchnorm2d_relu_maxpool2x2_backward(float* din, float* dgamma, float* dbeta, const float* dout,
                                          const int32_t* indices, const float* affine, const float* in,
                                          const float* gamma, const float* save_mean, const float* save_invstd,
                                          int64_t N, int64_t C, int64_t H, int64_t W) {
  if (reference_kernels())
    return reference::batchnorm2d_relu_maxpool2x2_backward(din, dgamma, dbeta, dout, indices, affine, in, gamma,
                                                           save_mean, save_invstd, N, C, H, W);
  kernels().batchnorm2d_relu_maxpool2x2_backward(din, dgamma, dbeta, dout, indices, affine, in, gamma, save_mean,
                                                 save_invstd, N, C, H, W);
}
void batchnorm2d_update_running(float* running_mean, float* running_var, const float* save_mean,
                                const float* save_invstd, int64_t C, int64_t count, float momentum, float eps) {
  if (reference_kernels())
    return reference::batchnorm2d_update_running(running_mean, running_var, save_mean, save_invstd, C, count, momentum,
                                                 eps);
  kernels().batchnorm2d_update_running(running_mean, running_var, save_mean, save_invstd, C, count, momentum, eps);
}

void max_pool2x2_forward(float* out, int32_t* indices, const float* in, const PoolShape& s) {
  kernels().max_pool2x2_forward(out, indices, in, s);
}
void max_pool2x2_backward(float* din, const float* dout, const int32_t* indices, const PoolShape& s) {
  kernels().max_pool2x2_backward(din, dout, indices, s);
}

}  // namespace tg::cpu
