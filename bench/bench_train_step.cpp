// Training-step and inference throughput of the reference networks, printed with the same JSON
// fields as bench/torch_reference.py (PyTorch, the same networks and protocol) so the two can be
// compared side by side (bench/run_bench.sh, `make bench`).
//   bench_train_step --model small|small28|resnet18|airbench --batch 256 --threads 2 --steps 10
//                    [--device cuda] [--conv-algorithm auto|gemm] [--precision fp32|bf16] [--json]
// The optimizer step is SGD with momentum (lr 0.01, momentum 0.9), so the figure is dominated by
// forward + backward. Peak RSS is the whole process's, so run one model per process. On a GPU
// (--device cuda) the timed loop ends with a copy back to the host, so queued kernels are counted.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "bench/support/flags.h"
#include "engine/cpu/gemm_bf16.h"
#include "engine/cpu/isa.h"
#include "engine/cpu/kernel_mode.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "nn/layers_conv.h"
#include "nn/models/factory.h"
#include "optim/sgd.h"

namespace {

struct Args {
  std::string model = "small";
  int batch = 256, threads = 2, steps = 10;
  std::string device = "cpu";
  tg::ConvAlgorithm conv_algorithm = tg::ConvAlgorithm::Auto;  // gemm: no Winograd (an A/B in one binary)
  tg::ConvPrecision precision = tg::ConvPrecision::Fp32;  // bf16: the conv GEMMs on bf16 operands (CPU)
  bool json = false;
};

Args parse(tg::bench::Flags& f) {
  Args a;
  a.model = f.text("--model", a.model, {"small", "small28", "resnet18", "airbench"});
  a.batch = static_cast<int>(f.integer("--batch", a.batch, 1, 1 << 16));
  a.threads = static_cast<int>(f.integer("--threads", a.threads, 1, 1024));
  a.steps = static_cast<int>(f.integer("--steps", a.steps, 1, 100000));
  a.device = f.text("--device", a.device);
  // gemm: no Winograd (an A/B in one binary)
  a.conv_algorithm = f.text("--conv-algorithm", "auto", {"auto", "gemm"}) == "gemm" ? tg::ConvAlgorithm::Gemm
                                                                                     : tg::ConvAlgorithm::Auto;
  a.precision = tg::nn::parse_conv_precision(f.text("--precision", "fp32", {"fp32", "bf16"}));
  a.json = f.has("--json");
  f.done();
  return a;
}

// sync() waits for the device (a no-op on the CPU) before the clock is read.
template <class F, class S>
double seconds_per_call(F&& fn, S&& sync, int steps) {
  for (int i = 0; i < 2; ++i) fn();  // warm-up: scratch buffers, caches
  sync();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) fn();
  sync();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / steps;
}

int run(tg::bench::Flags& f) {
  std::fprintf(stderr, "%s: cpu kernels %s (%s), bf16 GEMMs %s\n", f.program().c_str(), tg::cpu_isa_name(tg::cpu_isa()),
               tg::kernel_mode_name(), tg::cpu_bf16_gemm());
  const Args a = parse(f);
  tg::set_num_threads(a.threads);
  int channels = 3, side = 32;
  std::string name = a.model;
  if (a.model == "small28") {
    channels = 1;
    side = 28;
    name = "small";
  }
  tg::Generator gen(0);
  auto net = tg::nn::make_model(name, channels, side, 10, gen);
  tg::nn::set_conv_algorithm(*net, a.conv_algorithm);
  tg::nn::set_conv_precision(*net, a.precision);
  const tg::Device device = tg::parse_device(a.device);
  tg::Tensor x = tg::Tensor::randn({a.batch, channels, side, side}, gen);
  tg::Tensor y = tg::Tensor::empty({a.batch});
  for (int i = 0; i < a.batch; ++i) y.data()[i] = static_cast<float>(gen.below(10));
  if (device.is_cuda()) {
    net->to(device);
    x = x.to(device);
    y = y.to(device);
  }
  const tg::Tensor probe = net->named_parameters().front().second;
  auto sync = [&] {
    if (device.is_cuda()) (void)probe.to_vector();  // a copy to the host waits for the queued kernels
  };
  tg::optim::SgdOptions so;
  so.lr = 0.01;
  so.momentum = 0.9;
  tg::optim::Sgd opt(net->named_parameters(), so);

  net->train();
  const double train_s = seconds_per_call(
      [&] {
        opt.zero_grad();
        tg::cross_entropy((*net)(x), y).backward();
        opt.step();
      },
      sync, a.steps);
  net->eval();
  const double infer_s = seconds_per_call(
      [&] {
        tg::NoGradGuard no_grad;
        (*net)(x);
      },
      sync, a.steps);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  const double rss_mib = static_cast<double>(ru.ru_maxrss) / 1024.0;
  const double train_ips = a.batch / train_s, infer_ips = a.batch / infer_s;
  if (a.json) {
    std::printf(
        "{\"engine\": \"trustgrad\", \"device\": \"%s\", \"model\": \"%s\", \"params\": %lld, \"batch\": %d, "
        "\"threads\": %d, \"precision\": \"%s\", \"train_img_per_s\": %.2f, \"infer_img_per_s\": %.2f, "
        "\"peak_rss_mib\": %.1f}\n",
        device.str().c_str(), a.model.c_str(), static_cast<long long>(net->num_parameters()), a.batch, a.threads,
        tg::nn::conv_precision_name(a.precision), train_ips, infer_ips, rss_mib);
  } else {
    std::printf(
        "trustgrad %s %s batch=%d threads=%d precision=%s: train %.0f img/s, inference %.0f img/s, peak RSS %.0f MiB\n",
        device.str().c_str(), a.model.c_str(), a.batch, a.threads, tg::nn::conv_precision_name(a.precision), train_ips,
        infer_ips, rss_mib);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return tg::bench::run_bench(argc, argv, run); }
