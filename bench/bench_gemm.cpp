// The machine's achievable float32 GFLOP/s through the engine's two GEMM paths: Eigen
// (tg::cpu::gemm, matmul/linear; Eigen threads each product) and our packed sgemm (conv2d; one
// single-threaded product per thread, side by side): the practical ceiling the layers aim at.
// Then, one thread, the products of a Winograd conv (M[xi] = U V, dU = E V^T, dV = U^T E for
// K = C channels and T tiles) through sgemm and through each bf16 GEMM kernel of --precision bf16
// this CPU runs (gemm_bf16.h: AMX tiles, AVX512-BF16 dot products), packing included.
//   bench_gemm [--threads N] [--json]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/support/flags.h"
#include "engine/cpu/gemm_bf16.h"
#include "engine/cpu/isa.h"
#include "engine/cpu/kernel_mode.h"
#include "engine/cpu/matmul.h"
#include "engine/cpu/sgemm.h"
#include "engine/parallel.h"
#include "engine/random.h"

namespace {

int run(tg::bench::Flags& f) {
  std::fprintf(stderr, "%s: cpu kernels %s (%s)\n", f.program().c_str(), tg::cpu_isa_name(tg::cpu_isa()),
               tg::kernel_mode_name());
  const int threads = static_cast<int>(f.integer("--threads", 2, 1, 1024));
  const bool json = f.has("--json");
  f.done();
  tg::set_num_threads(threads);
  tg::Generator gen(0);
  double best_gflops = 0.0;
  if (!json) std::printf("%6s %6s %6s %14s %14s\n", "M", "N", "K", "Eigen GFLOP/s", "sgemm GFLOP/s");
  for (int n : {256, 512, 1024, 2048}) {
    std::vector<float> A(static_cast<size_t>(n) * n), B(A.size()), C(A.size());
    for (float& v : A) v = gen.uniform(-1.f, 1.f);
    for (float& v : B) v = gen.uniform(-1.f, 1.f);
    tg::cpu::gemm(false, false, n, n, n, 1.f, A.data(), B.data(), 0.f, C.data());  // warm-up
    const int reps = n >= 2048 ? 3 : (n >= 1024 ? 8 : 40);
    std::vector<double> times;
    for (int r = 0; r < reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      tg::cpu::gemm(false, false, n, n, n, 1.f, A.data(), B.data(), 0.f, C.data());
      times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(times.begin(), times.end());
    const double median = times[times.size() / 2];
    const double gflops = 2.0 * n * n * static_cast<double>(n) / median * 1e-9;
    // Our sgemm: `threads` independent products at once, one per thread (as conv2d runs them).
    std::vector<std::vector<float>> Cs(threads, std::vector<float>(A.size()));
    std::vector<double> own;
    for (int r = 0; r < reps; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for num_threads(threads) schedule(static, 1)
      for (int t = 0; t < threads; ++t) tg::cpu::sgemm(false, false, n, n, n, 1.f, A.data(), n, B.data(), n, 0.f, Cs[t].data(), n);
      own.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(own.begin(), own.end());
    const double own_gflops = 2.0 * n * n * static_cast<double>(n) * threads / own[own.size() / 2] * 1e-9;
    best_gflops = std::max({best_gflops, gflops, own_gflops});
    if (!json) std::printf("%6d %6d %6d %14.1f %14.1f\n", n, n, n, gflops, own_gflops);
  }
  if (!json) {
    // Every bf16 kernel this machine runs, the emulation (sgemm on rounded copies) included.
    std::vector<tg::cpu::Bf16Kernel> kernels;
    for (tg::cpu::Bf16Kernel k : {tg::cpu::Bf16Kernel::Amx, tg::cpu::Bf16Kernel::Avx512Bf16, tg::cpu::Bf16Kernel::Emulated})
      if (tg::cpu::bf16_kernel_runs(k)) kernels.push_back(k);
    std::printf("\nWinograd-sized products, one thread, GFLOP/s (packing included; bf16 GEMMs here: %s)\n",
                tg::cpu_bf16_gemm());
    std::printf("%-7s %5s %5s %5s %8s", "product", "M", "N", "K", "sgemm");
    for (auto k : kernels) std::printf(" %12s %6s", tg::cpu::bf16_kernel_name(k), "x");
    std::printf("\n");
    struct Shape {
      const char* name;
      bool ta, tb;
      int64_t M, N, K;
    };
    for (int64_t ch : {32, 64, 128, 256, 512}) {
      const int64_t T = ch >= 256 ? 64 : 256;
      for (const Shape& sh : {Shape{"U V", false, false, ch, T, ch}, Shape{"E V^T", false, true, ch, ch, T},
                              Shape{"U^T E", true, false, ch, T, ch}}) {
        std::vector<float> A(static_cast<size_t>(sh.M * sh.K)), B(static_cast<size_t>(sh.K * sh.N));
        std::vector<float> C(static_cast<size_t>(sh.M * sh.N));
        for (float& v : A) v = gen.uniform(-1.f, 1.f);
        for (float& v : B) v = gen.uniform(-1.f, 1.f);
        const int64_t lda = sh.ta ? sh.M : sh.K, ldb = sh.tb ? sh.K : sh.N;
        auto gflops = [&](auto&& gemm) {  // median of 31 timings of 8 calls
          std::vector<double> t;
          for (int r = 0; r < 31; ++r) {
            const auto t0 = std::chrono::steady_clock::now();
            for (int rep = 0; rep < 8; ++rep)
              gemm(sh.ta, sh.tb, sh.M, sh.N, sh.K, 1.f, A.data(), lda, B.data(), ldb, 0.f, C.data(), sh.N);
            t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 8);
          }
          std::sort(t.begin(), t.end());
          return 2.0 * static_cast<double>(sh.M * sh.N * sh.K) / t[t.size() / 2] * 1e-9;
        };
        const double fp32 = gflops(tg::cpu::sgemm);
        std::printf("%-7s %5lld %5lld %5lld %8.1f", sh.name, static_cast<long long>(sh.M), static_cast<long long>(sh.N),
                    static_cast<long long>(sh.K), fp32);
        for (auto k : kernels) {
          const double g = gflops([k](auto... args) { tg::cpu::gemm_bf16_with(k, args...); });
          std::printf(" %12.1f %5.2fx", g, g / fp32);
        }
        std::printf("\n");
      }
    }
  }
  if (json) std::printf("{\"bench\": \"gemm\", \"threads\": %d, \"gflops\": %.1f}\n", threads, best_gflops);
  else std::printf("best: %.1f GFLOP/s with %d threads\n", best_gflops, threads);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return tg::bench::run_bench(argc, argv, run); }
