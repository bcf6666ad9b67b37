// Optimizer step time on the parameter set of CIFAR ResNet-18 (11.17 M parameters, the real
// tensor shapes) for SGD, AdamW, LAMB and LAMBC, with the achieved memory traffic in GB/s next to
// an in-place update benchmark (a += s b) run in the same process: the bandwidth bound. Optimizers
// are timed in interleaved rounds; by default the caches are flushed before every timed step (as
// the forward and backward passes of real training do), so the bound is DRAM bandwidth; --warm
// keeps the state cache-resident and measures the bound over the same footprint instead.
//   bench_optim [--rounds 5] [--steps 3] [--threads N] [--warm] [--json]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/support/flags.h"
#include "engine/cpu/isa.h"
#include "engine/cpu/kernel_mode.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "optim/optim.h"

namespace {

using tg::Shape;
using tg::Tensor;
using tg::NamedTensors;

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// CIFAR ResNet-18 (3x3 stem, BasicBlock [2,2,2,2], no conv bias, 1x1 shortcut + BN where the shape changes).
std::vector<std::pair<std::string, Shape>> resnet18_shapes() {
  std::vector<std::pair<std::string, Shape>> s;
  auto bn = [&](const std::string& p, int64_t c) {
    s.push_back({p + ".weight", {c}});
    s.push_back({p + ".bias", {c}});
  };
  s.push_back({"conv1.weight", {64, 3, 3, 3}});
  bn("bn1", 64);
  int64_t in = 64;
  const int64_t widths[4] = {64, 128, 256, 512};
  for (int l = 0; l < 4; ++l) {
    for (int b = 0; b < 2; ++b) {
      const std::string p = "layer" + std::to_string(l + 1) + "." + std::to_string(b);
      const int64_t out = widths[l];
      s.push_back({p + ".conv1.weight", {out, in, 3, 3}});
      bn(p + ".bn1", out);
      s.push_back({p + ".conv2.weight", {out, out, 3, 3}});
      bn(p + ".bn2", out);
      if (in != out) {
        s.push_back({p + ".shortcut.0.weight", {out, in, 1, 1}});
        bn(p + ".shortcut.1", out);
      }
      in = out;
    }
  }
  s.push_back({"linear.weight", {10, 512}});
  s.push_back({"linear.bias", {10}});
  return s;
}

// STREAM-style copy bandwidth: 2 * bytes / time, best of reps, copying n floats.
double copy_gbps(int64_t n, int reps) {
  std::vector<float> a(static_cast<size_t>(n), 1.f), b(static_cast<size_t>(n), 0.f);
  float* src = a.data();
  float* dst = b.data();
  double best = 1e30;
  for (int r = 0; r < reps + 1; ++r) {
    const double t0 = now_s();
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
    const double dt = now_s() - t0;
    if (r > 0) best = std::min(best, dt);
  }
  if (b[static_cast<size_t>(n / 2)] != 1.f) std::printf("copy check failed\n");
  return 2.0 * static_cast<double>(n) * sizeof(float) / best / 1e9;
}

// In-place update bandwidth: a = a + s b reads a and b and writes a, 12 bytes per element.
double inplace_gbps(int64_t n, int reps) {
  std::vector<float> a(static_cast<size_t>(n), 1.f), b(static_cast<size_t>(n), 1e-3f);
  float* pa = a.data();
  const float* pb = b.data();
  double best = 1e30;
  for (int r = 0; r < reps + 1; ++r) {
    const double t0 = now_s();
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) pa[i] = pa[i] + 0.5f * pb[i];
    const double dt = now_s() - t0;
    if (r > 0) best = std::min(best, dt);
  }
  if (!(a[static_cast<size_t>(n / 2)] > 1.f)) std::printf("in-place check failed\n");
  return 12.0 * static_cast<double>(n) / best / 1e9;
}

struct Case {
  std::string name;
  double bytes_per_param;  // modelled DRAM traffic per parameter per step (reads + writes)
  std::string passes;
  std::function<std::unique_ptr<tg::optim::Optimizer>(const NamedTensors&)> make;
};

