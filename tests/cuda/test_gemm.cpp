// CPU/CUDA parity of our SGEMM (cuda/gemm.h) against engine/cpu/matmul.h: every transpose
// combination, ragged sizes (partial tiles), both tile configurations, alpha/beta, batched forms.
#include <doctest/doctest.h>

#ifdef TRUSTGRAD_WITH_CUDA
#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "cuda/gemm.h"
#include "engine/cpu/matmul.h"
#include "tests/cuda/cuda_test_util.h"

using namespace tg;
using namespace tg::cuda::test;

namespace {
std::string gemm_name(bool ta, bool tb, int64_t M, int64_t N, int64_t K) {
  return std::string("gemm ") + (ta ? "T" : "N") + (tb ? "T" : "N") + " " + std::to_string(M) + "x" +
         std::to_string(N) + "x" + std::to_string(K);
}
}  // namespace

TEST_CASE("cuda gemm matches the CPU for all transposes and ragged sizes") {
  TG_REQUIRE_CUDA_DEVICE();
  // Small and ragged sizes use 64x64 tiles; 1536x1536 fills the GPU with 128x128 tiles.
  const std::vector<std::tuple<int64_t, int64_t, int64_t>> sizes = {
      {1, 1, 1}, {37, 45, 29}, {64, 64, 64}, {130, 257, 65}, {7, 300, 1000}, {1536, 1536, 96}};
  uint32_t seed = 70;
  for (const auto& [M, N, K] : sizes)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        const auto A = random_floats(M * K, seed++), B = random_floats(K * N, seed++);
        auto C = random_floats(M * N, seed++);
        DeviceFloats dA(A), dB(B), dC(C);
        std::vector<float> ref = C;
        cpu::gemm(ta, tb, M, N, K, 0.75f, A.data(), B.data(), 0.5f, ref.data());
        cuda::gemm(ta, tb, M, N, K, 0.75f, dA.get(), dB.get(), 0.5f, dC.get());
        // Sums of K products of U(-1,1): error grows like sqrt(K) ulps of the partial sums.
        check_close(dC.host(), ref, 1e-4, 2e-6 * std::sqrt(static_cast<double>(K)), gemm_name(ta, tb, M, N, K));
      }
}

TEST_CASE("cuda gemm with beta = 0 never reads C (NaN in C is ignored)") {
  TG_REQUIRE_CUDA_DEVICE();
  const int64_t M = 33, N = 17, K = 9;
  const auto A = random_floats(M * K, 80), B = random_floats(K * N, 81);
  DeviceFloats dA(A), dB(B), dC(std::vector<float>(M * N, std::numeric_limits<float>::quiet_NaN()));
  std::vector<float> ref(M * N, std::numeric_limits<float>::quiet_NaN());
  cpu::gemm(false, false, M, N, K, 1.f, A.data(), B.data(), 0.f, ref.data());
  cuda::gemm(false, false, M, N, K, 1.f, dA.get(), dB.get(), 0.f, dC.get());
  const auto got = dC.host();
  for (float v : got) REQUIRE(!std::isnan(v));
  check_close(got, ref, 1e-5, 1e-6, "gemm beta=0 over NaN");
}

TEST_CASE("cuda strided-batched and batch-reduced gemm match per-matrix CPU gemms") {
  TG_REQUIRE_CUDA_DEVICE();
  const int64_t M = 24, N = 50, K = 31, batch = 5;
  const auto A = random_floats(batch * M * K, 90), B = random_floats(batch * K * N, 91);
  DeviceFloats dA(A), dB(B), dC(batch * M * N), dShared(M * N);
  // C_i = A_i B_i^T-free form: A (M, K), B (K, N) per batch entry.
  std::vector<float> ref(batch * M * N), sum(M * N, 0.f);
  for (int64_t b = 0; b < batch; ++b) {
    cpu::gemm(false, false, M, N, K, 1.f, A.data() + b * M * K, B.data() + b * K * N, 0.f, ref.data() + b * M * N);
    cpu::gemm(false, false, M, N, K, 1.f, A.data() + b * M * K, B.data() + b * K * N, 1.f, sum.data());
  }
  cuda::gemm_strided_batched(false, false, M, N, K, 1.f, dA.get(), K, M * K, dB.get(), N, K * N, 0.f, dC.get(), N,
                             M * N, batch);
  check_close(dC.host(), ref, 1e-4, 1e-5, "gemm_strided_batched");
  // A shared across the batch (stride 0), as conv2d's forward uses the weights.
  std::vector<float> ref0(batch * M * N);
  for (int64_t b = 0; b < batch; ++b)
    cpu::gemm(false, false, M, N, K, 1.f, A.data(), B.data() + b * K * N, 0.f, ref0.data() + b * M * N);
  cuda::gemm_strided_batched(false, false, M, N, K, 1.f, dA.get(), K, 0, dB.get(), N, K * N, 0.f, dC.get(), N, M * N,
                             batch);
  check_close(dC.host(), ref0, 1e-4, 1e-5, "gemm_strided_batched shared A");
  cuda::gemm_batch_reduce(false, false, M, N, K, 1.f, dA.get(), K, M * K, dB.get(), N, K * N, 0.f, dShared.get(), N,
                          batch);
  check_close(dShared.host(), sum, 1e-4, 1e-5, "gemm_batch_reduce");
}

#endif  // TRUSTGRAD_WITH_CUDA
