// dist/ in one process (no mpirun): the world of one, the post-accumulate-grad hook, DataParallel
// and the sharded optimizer reducing to plain training bit for bit, and argument errors.
#include <doctest/doctest.h>

#include <cstdlib>

#include "dist_test_util.h"
#include "dist/sync_batch_norm.h"
#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/nn_ops.h"
#include "nn/sync_batch_norm.h"
#include "support/gradcheck.h"

namespace tg::dist {
namespace {

using namespace tg::dist::testing;

// The NCCL tests need a build with NCCL and a GPU; otherwise this says why they skip.
bool nccl_and_gpu() {
  if (!nccl_built()) {
    MESSAGE("skipped: this build has no NCCL (no CUDA backend)");
    return false;
  }
  if (cuda_device_count() == 0) {
    MESSAGE("skipped: no CUDA device");
    return false;
  }
  return true;
}

TEST_CASE("dist: a group of one without mpirun; its collectives are the identity") {
  ProcessGroup pg(ProcessGroupOptions{.force_single = true});
  CHECK(pg.rank() == 0);
  CHECK(pg.world_size() == 1);
  CHECK(pg.backend_name() == "single");
  Tensor t = Tensor::from_vector({1.f, 2.f}, {2});
  pg.all_reduce(t, ReduceOp::kAverage);
  pg.broadcast(t);
  CHECK(t.to_vector() == std::vector<float>{1.f, 2.f});
  CHECK(pg.all_gather(t).shape() == Shape{1, 2});
  CHECK(pg.reduce_scatter(t).to_vector() == std::vector<float>{1.f, 2.f});
  pg.barrier();
  CHECK_THROWS_WITH_AS(pg.broadcast(t, 1), doctest::Contains("root 1 is not a rank of a world of 1"), Error);
  CHECK_THROWS_WITH_AS(pg.set_timeout_seconds(0), doctest::Contains("timeout must be > 0"), Error);
  CHECK_THROWS_WITH_AS(pg.all_reduce(Tensor()), doctest::Contains("all_reduce"), Error);
}

// NCCL (dist/nccl_backend.cpp) in the one configuration a one-GPU machine can run: a world of one
// on cuda:0 (NCCL refuses two ranks on one GPU). Each collective goes through the communicator,
// its stream and its completion event, so a wrong pointer, count, type or stream shows here.
TEST_CASE("dist: collectives on CUDA tensors go through NCCL (a world of one on cuda:0)") {
  if (!nccl_and_gpu()) return;
  ProcessGroup pg(ProcessGroupOptions{.force_single = true});
  Generator gen(5);
  const Tensor host = Tensor::randn({1000}, gen);
  const auto same = [&](const Tensor& device_tensor, const Tensor& expected) {
    const Tensor back = device_tensor.to(Device::cpu());
    REQUIRE(back.numel() == expected.numel());
    bool equal = true;
    for (int64_t i = 0; i < expected.numel(); ++i) equal &= back.data()[i] == expected.data()[i];
    return equal;
  };
  Tensor x = host.to(Device::cuda(0));
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAverage, ReduceOp::kMax}) {
    pg.all_reduce(x, op);  // over one rank: the identity
    CHECK(same(x, host));
  }
  CHECK(pg.backend_name().find("nccl") != std::string::npos);
  pg.broadcast(x, 0);
  CHECK(same(x, host));
  const Tensor gathered = pg.all_gather(x);
  CHECK(gathered.shape() == Shape{1, 1000});
  CHECK(gathered.device() == Device::cuda(0));
  CHECK(same(gathered, host));
  const Tensor scattered = pg.reduce_scatter(x, ReduceOp::kSum);
  CHECK(scattered.device() == Device::cuda(0));
  CHECK(same(scattered, host));
  // A CPU tensor in the same group still goes through the CPU backend.
  Tensor c = host.clone();
  pg.all_reduce(c, ReduceOp::kSum);
  CHECK(same(c, host));
}

