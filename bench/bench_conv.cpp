// Per-layer conv2d GFLOP/s (forward, input-grad, weight-grad, and both gradients in one call as a
// training step asks for them) for the reference small CNN and CIFAR ResNet-18, next to plain GEMM
// with the same threads: the practical ceiling the convs aim at. The last column, forward +
// backward in ms, is what bench/torch_reference.py --profile shows for PyTorch's convolutions.
// The ceiling is the best of Eigen's own threaded 1024^3 GEMM, one single-threaded Eigen 1024^3 GEMM
// per thread side by side, and one of our packed sgemm per thread (what the conv kernels run);
// percentages are of that ceiling. Layers on the Winograd path (marked W) are credited with the
// direct convolution's FLOPs, so their rate is an effective one and can exceed the GEMM's.
//   bench_conv [--batch 256] [--threads 2] [--reps 3] [--model small|resnet18|all] [--layer NAME] [--json]
// (a bad or unknown flag: one error line, exit code 2; bench/support/flags.h)
// (--layer: only the layers whose name contains NAME, e.g. "l2 64->128", to profile one alone)
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "bench/support/flags.h"
#include "engine/cpu/isa.h"
#include "engine/cpu/kernel_mode.h"
#include "engine/cpu/conv2d.h"
#include "engine/cpu/sgemm.h"
#include "engine/cpu/winograd.h"
#include "engine/cpu/eigen_core.h"
#include "engine/error.h"
#include "engine/parallel.h"

namespace {

using tg::ConvShape;

struct Layer {
  const char* model;
  const char* name;
  int64_t C, H, K, R, stride, pad;
  int count;  // how many times the layer occurs in the model
};

// The conv layers of the small CNN and ResNet-18 (nn/models/, 3x32x32 input), each distinct shape once.
const std::vector<Layer> kLayers = {
    {"small", "conv1 3->32 @32", 3, 32, 32, 3, 1, 1, 1},
    {"small", "conv2 32->32 @32", 32, 32, 32, 3, 1, 1, 1},
    {"small", "conv3 32->64 @16", 32, 16, 64, 3, 1, 1, 1},
    {"small", "conv4 64->64 @16", 64, 16, 64, 3, 1, 1, 1},
    {"small", "conv5 64->128 @8", 64, 8, 128, 3, 1, 1, 1},
    {"resnet18", "stem 3->64 @32", 3, 32, 64, 3, 1, 1, 1},
    {"resnet18", "l1 64->64 @32", 64, 32, 64, 3, 1, 1, 4},
    {"resnet18", "l2 64->128 s2 @32", 64, 32, 128, 3, 2, 1, 1},
    {"resnet18", "l2 128->128 @16", 128, 16, 128, 3, 1, 1, 3},
    {"resnet18", "l2 sc 1x1 64->128 s2", 64, 32, 128, 1, 2, 0, 1},
    {"resnet18", "l3 128->256 s2 @16", 128, 16, 256, 3, 2, 1, 1},
    {"resnet18", "l3 256->256 @8", 256, 8, 256, 3, 1, 1, 3},
    {"resnet18", "l3 sc 1x1 128->256 s2", 128, 16, 256, 1, 2, 0, 1},
    {"resnet18", "l4 256->512 s2 @8", 256, 8, 512, 3, 2, 1, 1},
    {"resnet18", "l4 512->512 @4", 512, 4, 512, 3, 1, 1, 3},
    {"resnet18", "l4 sc 1x1 256->512 s2", 256, 8, 512, 1, 2, 0, 1},
};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Best-of-reps wall time of fn() after one warm-up call.
template <class F>
double best_time(F&& fn, int reps) {
  fn();
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const double t0 = now_s();
    fn();
    best = std::min(best, now_s() - t0);
  }
  return best;
}

// n floats, 64-byte aligned like the engine's tensors (engine/storage.h), so the kernels meet the
// alignment they get in a training step (std::vector's 16 bytes splits half their vector stores).
struct Floats {
  std::unique_ptr<float, decltype(&std::free)> p{nullptr, &std::free};
  size_t n = 0;
  explicit Floats(size_t count) : n(count) {
    const size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
    p.reset(static_cast<float*>(std::aligned_alloc(64, bytes == 0 ? 64 : bytes)));
    if (!p) throw std::bad_alloc();
    std::fill(p.get(), p.get() + n, 0.f);
  }
  float* data() const { return p.get(); }
  size_t size() const { return n; }
};

