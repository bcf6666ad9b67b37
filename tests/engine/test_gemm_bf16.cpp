// The bf16 GEMM (engine/cpu/gemm_bf16.h): the rounding to bfloat16 on exact cases (ties to even,
// NaN, inf, subnormals, overflow), then the GEMM, every kernel this machine runs (AMX, AVX512-BF16,
// the emulation) and the dispatched one, against a double-precision triple loop over the ROUNDED
// operands, in the four transpose cases, ragged sizes around the 16 x 32 tiles and 8-row blocks,
// row strides, alpha, beta, K = 0.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "engine/cpu/gemm_bf16.h"
#include "engine/cpu/isa.h"
#include "engine/error.h"
#include "engine/random.h"

using tg::cpu::round_to_bf16;

namespace {

uint32_t bits_of(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

struct Case {
  bool ta, tb;
  int64_t M, N, K;
  int64_t pad = 0;  // extra floats past every row of A, B and C
  float alpha = 1.f, beta = 0.f;
};

using Gemm = void (*)(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t, float,
                      float*, int64_t);

// Largest |ours - ref| / (1 + |ref|) with ref computed in double from the rounded operands
// (rounded = true) or from the fp32 operands as given (rounded = false).
double worst_error(Gemm gemm, const Case& c, bool rounded) {
  tg::Generator gen(static_cast<uint64_t>(c.M * 131 + c.N * 17 + c.K + (c.ta ? 7 : 0) + (c.tb ? 3 : 0)));
  const int64_t a_rows = c.ta ? c.K : c.M, a_cols = c.ta ? c.M : c.K;
  const int64_t b_rows = c.tb ? c.N : c.K, b_cols = c.tb ? c.K : c.N;
  const int64_t lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.N + c.pad;
  std::vector<float> A(static_cast<size_t>(a_rows * lda)), B(static_cast<size_t>(b_rows * ldb));
  std::vector<float> C(static_cast<size_t>(c.M * ldc));
  for (float& v : A) v = gen.uniform(-1.f, 1.f);
  for (float& v : B) v = gen.uniform(-1.f, 1.f);
  for (float& v : C) v = c.beta == 0.f ? std::numeric_limits<float>::quiet_NaN() : gen.uniform(-1.f, 1.f);
  const std::vector<float> C0 = C;
  gemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C.data(), ldc);
  auto operand = [rounded](float v) { return static_cast<double>(rounded ? round_to_bf16(v) : v); };
  double worst = 0.0;
  for (int64_t i = 0; i < c.M; ++i) {
    for (int64_t j = 0; j < c.N; ++j) {
      double acc = 0.0;
      for (int64_t k = 0; k < c.K; ++k)
        acc += operand(c.ta ? A[k * lda + i] : A[i * lda + k]) * operand(c.tb ? B[j * ldb + k] : B[k * ldb + j]);
      const double ref = c.alpha * acc + (c.beta == 0.f ? 0.0 : static_cast<double>(c.beta) * C0[i * ldc + j]);
      const double err = std::abs(C[i * ldc + j] - ref) / (1.0 + std::abs(ref));
      worst = std::isnan(err) ? 1e30 : std::max(worst, err);
    }
    for (int64_t j = c.N; j < ldc; ++j) {  // past each row: never written
      const float before = C0[i * ldc + j], after = C[i * ldc + j];
      if (!(std::isnan(before) && std::isnan(after))) REQUIRE(after == before);
    }
  }
  return worst;
}

std::vector<Case> cases() {
  std::vector<Case> all;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      all.push_back({ta, tb, 1, 1, 1});
      all.push_back({ta, tb, 16, 16, 32});                 // one tile each
      all.push_back({ta, tb, 32, 32, 64});                 // one whole 2 x 2 block, two K steps
      all.push_back({ta, tb, 17, 33, 31});                 // ragged everywhere, odd K (half a pair)
      all.push_back({ta, tb, 70, 45, 97, 3});              // several blocks, strides past the rows
      all.push_back({ta, tb, 64, 200, 64, 0, 0.5f, 1.f});  // Winograd-like, accumulating
      all.push_back({ta, tb, 5, 129, 300, 1, -2.f, 0.25f});
      all.push_back({ta, tb, 41, 20, 70});                 // 8-row blocks: 5 full, one of 1 row
    }
  return all;
}

}  // namespace