// DataParallel's CUDA path (flat buckets on the GPU, device-side packing, the NCCL all-reduce,
// device-side unpacking, buffers through the tensor collectives) in a world of one on cuda:0: bit
// for bit plain training on the same GPU, accumulation under no_sync included. scripts/gpu_check.sh
// runs it (its filter takes every test case naming NCCL).
TEST_CASE("dist: DataParallel on CUDA parameters goes through NCCL and equals plain training (a world of one on cuda:0)") {
  if (!nccl_and_gpu()) return;
  const Device gpu = Device::cuda(0);
  const auto on_gpu = [&](const Data& d) { return Data{d.images.to(gpu), d.labels.to(gpu)}; };
  ProcessGroup pg(ProcessGroupOptions{.force_single = true});
  auto a = make_model(5), b = make_model(5);
  a->to(gpu);
  b->to(gpu);
  DataParallel ddp(pg, *a, DataParallelOptions{.bucket_bytes = 32 << 10});
  CHECK(ddp.bucket_count() > 1);
  CHECK(pg.backend_name().find("nccl") != std::string::npos);  // the start-up broadcast went through NCCL
  auto oa = make_lambc(lambc_groups(*a)), ob = make_lambc(lambc_groups(*b));
  for (int s = 0; s < 3; ++s) {
    const Data d = batch(s, 16);
    {
      auto guard = ddp.no_sync();
      forward_backward(*a, on_gpu(rows(d, 0, 8)), 0.5f);
    }
    forward_backward(*a, on_gpu(rows(d, 8, 8)), 0.5f);
    forward_backward(*b, on_gpu(rows(d, 0, 8)), 0.5f);
    forward_backward(*b, on_gpu(rows(d, 8, 8)), 0.5f);
    ddp.synchronize();
    CHECK(a->named_parameters().front().second.grad().device() == gpu);
    oa->step();
    ob->step();
    oa->zero_grad();
    ob->zero_grad();
  }
  ddp.sync_buffers(BufferSync::kAverage);  // over one rank: the identity, through NCCL
  ddp.sync_buffers(BufferSync::kBroadcast);
  a->to(Device::cpu());
  b->to(Device::cpu());
  CHECK(std::memcmp(flat_parameters(*a).data(), flat_parameters(*b).data(),
                    static_cast<size_t>(a->num_parameters()) * 4) == 0);
  const auto buffers_a = a->named_buffers(), buffers_b = b->named_buffers();
  for (size_t i = 0; i < buffers_a.size(); ++i) CHECK(buffers_a[i].second.to_vector() == buffers_b[i].second.to_vector());
  CHECK(ddp.buckets_waited() == 3 * static_cast<int64_t>(ddp.bucket_count()));
}

TEST_CASE("dist: the default group outside mpirun is a world of one (MPI singleton or no MPI)") {
  ProcessGroup pg;
  CHECK(pg.world_size() == 1);
  CHECK(pg.rank() == 0);
  CHECK(pg.local_rank() == 0);
  MESSAGE("backend: " << pg.backend_name() << std::string(mpi_built() ? " (MPI built)" : " (no MPI in this build)"));
  std::vector<double> v{1.0, 2.0};
  pg.all_reduce(v.data(), 2, ReduceOp::kSum, "test");
  CHECK(v[1] == 2.0);
}

TEST_CASE("dist: the launcher's world size comes from its environment") {
  ::setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
  CHECK(launcher_world_size() == 4);
  ::unsetenv("OMPI_COMM_WORLD_SIZE");
  if (!std::getenv("PMI_SIZE") && !std::getenv("PMIX_SIZE")) CHECK(launcher_world_size() == 0);
}

TEST_CASE("dist: a wrong launch is a clear error (no MPI under mpirun; another MPI's mpirun)") {
  CHECK_NOTHROW(check_launch(0, 1, false));
  CHECK_NOTHROW(check_launch(4, 4, true));
  CHECK_THROWS_WITH_AS(check_launch(2, 1, false), doctest::Contains("launched as 2 ranks (mpirun/srun), but this build has no MPI"),
                       Error);
  CHECK_THROWS_WITH_AS(check_launch(4, 1, true), doctest::Contains("the launcher started 4 ranks but MPI sees a world of 1"),
                       Error);
}

