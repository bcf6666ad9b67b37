// Where a training step's time goes: each top-level layer of a Sequential model timed alone.
//   bench_layers --model small|small28 --batch 256 --threads 2 --steps 5
// For layer i, x_i is the (detached) input it sees in the full network; we time
//   forward (no grad, eval mode)   and   forward + backward (train mode, dout = ones)
// and print ms per call with the share of the whole step and GFLOP/s for conv/linear layers
// (2 * MACs forward; 3x that for forward + both backward GEMMs). Median of `steps` timed calls.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/support/flags.h"
#include "engine/cpu/isa.h"
#include "engine/cpu/kernel_mode.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "nn/layers_conv.h"
#include "nn/models/factory.h"
#include "nn/sequential.h"

namespace {

template <class F>
double median_ms(F&& fn, int steps) {
  fn();  // warm-up: scratch buffers, caches
  std::vector<double> t;
  for (int i = 0; i < steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Forward FLOPs of a conv or linear layer for input x and output y (0 for other layers).
double forward_flops(tg::nn::Module& m, const tg::Tensor& x, const tg::Tensor& y) {
  if (auto* c = dynamic_cast<tg::nn::Conv2d*>(&m)) {
    const auto& w = c->weight.shape();  // (K, C/groups, R, S)
    return 2.0 * static_cast<double>(y.numel()) * static_cast<double>(w[1] * w[2] * w[3]);
  }
  if (auto* l = dynamic_cast<tg::nn::Linear*>(&m)) {
    return 2.0 * static_cast<double>(x.shape()[0]) * static_cast<double>(l->weight.numel());
  }
  return 0.0;
}

int run(tg::bench::Flags& f) {
  std::fprintf(stderr, "%s: cpu kernels %s (%s)\n", f.program().c_str(), tg::cpu_isa_name(tg::cpu_isa()),
               tg::kernel_mode_name());
  const std::string model = f.text("--model", "small", {"small", "small28"});
  const int batch = static_cast<int>(f.integer("--batch", 256, 1, 1 << 16));
  const int threads = static_cast<int>(f.integer("--threads", 2, 1, 1024));
  const int steps = static_cast<int>(f.integer("--steps", 5, 1, 100000));
  f.done();
  tg::set_num_threads(threads);
  const int64_t channels = model == "small28" ? 1 : 3, side = model == "small28" ? 28 : 32;
  tg::Generator gen(0);
  auto net = std::dynamic_pointer_cast<tg::nn::Sequential>(tg::nn::make_model("small", channels, side, 10, gen));
  if (!net) throw tg::Error("the small model is expected to be a Sequential");

  // The input each layer sees in the full network.
  std::vector<tg::Tensor> inputs{tg::Tensor::randn({batch, channels, side, side}, gen)};
  {
    tg::NoGradGuard no_grad;
    net->train();
    for (size_t i = 0; i < net->size(); ++i) inputs.push_back((*(*net)[i])(inputs.back()));
  }

  std::printf("small CNN %lldx%lldx%lld, batch %d, %d threads, median of %d (ms per call)\n",
              static_cast<long long>(channels), static_cast<long long>(side), static_cast<long long>(side), batch,
              threads, steps);
  std::printf("%-3s %-12s %-18s %9s %9s %9s %9s\n", "#", "layer", "output", "fwd ms", "fwd GF/s", "f+b ms",
              "f+b GF/s");
  double total_fwd = 0, total_fb = 0;
  for (size_t i = 0; i < net->size(); ++i) {
    tg::nn::Module& m = *(*net)[i];
    const tg::Tensor x = inputs[i].detach();
    const tg::Tensor& y = inputs[i + 1];
    m.eval();
    const double fwd = median_ms(
        [&] {
          tg::NoGradGuard no_grad;
          m(x);
        },
        steps);
    m.train();
    tg::Tensor xg = x.clone().set_requires_grad(true);
    const tg::Tensor dout = tg::Tensor::ones(y.shape());
    const double fb = median_ms([&] { m(xg).backward(dout); }, steps);
    const double flops = forward_flops(m, x, y);
    std::string shape;
    for (auto d : y.shape()) shape.append(shape.empty() ? "" : "x").append(std::to_string(d));
    std::printf("%-3zu %-12s %-18s %9.2f %9.1f %9.2f %9.1f\n", i, m.type_name().c_str(), shape.c_str(), fwd,
                flops > 0 ? flops / fwd * 1e-6 : 0.0, fb, flops > 0 ? 3 * flops / fb * 1e-6 : 0.0);
    total_fwd += fwd;
    total_fb += fb;
  }
  std::printf("%-3s %-12s %-18s %9.2f %9s %9.2f\n", "", "sum", "", total_fwd, "", total_fb);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return tg::bench::run_bench(argc, argv, run); }