int run(tg::bench::Flags& f) {
  std::fprintf(stderr, "%s: cpu kernels %s (%s)\n", f.program().c_str(), tg::cpu_isa_name(tg::cpu_isa()),
               tg::kernel_mode_name());
  const int rounds = static_cast<int>(f.integer("--rounds", 5, 1, 1000));
  const int steps = static_cast<int>(f.integer("--steps", 3, 1, 100000));
  int threads = static_cast<int>(f.integer("--threads", 0, 0, 1024));  // 0: every core
  const bool warm = f.has("--warm"), json = f.has("--json");
  f.done();
  if (threads > 0) tg::set_num_threads(threads);
  threads = tg::get_num_threads();

  tg::Generator gen(0);
  NamedTensors params;
  std::vector<Tensor> grads;
  int64_t total = 0;
  for (const auto& [name, shape] : resnet18_shapes()) {
    Tensor w = Tensor::randn(shape, gen);
    Tensor g = Tensor::randn(shape, gen);
    for (int64_t i = 0; i < w.numel(); ++i) {
      w.data()[i] *= 0.05f;
      g.data()[i] *= 1e-3f;
    }
    params.emplace_back(name, w);
    grads.push_back(g);
    total += w.numel();
  }

  using namespace tg::optim;
  // Bytes per parameter (reads + writes) that reach DRAM. The first pass writes no parameter or
  // state (NaN/Inf check, norms; the staged two-pass order's new moments go to scratch buffers).
  // The LAMB family's CPU default is cache-blocked: after the check, per group of tensors that fits
  // in the LLC, pass 1 writes the moments in place and u to a cached scratch buffer, and pass 2
  // reads w and u back from the cache:
  //   SGD+momentum: g | w g buf -> w buf                          = 4 + 12 + 8
  //   AdamW:        g | w g m v -> w m v                          = 4 + 16 + 12
  //   LAMBC paper (blocked):  g | w g m v -> m v (u cached) | (w u cached) -> w = 4 + 24 + 4
  //   LAMB, LAMBC timm (blocked): global grad norm instead of the check, the same 4 + 24 + 4
  //   LAMBC paper, two-pass staged: w g m v -> m' v' | w m' v' -> w          = 24 + 16
  //   LAMBC paper, two-pass unstaged: w g m v | w g m v -> w m v             = 16 + 28
  //   LARS:         w g | w g buf -> w buf                        = 8 + 12 + 8
  const std::vector<Case> cases = {
      {"sgd_momentum", 24, "check | update",
       [](const NamedTensors& p) { return std::make_unique<Sgd>(p, SgdOptions{.lr = 0.1, .momentum = 0.9}); }},
      {"adamw", 32, "check | update",
       [](const NamedTensors& p) { return std::make_unique<AdamW>(p, AdamWOptions{.lr = 1e-3, .weight_decay = 0.01}); }},
      {"lamb_timm", 32, "grad norm | blocks: moments + u + norms, update from cached u",
       [](const NamedTensors& p) { return std::make_unique<Lamb>(default_param_groups(p, 0.01), LambOptions{.lr = 0.01}); }},
      {"lambc_paper", 32, "check | blocks: moments + u + norms, update from cached u",
       [](const NamedTensors& p) { return std::make_unique<Lambc>(p, LambcPreset::kPaper, 0.01, 0.0); }},
      {"lambc_paper_unstaged", 44, "two-pass: norms | update (recomputes moments)",
       [](const NamedTensors& p) {
         LambOptions o = lambc_options(LambcPreset::kPaper, 0.01, 0.0);
         o.staged_moments = false;
         o.cache_block_bytes = 0;
         return std::make_unique<Lambc>(lambc_param_groups(LambcPreset::kPaper, p, 0.0), o);
       }},
      {"lambc_paper_staged", 40, "two-pass: norms + staged moments | update",
       [](const NamedTensors& p) {
         LambOptions o = lambc_options(LambcPreset::kPaper, 0.01, 0.0);
         o.cache_block_bytes = 0;
         return std::make_unique<Lambc>(lambc_param_groups(LambcPreset::kPaper, p, 0.0), o);
       }},
      {"lambc_timm", 32, "grad norm | blocks: moments + u + norms, update from cached u",
       [](const NamedTensors& p) { return std::make_unique<Lambc>(p, LambcPreset::kTimm, 0.01, 0.01); }},
      {"lars", 28, "norms (w g) | update",
       [](const NamedTensors& p) { return std::make_unique<Lars>(p, LarsOptions{.weight_decay = 5e-4, .always_adapt = true}); }},
  };

  // Bandwidth bounds, measured now: a STREAM copy (dst = src; its write-allocate reads are not
  // counted, as in STREAM) and an in-place update a += s b, the optimizers' access pattern (every
  // written line was read first, so all 12 bytes per element are real traffic). Both over 2 x 1 GiB
  // (DRAM); with --warm, over as many bytes as the optimizer state (16 bytes per parameter).
  const int64_t bound_n = warm ? 2 * total : int64_t{256} << 20;
  const double copy = copy_gbps(bound_n, 3);
  const double inplace = inplace_gbps(bound_n, 3);
  const double bound = inplace;
  std::vector<float> flush_buf(warm ? 0 : size_t{128} << 20, 0.f);  // 512 MiB, larger than any LLC
  auto flush = [&] {
    float* f = flush_buf.data();
    const int64_t n = static_cast<int64_t>(flush_buf.size());
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) f[i] += 1.f;
  };

  std::vector<std::unique_ptr<Optimizer>> opts;
  for (const Case& k : cases) opts.push_back(k.make(params));
  for (size_t i = 0; i < params.size(); ++i) params[i].second.set_grad(grads[i]);
  for (auto& o : opts) o->step();  // allocate state, warm up
  std::vector<std::vector<double>> times(cases.size());
  for (int r = 0; r < rounds; ++r) {
    for (size_t c = 0; c < cases.size(); ++c) {
      for (int s = 0; s < steps; ++s) {
        if (!warm) flush();
        const double t0 = now_s();
        opts[c]->step();
        times[c].push_back(now_s() - t0);
      }
    }
  }

  if (!json) {
    std::printf("ResNet-18 (CIFAR) parameter set: %zu tensors, %lld parameters, %d threads, %s\n", params.size(),
                static_cast<long long>(total), threads,
                warm ? "caches warm" : "caches flushed before every step");
    std::printf("bandwidth over 2 x %.0f MB: copy %.2f GB/s, in-place a += s b %.2f GB/s (the bound used)\n\n",
                static_cast<double>(bound_n) * 4 / 1e6, copy, inplace);
    std::printf("%-20s %10s %10s %9s %9s %10s  %s\n", "optimizer", "ms/step", "B/param", "GB/s", "of bound",
                "vs adamw", "passes");
  }
  double adamw_ms = 0.0;
  std::vector<double> ms(cases.size());
  for (size_t c = 0; c < cases.size(); ++c) {
    std::sort(times[c].begin(), times[c].end());
    ms[c] = 1e3 * times[c][times[c].size() / 2];  // median over rounds x steps
    if (cases[c].name == "adamw") adamw_ms = ms[c];
  }
  std::string out_json = "{\"params\":" + std::to_string(total) + ",\"threads\":" + std::to_string(threads) +
                         ",\"warm\":" + (warm ? "true" : "false") + ",\"copy_gbps\":" + std::to_string(copy) +
                         ",\"inplace_gbps\":" + std::to_string(inplace) + ",\"optimizers\":[";
  for (size_t c = 0; c < cases.size(); ++c) {
    const Case& k = cases[c];
    const double gbps = k.bytes_per_param * static_cast<double>(total) / (ms[c] * 1e-3) / 1e9;
    const double vs = ms[c] / adamw_ms;
    if (!json) {
      std::printf("%-20s %10.2f %10.0f %9.2f %8.0f%% %9.2fx  %s\n", k.name.c_str(), ms[c], k.bytes_per_param, gbps,
                  100.0 * gbps / bound, vs, k.passes.c_str());
    }
    out_json += std::string(c ? "," : "") + "{\"name\":\"" + k.name + "\",\"ms\":" + std::to_string(ms[c]) +
                ",\"bytes_per_param\":" + std::to_string(k.bytes_per_param) + ",\"gbps\":" + std::to_string(gbps) +
                ",\"fraction_of_bound\":" + std::to_string(gbps / bound) + ",\"vs_adamw\":" + std::to_string(vs) + "}";
  }
  if (json) std::printf("%s]}\n", out_json.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return tg::bench::run_bench(argc, argv, run); }
