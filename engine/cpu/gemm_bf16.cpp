// gemm_bf16 (gemm_bf16.h): AMX or AVX512-BF16 where this machine has them, else the rounded operands
// through sgemm.
#include "engine/cpu/gemm_bf16.h"

#include <cstring>
#include <string>
#include <vector>

#include "engine/cpu/isa.h"
#include "engine/cpu/scratch.h"
#include "engine/cpu/sgemm.h"
#include "engine/error.h"

namespace tg::cpu {

#if defined(TG_WITH_BF16_KERNELS)
namespace bf16 {  // engine/cpu/bf16/gemm_bf16_kernels.cpp
void gemm_amx(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
              const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void gemm_avx512_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                      int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
}  // namespace bf16
#endif

namespace {
thread_local std::vector<float> t_round_a, t_round_b;
}  // namespace

float round_to_bf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  const uint32_t exponent = bits & 0x7f800000u, mantissa = bits & 0x007fffffu;
  if (exponent == 0x7f800000u && mantissa != 0) {
    bits = (bits | 0x00400000u) & 0xffff0000u;  // NaN: quiet, top bits kept
  } else if (exponent == 0) {
    bits &= 0x80000000u;  // zero or subnormal: a signed zero
  } else {
    bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest, ties to even (may carry into +-inf)
    bits &= 0xffff0000u;
  }
  float y;
  std::memcpy(&y, &bits, sizeof y);
  return y;
}

void gemm_bf16_emulated(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                        int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  // a (M, K) = bf16(op(A)), b (K, N) = bf16(op(B)), both row-major
  float* a = grow_aligned(t_round_a, static_cast<size_t>(M * K));
  float* b = grow_aligned(t_round_b, static_cast<size_t>(K * N));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t k = 0; k < K; ++k) a[i * K + k] = round_to_bf16(trans_a ? A[k * lda + i] : A[i * lda + k]);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < N; ++j) b[k * N + j] = round_to_bf16(trans_b ? B[j * ldb + k] : B[k * ldb + j]);
  sgemm(false, false, M, N, K, alpha, a, K, b, N, beta, C, ldc);
}

bool bf16_kernel_runs(Bf16Kernel kernel) {
  switch (kernel) {
    case Bf16Kernel::Emulated: return true;
#if defined(TG_WITH_BF16_KERNELS)
    case Bf16Kernel::Avx512Bf16: return cpu_isa() == CpuIsa::Avx512 && cpu_avx512_bf16_supported();
    case Bf16Kernel::Amx: return cpu_isa() == CpuIsa::Avx512 && cpu_amx_bf16_supported();
#endif
    default: return false;
  }
}

const char* bf16_kernel_name(Bf16Kernel kernel) {
  switch (kernel) {
    case Bf16Kernel::Avx512Bf16: return "avx512_bf16";
    case Bf16Kernel::Amx: return "amx";
    default: return "emulated";
  }
}

void gemm_bf16_with(Bf16Kernel kernel, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (!bf16_kernel_runs(kernel))
    throw Error(std::string("the ") + bf16_kernel_name(kernel) + " bf16 GEMM kernel does not run on this CPU or build "
                "(TG_CPU_ISA below avx512, or a compiler without -mamx-tile -mavx512bf16)");
  switch (kernel) {
#if defined(TG_WITH_BF16_KERNELS)
    case Bf16Kernel::Amx: return bf16::gemm_amx(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    case Bf16Kernel::Avx512Bf16:
      return bf16::gemm_avx512_bf16(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
    default: return gemm_bf16_emulated(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
}

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  static const Bf16Kernel best = bf16_kernel_runs(Bf16Kernel::Amx)          ? Bf16Kernel::Amx
                                 : bf16_kernel_runs(Bf16Kernel::Avx512Bf16) ? Bf16Kernel::Avx512Bf16
                                                                            : Bf16Kernel::Emulated;
  gemm_bf16_with(best, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace tg::cpu
