// The bf16 GEMM of ConvPrecision::Bf16 (train --precision bf16): operands rounded to bfloat16
// (8-bit mantissa), products summed in fp32, C stays fp32. Same arguments as sgemm (sgemm.h):
//
//   C (M, N) = alpha * bf16(op(A)) bf16(op(B)) + beta * C        beta = 0 never reads C
//
//   bf16(x): x rounded to the nearest bfloat16, ties to even (the top 16 bits of the fp32 after
//            rounding); a NaN stays NaN; a subnormal becomes a signed zero (the CPU's conversion
//            instruction treats denormals as zero, and so does round_to_bf16 for the same results).
//
// Where it runs (chosen once, like the ISA level; tg::cpu_bf16_gemm() in isa.h names it):
//   amx          Intel AMX tiles (TDPBF16PS: 16x16 fp32 += 16x32 bf16 x 32x16 bf16), when the CPU
//                has AMX-TILE, AMX-BF16 and AVX512-BF16, the OS saves the tile state (XCR0) and
//                grants it to this process (arch_prctl). 3.2 TFLOP/s per core (a scratch loop of four
//                independent TDPBF16PS, not in the repository) on the host
//                of docs/performance.md against ~0.15 for our AVX-512 fp32 sgemm (peak of the
//                instruction; with packing 1.6-4.3x sgemm on conv-sized products, bench_gemm).
//   avx512_bf16  VDPBF16PS (two bf16 products summed into each fp32 lane) where the CPU has
//                AVX512-BF16 but no AMX (AMD Zen 4/5, Intel Cooper Lake): twice the multiply-adds
//                of an fp32 FMA per instruction.
//   emulated     everywhere else, or with TG_CPU_ISA below avx512: op(A) and op(B) rounded into
//              fp32 copies, then sgemm. The same rounded operands and the same fp32 products (a
//              bf16 x bf16 product is exact in fp32); only the order of the sums differs. Not
//              faster than fp32: it is there so that a bf16 run means the same numbers everywhere.
// engine/cpu/bf16/gemm_bf16_kernels.cpp has the two hardware kernels and their packing.
#pragma once
#include <cstdint>
#include <vector>

namespace tg::cpu {

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// A left operand packed once for many products (Winograd's weight planes, the same for every chunk
// of tiles), in the layout of the kernel gemm_bf16 uses (bf16 tiles; for the emulation op(A)
// rounded, row-major):
//   float* p = (gemm_bf16_packed_a_floats(M, K) floats, 64-byte aligned);
//   gemm_bf16_pack_a(p, trans_a, M, K, A, lda);
//   gemm_bf16_packed(p, M, K, trans_b, N, alpha, B, ldb, beta, C, ldc);  // == gemm_bf16(trans_a, ...)
int64_t gemm_bf16_packed_a_floats(int64_t M, int64_t K);
void gemm_bf16_pack_a(float* packed_a, bool trans_a, int64_t M, int64_t K, const float* A, int64_t lda);
// `count` such operands at once, op(A_i) (M, K) with A_i = A + i * a_stride (a conv's weight planes
// or groups), packed one after another into buf (grown as needed, `threads` sharing the work);
// returns the first, and in *packed_stride the floats from one to the next.
const float* gemm_bf16_pack_planes(std::vector<float>& buf, int64_t count, bool trans_a, int64_t M, int64_t K,
                                   const float* A, int64_t lda, int64_t a_stride, int64_t* packed_stride, int threads);
void gemm_bf16_packed(const float* packed_a, int64_t M, int64_t K, bool trans_b, int64_t N, float alpha, const float* B,
                      int64_t ldb, float beta, float* C, int64_t ldc);

// Each kernel by name, for the tests and benches (gemm_bf16 calls the best one the CPU has).
// gemm_bf16_with throws tg::Error for a kernel this CPU or build cannot run (bf16_kernel_runs).
enum class Bf16Kernel { Emulated, Avx512Bf16, Amx };
bool bf16_kernel_runs(Bf16Kernel kernel);
const char* bf16_kernel_name(Bf16Kernel kernel);  // "emulated", "avx512_bf16", "amx"
void gemm_bf16_with(Bf16Kernel kernel, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// The emulated path, callable on any CPU.
void gemm_bf16_emulated(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                        int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// bf16(x) above, returned as the fp32 with the same value.
float round_to_bf16(float x);

}  // namespace tg::cpu
