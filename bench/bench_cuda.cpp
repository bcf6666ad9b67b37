// CUDA backend benchmark: our SGEMM's GFLOP/s (square and conv-shaped), conv2d forward+backward
// time for CIFAR-sized layers, the fused multi-tensor LAMBC step over ResNet-18-sized parameters,
// and elementwise bandwidth. Not a test: run it by hand (`build/bench/bench_cuda`).
//   bench_cuda [--quick]
#include <cstdio>

#include "bench/support/flags.h"

#ifdef TRUSTGRAD_WITH_CUDA
#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "cuda/conv2d.h"
#include "cuda/elementwise.h"
#include "cuda/gemm.h"
#include "cuda/lamb.h"
#include "cuda/runtime.h"

namespace {

// An owning float buffer on cuda:0 with uniform random contents.
struct Buffer {
  float* ptr = nullptr;
  explicit Buffer(int64_t n, uint32_t seed = 1) {
    ptr = static_cast<float*>(tg::cuda::device_malloc(static_cast<size_t>(n) * sizeof(float), 0));
    std::vector<float> host(static_cast<size_t>(n));
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    for (auto& x : host) x = dist(gen);
    tg::cuda::copy_host_to_device(ptr, host.data(), host.size() * sizeof(float), 0);
  }
  ~Buffer() { tg::cuda::device_free(ptr, 0); }
};

// Median-free simple timing: warm up, then the mean of `reps` runs, synchronised at both ends.
double time_ms(int reps, const std::function<void()>& fn) {
  fn();
  tg::cuda::synchronize(0);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) fn();
  tg::cuda::synchronize(0);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
}

void bench_gemm(bool quick) {
  std::printf("\n== SGEMM (our tiled kernel), C = A op(B), row-major ==\n");
  std::printf("%-28s %10s %10s\n", "shape (M x N x K, trans)", "ms", "GFLOP/s");
  struct Case { int64_t M, N, K; bool ta, tb; };
  std::vector<Case> cases = {{512, 512, 512, false, false},    {1024, 1024, 1024, false, false},
                             {2048, 2048, 2048, false, false}, {4096, 4096, 4096, false, false},
                             {4096, 4096, 4096, true, false},  {4096, 4096, 4096, false, true},
                             // conv-shaped: (K, CRS) x (CRS, PQ) for a 64->64 3x3 conv on 32x32, per image
                             {64, 1024, 576, false, false},    {128, 256, 1152, false, false}};
  if (quick) cases.resize(3);
  for (const Case& c : cases) {
    Buffer A(c.M * c.K, 1), B(c.K * c.N, 2), C(c.M * c.N, 3);
    const int reps = c.M * c.N * c.K > (int64_t(1) << 33) ? 5 : 20;
    const double ms = time_ms(reps, [&] { tg::cuda::gemm(c.ta, c.tb, c.M, c.N, c.K, 1.f, A.ptr, B.ptr, 0.f, C.ptr); });
    const double gflops = 2.0 * c.M * c.N * c.K / (ms * 1e6);
    char label[64];
    std::snprintf(label, sizeof(label), "%ldx%ldx%ld %s%s", static_cast<long>(c.M), static_cast<long>(c.N),
                  static_cast<long>(c.K), c.ta ? "T" : "N", c.tb ? "T" : "N");
    std::printf("%-28s %10.3f %10.1f\n", label, ms, gflops);
  }
}

void bench_conv(bool quick) {
  std::printf("\n== conv2d forward + backward (im2col + our SGEMM), batch 128 ==\n");
  std::printf("%-34s %9s %9s %9s %10s\n", "layer (C->K, HxW, RxS)", "fwd ms", "bwd ms", "total", "GFLOP/s");
  struct Case { const char* name; int64_t C, H, K, R, stride, pad; };
  std::vector<Case> cases = {{"stem 3->32 32x32 3x3", 3, 32, 32, 3, 1, 1},
                             {"32->32 32x32 3x3", 32, 32, 32, 3, 1, 1},
                             {"64->64 16x16 3x3", 64, 16, 64, 3, 1, 1},
                             {"128->128 8x8 3x3", 128, 8, 128, 3, 1, 1},
                             {"resnet 64->64 32x32 3x3", 64, 32, 64, 3, 1, 1},
                             {"resnet 256->512 4x4 3x3 s2", 256, 8, 512, 3, 2, 1}};
  if (quick) cases.resize(2);
  for (const Case& c : cases) {
    tg::ConvShape s{128, c.C, c.H, c.H, c.K, c.R, c.R, c.stride, c.stride, c.pad, c.pad, 1};
    const int64_t in_n = s.N * s.C * s.H * s.W, w_n = s.K * s.C * s.R * s.S, out_n = s.N * s.K * s.P() * s.Q();
    Buffer x(in_n, 1), w(w_n, 2), b(s.K, 3), out(out_n, 4), dout(out_n, 5), din(in_n, 6), dw(w_n, 7), db(s.K, 8);
    const double fwd = time_ms(5, [&] { tg::cuda::conv2d_forward(out.ptr, x.ptr, w.ptr, b.ptr, s); });
    const double bwd = time_ms(5, [&] { tg::cuda::conv2d_backward(din.ptr, dw.ptr, db.ptr, dout.ptr, x.ptr, w.ptr, s); });
    const double flops = 3.0 * 2.0 * out_n * s.C * s.R * s.S;  // forward + input grad + weight grad
    std::printf("%-34s %9.3f %9.3f %9.3f %10.1f\n", c.name, fwd, bwd, fwd + bwd, flops / ((fwd + bwd) * 1e6));
  }
}