Floats random_floats(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> nd;
  Floats v(n);
  for (size_t i = 0; i < n; ++i) v.data()[i] = nd(rng);
  return v;
}

using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Eigen's threaded GEMM C = A B, n x n x n.
double gemm_gflops(int n, int reps) {
  Mat a = Mat::Random(n, n), b = Mat::Random(n, n), c(n, n);
  const double t = best_time([&] { c.noalias() = a * b; }, reps);
  return 2.0 * n * n * n / t / 1e9;
}

// One single-threaded n^3 GEMM per thread at the same time (Eigen never nests inside a team).
double gemm_per_thread_gflops(int n, int reps, int threads) {
  std::vector<Mat> a(threads, Mat::Random(n, n)), b(threads, Mat::Random(n, n)), c(threads, Mat(n, n));
  const double t = best_time(
      [&] {
#pragma omp parallel for num_threads(threads) schedule(static, 1)
        for (int i = 0; i < threads; ++i) c[i].noalias() = a[i] * b[i];
      },
      reps);
  return 2.0 * n * n * n * threads / t / 1e9;
}

// Our packed sgemm (engine/cpu/sgemm.h), one single-threaded n^3 product per thread at the same time.
double sgemm_per_thread_gflops(int n, int reps, int threads) {
  std::vector<Mat> a(threads, Mat::Random(n, n)), b(threads, Mat::Random(n, n)), c(threads, Mat(n, n));
  const double t = best_time(
      [&] {
#pragma omp parallel for num_threads(threads) schedule(static, 1)
        for (int i = 0; i < threads; ++i)
          tg::cpu::sgemm(false, false, n, n, n, 1.f, a[i].data(), n, b[i].data(), n, 0.f, c[i].data(), n);
      },
      reps);
  return 2.0 * n * n * n * threads / t / 1e9;
}