TEST_CASE("round_to_bf16: nearest bfloat16, ties to even, NaN/inf kept, subnormals to signed zero") {
  CHECK(round_to_bf16(1.f) == 1.f);
  CHECK(round_to_bf16(1.f + 0x1p-8f) == 1.f);                  // halfway, 1 is even
  CHECK(round_to_bf16(1.f + 0x1p-8f + 0x1p-20f) == 1.f + 0x1p-7f);  // just past halfway
  CHECK(round_to_bf16(1.f + 3 * 0x1p-8f) == 1.f + 0x1p-6f);    // halfway, 1 + 2^-6 is even
  CHECK(round_to_bf16(-1.f - 0x1p-9f) == -1.f);
  CHECK(round_to_bf16(3.14159265f) == 3.140625f);
  CHECK(round_to_bf16(std::numeric_limits<float>::infinity()) == std::numeric_limits<float>::infinity());
  CHECK(round_to_bf16(std::numeric_limits<float>::max()) == std::numeric_limits<float>::infinity());  // past bf16's max
  CHECK(std::isnan(round_to_bf16(std::numeric_limits<float>::quiet_NaN())));
  CHECK(std::isnan(round_to_bf16(std::numeric_limits<float>::signaling_NaN())));
  CHECK(bits_of(round_to_bf16(-std::numeric_limits<float>::denorm_min())) == 0x80000000u);
  CHECK(bits_of(round_to_bf16(std::numeric_limits<float>::min())) == 0x00800000u);  // the smallest normal stays
  for (float x : {0.1f, -7.77f, 1e-20f, 6.5e30f}) CHECK((bits_of(round_to_bf16(x)) & 0xffffu) == 0u);
}