void bench_lamb() {
  std::printf("\n== LAMBC step over ResNet-18-sized parameters (62 tensors, 11.2M floats) ==\n");
  // ResNet-18 (CIFAR) parameter tensor sizes: convs, BN gammas/betas, the linear head.
  std::vector<int64_t> sizes = {1728, 64, 64};
  const int64_t widths[] = {64, 128, 256, 512};
  int64_t in = 64;
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t out = widths[stage];
    for (int block = 0; block < 2; ++block) {
      const int64_t cin = block == 0 ? in : out;
      sizes.insert(sizes.end(), {out * cin * 9, out, out, out * out * 9, out, out});
      if (block == 0 && cin != out) sizes.insert(sizes.end(), {out * cin, out, out});
    }
    in = out;
  }
  sizes.insert(sizes.end(), {5120, 10});
  int64_t total = 0;
  for (int64_t n : sizes) total += n;
  Buffer w(total, 1), g(total, 2), m(total, 3), v(total, 4);
  tg::cuda::unary_forward(v.ptr, v.ptr, tg::UnaryOp::Relu, 0.f, total);  // v >= 0
  std::vector<tg::cuda::LambTensor> list;
  int64_t offset = 0;
  for (int64_t n : sizes) {
    list.push_back({w.ptr + offset, g.ptr + offset, m.ptr + offset, v.ptr + offset, n, 0.01f, 1.f, true});
    offset += n;
  }
  tg::cuda::LambMultiTensorPlan plan(list, 0);
  Buffer telemetry(static_cast<int64_t>(sizes.size()) * tg::cuda::kLambTelemetry, 9);
  tg::AdamCoeffs c;
  tg::cuda::LambStepOptions o;
  o.clip_max = 1.f;
  const double multi = time_ms(20, [&] { tg::cuda::lamb_step_multi(plan, c, o, telemetry.ptr); });
  tg::cuda::TrustRatioOptions t;
  t.clip_max = 1.f;
  const double single = time_ms(20, [&] {
    int64_t off = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      tg::cuda::lamb_step(w.ptr + off, g.ptr + off, m.ptr + off, v.ptr + off, sizes[i], c, t,
                          telemetry.ptr + i * tg::cuda::kLambTelemetry);
      off += sizes[i];
    }
  });
  // Bytes: pass 1 reads w, g, m, v; pass 2 reads w, g, m, v and writes w, m, v.
  const double bytes = 11.0 * 4.0 * static_cast<double>(total);
  std::printf("%-40s %9.3f ms  %8.1f GB/s effective\n", "lamb_step_multi (2 launches)", multi, bytes / (multi * 1e6));
  std::printf("%-40s %9.3f ms  %8.1f GB/s effective\n", "lamb_step per tensor (124 launches)", single,
              bytes / (single * 1e6));
  std::printf("tensors %zu, floats %ld\n", sizes.size(), static_cast<long>(total));
}

void bench_elementwise() {
  std::printf("\n== elementwise (64M floats) ==\n");
  const int64_t n = int64_t(1) << 26;
  Buffer a(n, 1), b(n, 2), out(n, 3);
  tg::BroadcastShape same;
  same.ndim = 1;
  same.out[0] = n;
  same.a_stride[0] = 1;
  same.b_stride[0] = 1;
  const double add = time_ms(20, [&] { tg::cuda::binary_forward(out.ptr, a.ptr, b.ptr, tg::BinaryOp::Add, same); });
  const double gelu = time_ms(20, [&] { tg::cuda::unary_forward(out.ptr, a.ptr, tg::UnaryOp::Gelu, 0.f, n); });
  std::printf("%-40s %9.3f ms  %8.1f GB/s\n", "add (same shape)", add, 12.0 * n / (add * 1e6));
  std::printf("%-40s %9.3f ms  %8.1f GB/s\n", "gelu forward", gelu, 8.0 * n / (gelu * 1e6));
}

int run(tg::bench::Flags& f) {
  const bool quick = f.has("--quick");
  f.done();
  if (tg::cuda::device_count() == 0) {
    std::printf("bench_cuda: built with CUDA, but no CUDA device is present\n");
    return 0;
  }
  std::printf("bench_cuda on %s\n", tg::cuda::device_name(0).c_str());
  bench_gemm(quick);
  bench_conv(quick);
  bench_lamb();
  bench_elementwise();
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return tg::bench::run_bench(argc, argv, run); }

#else

int main(int argc, char** argv) {
  return tg::bench::run_bench(argc, argv, [](tg::bench::Flags& f) {
    f.has("--quick");
    f.done();
    std::printf("bench_cuda: built without CUDA\n");
    return 0;
  });
}

#endif