int run(tg::bench::Flags& f) {
  std::fprintf(stderr, "%s: cpu kernels %s (%s)\n", f.program().c_str(), tg::cpu_isa_name(tg::cpu_isa()),
               tg::kernel_mode_name());
  const int64_t batch = f.integer("--batch", 256, 1, 1 << 16);
  const int threads = static_cast<int>(f.integer("--threads", 2, 1, 1024));
  const int reps = static_cast<int>(f.integer("--reps", 3, 1, 1000));
  const std::string model = f.text("--model", "all", {"small", "resnet18", "all"});
  const std::string layer = f.text("--layer", "");  // only the layers whose name contains it (for a profiler)
  const bool json_only = f.has("--json");
  f.done();
  const auto selected = [&](const Layer& L) {
    return (model == "all" || model == L.model) && std::string(L.name).find(layer) != std::string::npos;
  };
  if (std::none_of(std::begin(kLayers), std::end(kLayers), selected)) {
    throw tg::Error("--layer: no layer of --model " + model + " has '" + layer + "' in its name");
  }
  tg::set_num_threads(threads);
  std::mt19937 rng(0);

  const double gemm_eigen = gemm_gflops(1024, reps + 2);
  const double gemm_split = threads > 1 ? gemm_per_thread_gflops(1024, reps + 2, threads) : gemm_eigen;
  const double gemm_ours = sgemm_per_thread_gflops(1024, reps + 2, threads);
  const double gemm = std::max({gemm_eigen, gemm_split, gemm_ours});
  if (!json_only) {
    std::printf("bench_conv: batch %lld, %d threads, best of %d; GEMM 1024^3: Eigen %.1f GFLOP/s threaded, %.1f "
                "one per thread; our sgemm %.1f one per thread\n",
                static_cast<long long>(batch), threads, reps, gemm_eigen, gemm_split, gemm_ours);
    std::printf("%-24s %9s %9s %9s %9s %9s %9s  (GFLOP/s; %% of GEMM; W = Winograd: the direct conv's FLOPs per "
                "second; backward = both gradients in one call; f+b = forward + backward, ms)\n",
                "layer", "GFLOP", "forward", "input-grad", "weight-grad", "backward", "f+b ms");
  }
  std::string rows;
  double sum_flop = 0, sum_time = 0;
  for (const Layer& L : kLayers) {
    if (!selected(L)) continue;
    ConvShape s{batch, L.C, L.H, L.H, L.K, L.R, L.R, L.stride, L.stride, L.pad, L.pad, 1};
    const int64_t P = s.P(), Q = s.Q();
    const Floats in = random_floats(static_cast<size_t>(batch * L.C * L.H * L.H), rng);
    const Floats w = random_floats(static_cast<size_t>(L.K * L.C * L.R * L.R), rng);
    const Floats dout = random_floats(static_cast<size_t>(batch * L.K * P * Q), rng);
    const Floats out(dout.size()), din(in.size()), dw(w.size());
    const double flop = 2.0 * batch * L.K * P * Q * L.C * L.R * L.R;  // per pass
    const double t_fwd = best_time([&] { tg::cpu::conv2d_forward(out.data(), in.data(), w.data(), nullptr, s); }, reps);
    const double t_din = best_time(
        [&] { tg::cpu::conv2d_backward(din.data(), nullptr, nullptr, dout.data(), in.data(), w.data(), s); }, reps);
    const double t_dw = best_time(
        [&] { tg::cpu::conv2d_backward(nullptr, dw.data(), nullptr, dout.data(), in.data(), w.data(), s); }, reps);
    // Both gradients in one call, as a training step asks for them (the transforms they share run once).
    const double t_bwd = best_time(
        [&] { tg::cpu::conv2d_backward(din.data(), dw.data(), nullptr, dout.data(), in.data(), w.data(), s); }, reps);
    const double g_fwd = flop / t_fwd / 1e9, g_din = flop / t_din / 1e9, g_dw = flop / t_dw / 1e9;
    const double g_bwd = 2 * flop / t_bwd / 1e9, step_ms = (t_fwd + t_bwd) * 1e3;
    sum_flop += 3 * flop * L.count;
    sum_time += (t_fwd + t_din + t_dw) * L.count;
    if (!json_only)
      std::printf("%-22s%s %9.2f %6.1f %3.0f%% %6.1f %3.0f%% %6.1f %3.0f%% %6.1f %3.0f%% %8.2f\n", L.name,
                  tg::cpu::winograd_applies(s) ? " W" : "  ", flop / 1e9, g_fwd, 100 * g_fwd / gemm, g_din,
                  100 * g_din / gemm, g_dw, 100 * g_dw / gemm, g_bwd, 100 * g_bwd / gemm, step_ms);
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "%s{\"model\":\"%s\",\"layer\":\"%s\",\"count\":%d,\"gflop\":%.4f,\"fwd_gflops\":%.2f,"
                  "\"dinput_gflops\":%.2f,\"dweight_gflops\":%.2f,\"backward_gflops\":%.2f,\"fwd_bwd_ms\":%.3f,"
                  "\"winograd\":%s}",
                  rows.empty() ? "" : ",", L.model, L.name, L.count, flop / 1e9, g_fwd, g_din, g_dw, g_bwd, step_ms,
                  tg::cpu::winograd_applies(s) ? "true" : "false");
    rows += buf;
  }
  const double overall = sum_time > 0 ? sum_flop / sum_time / 1e9 : 0.0;
  if (!json_only)
    std::printf("all passes, weighted by layer count: %.1f GFLOP/s (%.0f%% of GEMM)\n", overall, 100 * overall / gemm);
  std::printf("{\"bench\":\"conv\",\"batch\":%lld,\"threads\":%d,\"gemm_gflops\":%.2f,\"gemm_eigen_threaded_gflops\":%.2f,"
              "\"gemm_one_per_thread_gflops\":%.2f,\"sgemm_one_per_thread_gflops\":%.2f,\"overall_gflops\":%.2f,\"layers\":[%s]}\n",
              static_cast<long long>(batch), threads, gemm, gemm_eigen, gemm_split, gemm_ours, overall, rows.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return tg::bench::run_bench(argc, argv, run); }