TEST_CASE("autograd: the post-accumulate-grad hook fires once, after a leaf's last gradient") {
  Tensor w = Tensor::from_vector({2.f}, {1});
  w.set_requires_grad(true);
  int calls = 0;
  float seen = 0.f;
  w.set_post_accumulate_grad_hook([&] {
    ++calls;
    seen = w.grad().data()[0];
  });
  Tensor y = add(mul(w, w), mul(w, 3.f));  // dy/dw = 2w + 3 = 7, from three edges
  y.backward(Tensor::ones({1}));
  CHECK(calls == 1);
  CHECK(seen == 7.f);
  w.backward(Tensor::ones({1}));  // a leaf as the root
  CHECK(calls == 2);
  CHECK(seen == 8.f);
  w.set_post_accumulate_grad_hook(nullptr);
  mul(w, 2.f).backward(Tensor::ones({1}));
  CHECK(calls == 2);
  Tensor x = add(w, 1.f);
  CHECK_THROWS_WITH_AS(x.set_post_accumulate_grad_hook([] {}), doctest::Contains("only leaf tensors"), Error);
}

TEST_CASE("dist: DataParallel in a world of one is plain training, bit for bit") {
  ProcessGroup pg(ProcessGroupOptions{.force_single = true});
  auto a = make_model(5), b = make_model(5);
  DataParallel ddp(pg, *a, DataParallelOptions{.bucket_bytes = 32 << 10});
  // Reverse registration order, every parameter in exactly one bucket.
  const auto layout = ddp.bucket_layout();
  CHECK(layout.front().front() == a->named_parameters().size() - 1);
  size_t count = 0;
  for (const auto& bucket : layout) count += bucket.size();
  CHECK(count == a->named_parameters().size());
  auto oa = make_lambc(lambc_groups(*a)), ob = make_lambc(lambc_groups(*b));
  for (int s = 0; s < 3; ++s) {
    const Data d = batch(s, 16);
    {
      auto guard = ddp.no_sync();
      forward_backward(*a, rows(d, 0, 8), 0.5f);
      ddp.synchronize();  // a no-op while sync is off
    }
    forward_backward(*a, rows(d, 8, 8), 0.5f);
    forward_backward(*b, rows(d, 0, 8), 0.5f);
    forward_backward(*b, rows(d, 8, 8), 0.5f);
    ddp.synchronize();
    oa->step();
    ob->step();
    oa->zero_grad();
    ob->zero_grad();
  }
  CHECK(std::memcmp(flat_parameters(*a).data(), flat_parameters(*b).data(),
                    static_cast<size_t>(a->num_parameters()) * 4) == 0);
  CHECK(ddp.buckets_waited() == 3 * static_cast<int64_t>(ddp.bucket_count()));
}

TEST_CASE("dist: a parameter no rank gave a gradient keeps none, as in plain training (weight decay and momentum skip it)") {
  ProcessGroup pg(ProcessGroupOptions{.force_single = true});
  TwoHeads a(7), b(7);
  DataParallel ddp(pg, a);
  auto oa = make_sgd_wd(a), ob = make_sgd_wd(b);
  Generator gen(8);
  const Tensor second_before = a.second->weight.clone();
  for (int s = 0; s < 3; ++s) {
    const Tensor x = Tensor::randn({5, 4}, gen);
    sum(a(x)).backward();
    sum(b(x)).backward();
    ddp.synchronize();
    CHECK_FALSE(a.second->weight.grad().defined());  // (it was a zero gradient, so SGD decayed it)
    CHECK(a.first->weight.grad().defined());
    oa->step();
    ob->step();
    oa->zero_grad();
    ob->zero_grad();
  }
  CHECK(std::memcmp(flat_parameters(a).data(), flat_parameters(b).data(), static_cast<size_t>(a.num_parameters()) * 4) == 0);
  CHECK(a.second->weight.to_vector() == second_before.to_vector());
}

