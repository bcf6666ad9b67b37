// Data loader throughput (images/s) on synthetic CIFAR-shaped data, and on Fashion-MNIST when
// Debian's dataset-fashion-mnist is installed: normalise only, crop+flip on the calling thread
// (one core), and crop+flip with a background prefetch worker. Target: >= 20,000 CIFAR img/s.
//   bench_loader [--images 20000] [--batch 512] [--epochs 3]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "bench/support/flags.h"
#include "datasets/dataloader.h"
#include "datasets/idx.h"
#include "engine/parallel.h"
#include "engine/random.h"

using namespace tg;
using namespace tg::data;

namespace {

std::shared_ptr<const Dataset> synthetic_cifar(int64_t n) {
  auto ds = std::make_shared<Dataset>();
  ds->name = "synthetic-cifar";
  ds->channels = 3;
  ds->height = 32;
  ds->width = 32;
  for (int i = 0; i < 10; ++i) ds->class_names.push_back(std::string("c").append(std::to_string(i)));
  Generator gen(1);
  ds->images.resize(static_cast<size_t>(n) * 3072);
  for (auto& p : ds->images) p = static_cast<uint8_t>(gen.next_u32());
  for (int64_t i = 0; i < n; ++i) ds->labels.push_back(static_cast<int32_t>(gen.below(10)));
  return ds;
}

// Best images/s over `epochs` full epochs (the consumer only touches each batch's first value).
double measure(const std::shared_ptr<const Dataset>& ds, LoaderOptions opt, int epochs) {
  DataLoader loader(ds, opt);
  double best = 0.0, sink = 0.0;
  for (int e = 0; e < epochs; ++e) {
    const auto t0 = std::chrono::steady_clock::now();
    int64_t n = 0;
    Batch b;
    while (loader.next(b)) {
      n += b.size();
      sink += b.images.data()[0];
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(n) / s);
  }
  if (sink == 12345.678) std::printf(" ");  // keep the reads alive
  return best;
}

void run_suite(const char* label, const std::shared_ptr<const Dataset>& ds, const ChannelStats& stats, int64_t batch,
               int epochs) {
  LoaderOptions opt;
  opt.batch_size = batch;
  opt.seed = 0;
  opt.normalize = stats;
  opt.num_workers = 0;
  std::printf("%s: %lld images (%lldx%lldx%lld), batch %lld, best of %d epochs\n", label, static_cast<long long>(ds->size()),
              static_cast<long long>(ds->channels), static_cast<long long>(ds->height), static_cast<long long>(ds->width),
              static_cast<long long>(batch), epochs);
  std::printf("  %-52s %10.0f img/s\n", "shuffle + normalise, calling thread", measure(ds, opt, epochs));
  opt.transforms = standard_augmentation(4, PadMode::Reflect);
  std::printf("  %-52s %10.0f img/s\n", ("+ " + describe(opt.transforms) + ", calling thread").c_str(), measure(ds, opt, epochs));
  opt.transforms = standard_augmentation(4, PadMode::Zero);
  std::printf("  %-52s %10.0f img/s\n", ("+ " + describe(opt.transforms) + ", calling thread").c_str(), measure(ds, opt, epochs));
  opt.transforms = standard_augmentation(4, PadMode::Reflect);
  opt.num_workers = 1;
  std::printf("  %-52s %10.0f img/s\n", "+ crop(reflect)+flip, 1 prefetch worker", measure(ds, opt, epochs));
}

int run(bench::Flags& f) {
  const int64_t images = f.integer("--images", 20000, 1, int64_t{1} << 24);
  const int64_t batch = f.integer("--batch", 512, 1, 1 << 16);
  const int epochs = static_cast<int>(f.integer("--epochs", 3, 1, 1000));
  f.done();
  set_num_threads(1);  // the loader is single-threaded per worker; keep OpenMP out of the picture
  run_suite("synthetic CIFAR", synthetic_cifar(images), standard_channel_stats("cifar10"), batch, epochs);
  const std::string fm = "/usr/share/datasets/fashion-mnist";
  if (std::filesystem::exists(fm + "/train-images-idx3-ubyte.gz")) {
    auto ds = std::make_shared<const Dataset>(load_fashion_mnist(fm, Split::Train));
    run_suite("Fashion-MNIST train", ds, standard_channel_stats("fashion-mnist"), batch, epochs);
  } else {
    std::printf("Fashion-MNIST: skipped (%s absent)\n", fm.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return bench::run_bench(argc, argv, run); }
