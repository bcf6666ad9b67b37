// All-reduce bandwidth against message size over the process group's transport (MPI's shared
// memory on one machine), and how much of the gradient all-reduce DataParallel hides under
// backward on a real model. Run under mpirun; a world of one measures nothing useful.
//   mpirun -np 2 bench_allreduce [--min-kib 4] [--max-mib 64] [--reps 20]
//                                [--model resnet18|small|airbench --batch 16 --steps 3 --threads 1]
// Bus bandwidth = 2 (N-1)/N x bytes / time (the ring all-reduce's traffic per rank).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/support/flags.h"
#include "dist/data_parallel.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "nn/loss.h"
#include "nn/models/factory.h"

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Args {
  int64_t min_kib = 4, max_mib = 64;
  int reps = 20;
  std::string model = "resnet18";
  int64_t batch = 16;
  int steps = 3, threads = 1;
};

Args parse(tg::bench::Flags& f) {
  Args a;
  a.min_kib = f.integer("--min-kib", a.min_kib, 1, int64_t{1} << 20);
  a.max_mib = f.integer("--max-mib", a.max_mib, 1, 4096);
  a.reps = static_cast<int>(f.integer("--reps", a.reps, 1, 100000));
  a.model = f.text("--model", a.model, {"small", "resnet18", "airbench"});
  a.batch = f.integer("--batch", a.batch, 1, 1 << 16);
  a.steps = static_cast<int>(f.integer("--steps", a.steps, 1, 100000));
  a.threads = static_cast<int>(f.integer("--threads", a.threads, 1, 1024));
  f.done();
  return a;
}

// Median seconds of one blocking all-reduce of `count` floats.
double time_all_reduce(tg::dist::ProcessGroup& pg, int64_t count, int reps) {
  std::vector<float> data(static_cast<size_t>(count), 1.0f);
  std::vector<double> times;
  for (int r = 0; r < reps + 2; ++r) {
    pg.barrier();
    const double t0 = now_s();
    pg.all_reduce(data.data(), count, tg::dist::ReduceOp::kSum, "bench");
    double t = now_s() - t0;
    pg.all_reduce(&t, 1, tg::dist::ReduceOp::kMax, "bench time");  // the slowest rank's
    if (r >= 2) times.push_back(t);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

int run(tg::bench::Flags& f) {
  using namespace tg;
  const Args a = parse(f);
  dist::ProcessGroup pg;
  return dist::run_job(pg, [&] {
    set_num_threads(a.threads);
    const int n = pg.world_size();
    const double ring = 2.0 * (n - 1) / n;
    if (pg.is_root()) {
      std::printf("# all-reduce over %s, %d ranks; bus bandwidth = 2(N-1)/N x bytes / time\n",
                  pg.backend_name().c_str(), n);
      std::printf("%12s %12s %12s\n", "bytes", "time_us", "bus_GB/s");
    }
    for (int64_t bytes = a.min_kib << 10; bytes <= (a.max_mib << 20); bytes *= 4) {
      const double t = time_all_reduce(pg, bytes / 4, bytes >= (16 << 20) ? std::max(a.reps / 4, 3) : a.reps);
      if (pg.is_root()) std::printf("%12lld %12.1f %12.2f\n", static_cast<long long>(bytes), t * 1e6, ring * bytes / t / 1e9);
    }

    // DataParallel on a model: step time, exposed wait, the same gradient bytes all-reduced blocking.
    Generator gen(1);
    auto model = nn::make_model(a.model, 3, 32, 10, gen);
    dist::DataParallel ddp(pg, *model);
    int64_t elems = 0;
    for (const auto& p : model->parameters()) elems += p.numel();
    const double blocking = time_all_reduce(pg, elems, 3);
    Tensor x = Tensor::randn({a.batch, 3, 32, 32}, gen), y = Tensor::zeros({a.batch});
    double compute = 0.0, total = 0.0;
    for (int s = 0; s < a.steps + 1; ++s) {
      pg.barrier();
      const double wait0 = ddp.comm_wait_seconds(), t0 = now_s();
      cross_entropy((*model)(x), y).backward();
      ddp.synchronize();
      const double t = now_s() - t0, wait = ddp.comm_wait_seconds() - wait0;
      model->zero_grad();
      if (s == 0) continue;  // warm-up
      total += t;
      compute += t - wait;
    }
    total /= a.steps;
    compute /= a.steps;
    const double exposed = total - compute;
    if (pg.is_root()) {
      std::printf("# %s, batch %lld per rank, %d thread(s) per rank: %.2f MB of gradients in %zu buckets\n",
                  a.model.c_str(), static_cast<long long>(a.batch), a.threads, elems * 4 / 1e6, ddp.bucket_count());
      std::printf("step (fwd+bwd+sync) %.3f s, of which waiting %.3f s (%.1f%%); blocking all-reduce of the same bytes "
                  "%.3f s; hidden under backward: %.0f%%; buckets complete before synchronize(): %lld of %lld\n",
                  total, exposed, 100.0 * exposed / total, blocking,
                  100.0 * std::clamp(1.0 - exposed / blocking, 0.0, 1.0), static_cast<long long>(ddp.buckets_done_before_wait()),
                  static_cast<long long>(ddp.buckets_waited()));
    }
    return 0;
  });
}

}  // namespace

int main(int argc, char** argv) { return tg::bench::run_bench(argc, argv, run); }