TEST_CASE("dist: backward twice without no_sync is refused, naming the parameter") {
  ProcessGroup pg(ProcessGroupOptions{.force_single = true});
  auto m = make_model(5);
  DataParallel ddp(pg, *m);
  const Data d = batch(0, 4);
  forward_backward(*m, d);
  CHECK_THROWS_WITH_AS(forward_backward(*m, d), doctest::Contains("became ready twice before synchronize()"), Error);
}

TEST_CASE("dist: a no_sync() backward after a synchronising one, before synchronize(), is refused") {
  // The synchronising backward's buckets already copied the gradients; the no_sync micro-batch
  // accumulated into .grad after that, and synchronize() overwrote it with the older average:
  // that micro-batch was lost without a word (measured: 0.77 relative gradient error).
  ProcessGroup pg(ProcessGroupOptions{.force_single = true});
  auto m = make_model(5);
  DataParallel ddp(pg, *m);
  const Data d = batch(0, 8);
  forward_backward(*m, rows(d, 0, 4));
  auto guard = ddp.no_sync();
  CHECK_THROWS_WITH_AS(forward_backward(*m, rows(d, 4, 4)),
                       doctest::Contains("a backward under no_sync() reached '19.weight' after a synchronising backward"), Error);
}

TEST_CASE("dist: the sharded optimizer in a world of one is the optimizer, bit for bit (sgd, adamw, lars, lamb, lambc)") {
  ProcessGroup pg(ProcessGroupOptions{.force_single = true});
  const std::vector<std::pair<std::string, OptimizerFactory>> kinds = {
      {"sgd", [](auto g) { return std::make_unique<optim::Sgd>(std::move(g), optim::SgdOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-4}); }},
      {"adamw", [](auto g) { return std::make_unique<optim::AdamW>(std::move(g), optim::AdamWOptions{.lr = 1e-3}); }},
      {"lars", [](auto g) { return std::make_unique<optim::Lars>(std::move(g), optim::LarsOptions{.lr = 0.1, .weight_decay = 1e-4, .trust_clip = true}); }},
      {"lamb", [](auto g) { return std::make_unique<optim::Lamb>(std::move(g), optim::LambOptions{.lr = 1e-3, .weight_decay = 1e-2}); }},
      {"lambc", make_lambc},
  };
  for (const auto& entry : kinds) {  // no structured binding: Clang 14 cannot capture one in CAPTURE
    const auto& kind = entry.first;
    const auto& make = entry.second;
    CAPTURE(kind);
    auto a = make_model(9), b = make_model(9);
    ShardedOptimizer sharded(pg, lambc_groups(*a), make);
    auto plain = make(lambc_groups(*b));
    for (int s = 0; s < 3; ++s) {
      const Data d = batch(s, 8);
      forward_backward(*a, d);
      forward_backward(*b, d);
      sharded.step();
      plain->step();
      sharded.zero_grad();
      plain->zero_grad();
      CHECK(sharded.trust_ratios().size() == plain->trust_ratios().size());
    }
    CHECK(std::memcmp(flat_parameters(*a).data(), flat_parameters(*b).data(),
                      static_cast<size_t>(a->num_parameters()) * 4) == 0);
    const optim::StateDict sa = sharded.state_dict(), sb = plain->state_dict();
    REQUIRE(sa.tensors.size() == sb.tensors.size());
    for (size_t i = 0; i < sa.tensors.size(); ++i) CHECK(rel_diff(sa.tensors[i].second, sb.tensors[i].second) == 0.0);
  }
}

TEST_CASE("dist: sharding refuses optimizers whose state is not shaped like the parameter") {
  ProcessGroup pg(ProcessGroupOptions{.force_single = true});
  auto m = make_model(1);
  CHECK_THROWS_WITH_AS(ShardedOptimizer(pg, lambc_groups(*m),
                                        [](auto g) { return std::make_unique<optim::NovoGrad>(std::move(g), optim::NovoGradOptions{}); }),
                       doctest::Contains("novograd is not supported sharded"), Error);
  CHECK_THROWS_WITH_AS(flat_slice(Tensor::zeros({4}), 2, 3), doctest::Contains("outside a tensor of 4"), Error);
}

}  // namespace
}  // namespace tg::dist