namespace {

// The kernels this machine runs, then the dispatched gemm_bf16 (Emulated always runs).
std::vector<std::pair<std::string, Gemm>> runnable_kernels() {
  std::vector<std::pair<std::string, Gemm>> all{{"emulated", &tg::cpu::gemm_bf16_emulated}};
  if (tg::cpu::bf16_kernel_runs(tg::cpu::Bf16Kernel::Avx512Bf16))
    all.emplace_back("avx512_bf16", [](bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                                       int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
      tg::cpu::gemm_bf16_with(tg::cpu::Bf16Kernel::Avx512Bf16, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    });
  if (tg::cpu::bf16_kernel_runs(tg::cpu::Bf16Kernel::Amx))
    all.emplace_back("amx", [](bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                               int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
      tg::cpu::gemm_bf16_with(tg::cpu::Bf16Kernel::Amx, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    });
  all.emplace_back(std::string("gemm_bf16 -> ") + tg::cpu_bf16_gemm(), &tg::cpu::gemm_bf16);
  return all;
}

}  // namespace

TEST_CASE("gemm_bf16: every kernel this machine runs equals the product of the rounded operands") {
  for (const auto& kernel : runnable_kernels()) {
    const std::string name = kernel.first;  // (a named copy: clang 14 cannot capture a structured binding)
    const Gemm gemm = kernel.second;
    MESSAGE("bf16 GEMM kernel " << name);
    CAPTURE(name);
    for (const Case& c : cases()) {
      CAPTURE(c.ta);
      CAPTURE(c.tb);
      CAPTURE(c.M);
      CAPTURE(c.N);
      CAPTURE(c.K);
      // fp32 sums of exact bf16 products: a few ulps of the sum per term at most
      CHECK(worst_error(gemm, c, /*rounded=*/true) < 2e-6 * static_cast<double>(c.K) + 1e-6);
    }
  }
}

TEST_CASE("gemm_bf16 really rounds: against the unrounded fp32 operands it is off by bf16's precision") {
  const Case c{false, false, 32, 32, 64};
  for (const auto& kernel : runnable_kernels()) {
    const std::string name = kernel.first;  // (a named copy: clang 14 cannot capture a structured binding)
    const Gemm gemm = kernel.second;
    CAPTURE(name);
    const double err = worst_error(gemm, c, /*rounded=*/false);
    CHECK(err > 1e-4);  // 64 terms, each operand off by up to 2^-9 relative
    CHECK(err < 5e-2);
  }
}

TEST_CASE("gemm_bf16: K = 0 gives beta * C, M or N = 0 touches nothing") {
  for (const auto& kernel : runnable_kernels()) {
    const std::string name = kernel.first;  // (a named copy: clang 14 cannot capture a structured binding)
    const Gemm gemm = kernel.second;
    CAPTURE(name);
    std::vector<float> A(4, 1.f), B(4, 1.f), C{1.f, 2.f, 3.f, 4.f};
    gemm(false, false, 2, 2, 0, 1.f, A.data(), 1, B.data(), 2, 0.5f, C.data(), 2);
    CHECK(C == std::vector<float>{0.5f, 1.f, 1.5f, 2.f});
    gemm(false, false, 0, 2, 2, 1.f, A.data(), 2, B.data(), 2, 0.f, C.data(), 2);
    gemm(false, false, 2, 0, 2, 1.f, A.data(), 2, B.data(), 2, 0.f, C.data(), 2);
    CHECK(C == std::vector<float>{0.5f, 1.f, 1.5f, 2.f});
  }
}

TEST_CASE("gemm_bf16_with: a kernel this CPU cannot run is refused by name") {
  for (tg::cpu::Bf16Kernel k : {tg::cpu::Bf16Kernel::Avx512Bf16, tg::cpu::Bf16Kernel::Amx}) {
    if (tg::cpu::bf16_kernel_runs(k)) continue;
    float a = 1.f, b = 1.f, c = 0.f;
    try {
      tg::cpu::gemm_bf16_with(k, false, false, 1, 1, 1, 1.f, &a, 1, &b, 1, 0.f, &c, 1);
      FAIL("expected an error");
    } catch (const tg::Error& e) {
      CHECK(std::string(e.what()).find(tg::cpu::bf16_kernel_name(k)) != std::string::npos);
    }
  }
  CHECK(tg::cpu::bf16_kernel_runs(tg::cpu::Bf16Kernel::Emulated));
}

TEST_CASE("gemm_bf16_pack_a + gemm_bf16_packed: the same bits as gemm_bf16, A packed once for several B") {
  tg::Generator gen(77);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      CAPTURE(ta);
      CAPTURE(tb);
      const int64_t M = 37, K = 45, lda = ta ? M : K;
      std::vector<float> A(static_cast<size_t>(M * K));
      for (float& v : A) v = gen.uniform(-1.f, 1.f);
      std::vector<float> packed(static_cast<size_t>(tg::cpu::gemm_bf16_packed_a_floats(M, K)) + 16);
      float* p = packed.data() + (16 - reinterpret_cast<uintptr_t>(packed.data()) / sizeof(float) % 16) % 16;
      tg::cpu::gemm_bf16_pack_a(p, ta, M, K, A.data(), lda);
      for (int64_t N : {1, 19, 64}) {  // one packed A, three products
        const int64_t ldb = tb ? K : N;
        std::vector<float> B(static_cast<size_t>(K * N)), C1(static_cast<size_t>(M * N), 0.5f), C2 = C1;
        for (float& v : B) v = gen.uniform(-1.f, 1.f);
        tg::cpu::gemm_bf16(ta, tb, M, N, K, 1.f, A.data(), lda, B.data(), ldb, 1.f, C1.data(), N);
        tg::cpu::gemm_bf16_packed(p, M, K, tb, N, 1.f, B.data(), ldb, 1.f, C2.data(), N);
        CHECK(C1 == C2);
      }
    }
}
