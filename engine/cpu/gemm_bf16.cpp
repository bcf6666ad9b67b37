// gemm_bf16 (gemm_bf16.h): AMX or AVX512-BF16 where this machine has them, else the rounded operands
// through sgemm.
#include "engine/cpu/gemm_bf16.h"

#include <cstring>
#include <string>
#include <vector>

#include "engine/cpu/bf16/gemm_bf16_kernels.h"
#include "engine/cpu/isa.h"
#include "engine/cpu/scratch.h"
#include "engine/cpu/sgemm.h"
#include "engine/error.h"

namespace tg::cpu {

namespace {
thread_local std::vector<float> t_round_b, t_packed_a;
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

namespace {

// The emulation's packed A: op(A) (M, K) rounded, row-major.
void round_a(float* a, bool trans_a, int64_t M, int64_t K, const float* A, int64_t lda) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t k = 0; k < K; ++k) a[i * K + k] = round_to_bf16(trans_a ? A[k * lda + i] : A[i * lda + k]);
}

// C = alpha a bf16(op(B)) + beta C for a rounded by round_a.
void emulated_packed(const float* a, int64_t M, int64_t K, bool trans_b, int64_t N, float alpha, const float* B,
                     int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  float* b = grow_aligned(t_round_b, static_cast<size_t>(K * N));  // (K, N) = bf16(op(B)), row-major
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < N; ++j) b[k * N + j] = round_to_bf16(trans_b ? B[j * ldb + k] : B[k * ldb + j]);
  sgemm(false, false, M, N, K, alpha, a, K, b, N, beta, C, ldc);
}

int64_t packed_a_floats(Bf16Kernel kernel, int64_t M, int64_t K) {
#if defined(TG_WITH_BF16_KERNELS)
  if (kernel != Bf16Kernel::Emulated) return bf16::pack_a_floats(M, K);
#endif
  (void)kernel;
  return M * K;
}

void pack_a(Bf16Kernel kernel, float* packed_a, bool trans_a, int64_t M, int64_t K, const float* A, int64_t lda) {
#if defined(TG_WITH_BF16_KERNELS)
  if (kernel != Bf16Kernel::Emulated) return bf16::pack_a_tiles(packed_a, trans_a, M, K, A, lda);
#endif
  round_a(packed_a, trans_a, M, K, A, lda);
}

void gemm_packed(Bf16Kernel kernel, const float* packed_a, int64_t M, int64_t K, bool trans_b, int64_t N, float alpha,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  switch (kernel) {
#if defined(TG_WITH_BF16_KERNELS)
    case Bf16Kernel::Amx: return bf16::gemm_amx(packed_a, M, K, trans_b, N, alpha, B, ldb, beta, C, ldc);
    case Bf16Kernel::Avx512Bf16:
      return bf16::gemm_avx512_bf16(packed_a, M, K, trans_b, N, alpha, B, ldb, beta, C, ldc);
#endif
    default: return emulated_packed(packed_a, M, K, trans_b, N, alpha, B, ldb, beta, C, ldc);
  }
}

Bf16Kernel best_kernel() {
  static const Bf16Kernel best = bf16_kernel_runs(Bf16Kernel::Amx)          ? Bf16Kernel::Amx
                                 : bf16_kernel_runs(Bf16Kernel::Avx512Bf16) ? Bf16Kernel::Avx512Bf16
                                                                            : Bf16Kernel::Emulated;
  return best;
}

}  // namespace

void gemm_bf16_emulated(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                        int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_bf16_with(Bf16Kernel::Emulated, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
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
  if (M <= 0 || N <= 0) return;
  float* packed_a = grow_aligned(t_packed_a, static_cast<size_t>(packed_a_floats(kernel, M, K)));
  pack_a(kernel, packed_a, trans_a, M, K, A, lda);
  gemm_packed(kernel, packed_a, M, K, trans_b, N, alpha, B, ldb, beta, C, ldc);
}

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_bf16_with(best_kernel(), trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

int64_t gemm_bf16_packed_a_floats(int64_t M, int64_t K) { return packed_a_floats(best_kernel(), M, K); }

void gemm_bf16_pack_a(float* packed_a, bool trans_a, int64_t M, int64_t K, const float* A, int64_t lda) {
  pack_a(best_kernel(), packed_a, trans_a, M, K, A, lda);
}

const float* gemm_bf16_pack_planes(std::vector<float>& buf, int64_t count, bool trans_a, int64_t M, int64_t K,
                                   const float* A, int64_t lda, int64_t a_stride, int64_t* packed_stride, int threads) {
  const int64_t stride = (gemm_bf16_packed_a_floats(M, K) + 15) / 16 * 16;  // each one 64-byte aligned
  float* packed = grow_aligned(buf, static_cast<size_t>(count * stride));
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && count > 1 && M * K >= 4096)
  for (int64_t i = 0; i < count; ++i) gemm_bf16_pack_a(packed + i * stride, trans_a, M, K, A + i * a_stride, lda);
  *packed_stride = stride;
  return packed;
}

void gemm_bf16_packed(const float* packed_a, int64_t M, int64_t K, bool trans_b, int64_t N, float alpha, const float* B,
                      int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_packed(best_kernel(), packed_a, M, K, trans_b, N, alpha, B, ldb, beta, C, ldc);
}

}  // namespace tg::cpu