namespace tg::dist {
namespace {

// Sums nothing across ranks: a world of one.
class LocalSync : public nn::BatchStatsSync {
 public:
  void sum(double*, int64_t) const override {}
};

TEST_CASE("sync batch norm: in a world of one it is batch_norm2d (values, gradients, running stats) and passes gradcheck") {
  auto sync = std::make_shared<LocalSync>();
  const Tensor x = test::leaf({3, 4, 5, 5}, 1), w = test::leaf({4}, 2, 0.5f, 1.5f), b = test::leaf({4}, 3);
  Tensor rm1 = Tensor::zeros({4}), rv1 = Tensor::ones({4}), rm2 = Tensor::zeros({4}), rv2 = Tensor::ones({4});
  const Tensor dy = test::leaf({3, 4, 5, 5}, 4).detach();
  Tensor y1 = nn::sync_batch_norm2d(x, w, b, rm1, rv1, 0.1f, 1e-5f, sync);
  y1.backward(dy);
  const Tensor gx = x.grad().clone(), gw = w.grad().clone(), gb = b.grad().clone();
  x.set_grad(Tensor());
  w.set_grad(Tensor());
  b.set_grad(Tensor());
  Tensor y2 = batch_norm2d(x, w, b, rm2, rv2, true, 0.1f, 1e-5f);
  y2.backward(dy);
  CHECK(rel_diff(y1, y2) < 1e-6);
  CHECK(rel_diff(gx, x.grad()) < 1e-5);
  CHECK(rel_diff(gw, w.grad()) < 1e-5);
  CHECK(rel_diff(gb, b.grad()) < 1e-5);
  CHECK(rel_diff(rm1, rm2) < 1e-6);
  CHECK(rel_diff(rv1, rv2) < 1e-6);
  // Finite differences: batch norm sums 75 values per channel, so atol as the batch-norm tests.
  const auto r = test::gradcheck(
      [&](const std::vector<Tensor>& in) {
        return nn::sync_batch_norm2d(in[0], in[1], in[2], Tensor(), Tensor(), 0.1f, 1e-5f, sync);
      },
      {test::leaf({2, 3, 4, 4}, 5), test::leaf({3}, 6, 0.5f, 1.5f), test::leaf({3}, 7)}, {.atol = 5e-3});
  CHECK_MESSAGE(r.ok, r.report);
  // Through the module: convert and revert in a world of one.
  ProcessGroup pg(ProcessGroupOptions{.force_single = true});
  auto m = make_model(1);
  CHECK(convert_sync_batchnorm(*m, pg) == 5);
  CHECK(revert_sync_batchnorm(*m) == 5);
}

TEST_CASE("sync batch norm: per-channel vectors of another size, eps and momentum out of range are refused") {
  auto sync = std::make_shared<LocalSync>();
  const Tensor x = Tensor::ones({2, 4, 3, 3});
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({4});  // running_mean of 3 for 4 channels: was written past its end
  CHECK_THROWS_WITH_AS(nn::sync_batch_norm2d(x, Tensor(), Tensor(), rm, rv, 0.1f, 1e-5f, sync),
                       doctest::Contains("running_mean must be a CPU tensor of shape (4,) for input (2, 4, 3, 3), got (3,)"),
                       Error);
  CHECK_THROWS_WITH_AS(nn::sync_batch_norm2d(x, Tensor::ones({5}), Tensor(), Tensor(), Tensor(), 0.1f, 1e-5f, sync),
                       doctest::Contains("weight must be a CPU tensor of shape (4,)"), Error);
  CHECK_THROWS_WITH_AS(nn::sync_batch_norm2d(x, Tensor(), Tensor(), Tensor::zeros({4}), rv, 1.5f, 1e-5f, sync),
                       doctest::Contains("momentum must be in [0, 1], got 1.5"), Error);
  CHECK_THROWS_WITH_AS(nn::sync_batch_norm2d(x, Tensor(), Tensor(), Tensor(), Tensor(), 0.1f, 0.f, sync),
                       doctest::Contains("eps must be positive"), Error);
}

}  // namespace
}  // namespace tg::dist
