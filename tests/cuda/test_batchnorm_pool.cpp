// CPU/CUDA parity of batch norm (cuda/batchnorm.h vs engine/cpu/batchnorm.h) and pooling
// (cuda/pool.h vs engine/cpu/pool.h), including max-pool ties, NaN and overlapping windows.
#include <doctest/doctest.h>

#ifdef TRUSTGRAD_WITH_CUDA
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "cuda/batchnorm.h"
#include "cuda/pool.h"
#include "engine/cpu/batchnorm.h"
#include "engine/cpu/pool.h"
#include "tests/cuda/cuda_test_util.h"

using namespace tg;
using namespace tg::cuda::test;

TEST_CASE("cuda batchnorm2d train/eval forward, backward and running update match the CPU") {
  TG_REQUIRE_CUDA_DEVICE();
  struct Case { int64_t N, C, HW; bool affine; };
  for (const Case& k : {Case{4, 3, 25, true}, Case{2, 16, 64, false}, Case{8, 5, 1, true}, Case{1, 2, 1000, true}}) {
    const int64_t n = k.N * k.C * k.HW;
    const std::string name = "batchnorm N" + std::to_string(k.N) + " C" + std::to_string(k.C) + " HW" +
                             std::to_string(k.HW) + (k.affine ? "" : " no-affine");
    const auto x = random_floats(n, 200, -2.f, 3.f), dout = random_floats(n, 201);
    const auto gamma = random_floats(k.C, 202, 0.5f, 1.5f), beta = random_floats(k.C, 203);
    const auto rmean = random_floats(k.C, 204), rvar = random_floats(k.C, 205, 0.5f, 2.f);
    const float* g = k.affine ? gamma.data() : nullptr;
    const float* b = k.affine ? beta.data() : nullptr;
    DeviceFloats dx(x), ddout(dout), dgamma(gamma), dbeta(beta), drmean(rmean), drvar(rvar);
    const float* dg = k.affine ? dgamma.get() : nullptr;
    const float* db = k.affine ? dbeta.get() : nullptr;
    DeviceFloats gout(n), gmean(k.C), ginvstd(k.C), gdin(n), gdgamma(k.C), gdbeta(k.C);
    std::vector<float> out(n), mean(k.C), invstd(k.C), din(n), dgamma_ref(k.C), dbeta_ref(k.C);

    cpu::batchnorm2d_forward_train(out.data(), mean.data(), invstd.data(), x.data(), g, b, k.N, k.C, k.HW, 1e-5f);
    cuda::batchnorm2d_forward_train(gout.get(), gmean.get(), ginvstd.get(), dx.get(), dg, db, k.N, k.C, k.HW, 1e-5f);
    check_close(gout.host(), out, 1e-5, 1e-5, name + " train forward");
    check_close(gmean.host(), mean, 1e-6, 1e-7, name + " save_mean");
    check_close(ginvstd.host(), invstd, 1e-6, 0.0, name + " save_invstd");

    cpu::batchnorm2d_backward(din.data(), dgamma_ref.data(), dbeta_ref.data(), dout.data(), x.data(), g, mean.data(),
                              invstd.data(), k.N, k.C, k.HW);
    cuda::batchnorm2d_backward(gdin.get(), gdgamma.get(), gdbeta.get(), ddout.get(), dx.get(), dg, gmean.get(),
                               ginvstd.get(), k.N, k.C, k.HW);
    check_close(gdin.host(), din, 1e-4, 1e-5, name + " din");
    check_close(gdgamma.host(), dgamma_ref, 1e-5, 1e-5, name + " dgamma");
    check_close(gdbeta.host(), dbeta_ref, 1e-5, 1e-5, name + " dbeta");

    cpu::batchnorm2d_forward_eval(out.data(), x.data(), g, b, rmean.data(), rvar.data(), k.N, k.C, k.HW, 1e-5f);
    cuda::batchnorm2d_forward_eval(gout.get(), dx.get(), dg, db, drmean.get(), drvar.get(), k.N, k.C, k.HW, 1e-5f);
    check_close(gout.host(), out, 1e-5, 1e-6, name + " eval forward");

    cpu::batchnorm2d_backward_eval(din.data(), dgamma_ref.data(), dbeta_ref.data(), dout.data(), x.data(), g,
                                   mean.data(), invstd.data(), k.N, k.C, k.HW);
    cuda::batchnorm2d_backward_eval(gdin.get(), gdgamma.get(), gdbeta.get(), ddout.get(), dx.get(), dg, gmean.get(),
                                    ginvstd.get(), k.N, k.C, k.HW);
    check_close(gdin.host(), din, 1e-5, 1e-6, name + " eval din");
    check_close(gdgamma.host(), dgamma_ref, 1e-5, 1e-5, name + " eval dgamma");

    std::vector<float> rm = rmean, rv = rvar;
    cpu::batchnorm2d_update_running(rm.data(), rv.data(), mean.data(), invstd.data(), k.C, k.N * k.HW, 0.1f, 1e-5f);
    cuda::batchnorm2d_update_running(drmean.get(), drvar.get(), gmean.get(), ginvstd.get(), k.C, k.N * k.HW, 0.1f,
                                     1e-5f);
    check_close(drmean.host(), rm, 1e-6, 1e-7, name + " running_mean");
    check_close(drvar.host(), rv, 1e-5, 1e-7, name + " running_var");
  }
}

TEST_CASE("cuda batchnorm2d running update keeps a NaN batch statistic, as the CPU") {
  TG_REQUIRE_CUDA_DEVICE();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> mean = {nan, 0.5f}, invstd = {nan, 2.f};  // channel 0's batch held a NaN
  std::vector<float> rm = {0.f, 0.f}, rv = {1.f, 1.f};
  DeviceFloats gmean(mean), ginvstd(invstd), drm(rm), drv(rv);
  cpu::batchnorm2d_update_running(rm.data(), rv.data(), mean.data(), invstd.data(), 2, 8, 0.1f, 1e-5f);
  cuda::batchnorm2d_update_running(drm.get(), drv.get(), gmean.get(), ginvstd.get(), 2, 8, 0.1f, 1e-5f);
  CHECK(std::isnan(rv[0]));  // max(0, NaN) made it 0.9 before
  check_close(drm.host(), rm, 1e-6, 1e-7, "running_mean");
  check_close(drv.host(), rv, 1e-6, 1e-7, "running_var");  // NaN must match NaN
}

TEST_CASE("cuda max/avg/global-avg pooling forward and backward match the CPU") {
  TG_REQUIRE_CUDA_DEVICE();
  const std::vector<PoolShape> shapes = {
      // N, C, H, W, kh, kw, sh, sw, ph, pw
      {2, 3, 8, 8, 2, 2, 2, 2, 0, 0},  // the CNN's 2x2 pool
      {2, 2, 9, 7, 3, 3, 2, 2, 1, 1},  // overlapping windows with padding
      {1, 4, 6, 5, 3, 2, 1, 2, 1, 0},  // rectangular, stride 1 rows
  };
  uint32_t seed = 300;
  for (const auto& s : shapes) {
    const int64_t in_n = s.N * s.C * s.H * s.W, out_n = s.N * s.C * s.P() * s.Q();
    const std::string name = "pool " + std::to_string(s.H) + "x" + std::to_string(s.W) + " k" +
                             std::to_string(s.kernel_h) + std::to_string(s.kernel_w) + " s" +
                             std::to_string(s.stride_h) + std::to_string(s.stride_w) + " p" +
                             std::to_string(s.pad_h) + std::to_string(s.pad_w);
    auto ties = random_ints(in_n, seed++, -2, 2);  // equal maxima in most windows
    ties[5] = NAN;                                  // and a NaN, which must win its windows
    const auto dout = random_floats(out_n, seed++);
    DeviceFloats dx(ties), ddout(dout), gout(out_n), gdin(in_n);
    cuda::test::DeviceArray<int32_t> gidx(out_n);
    std::vector<float> out(out_n), din(in_n);
    std::vector<int32_t> idx(out_n);

    cpu::max_pool2d_forward(out.data(), idx.data(), ties.data(), s);
    cuda::max_pool2d_forward(gout.get(), gidx.get(), dx.get(), s);
    check_close(gout.host(), out, 0.0, 0.0, name + " max forward");
    CHECK(gidx.host() == idx);
    cpu::max_pool2d_backward(din.data(), dout.data(), idx.data(), s);
    cuda::max_pool2d_backward(gdin.get(), ddout.get(), gidx.get(), s);
    check_close(gdin.host(), din, 1e-6, 1e-7, name + " max backward");

    const auto x = random_floats(in_n, seed++);
    dx.upload(x);
    cpu::avg_pool2d_forward(out.data(), x.data(), s);
    cuda::avg_pool2d_forward(gout.get(), dx.get(), s);
    check_close(gout.host(), out, 1e-6, 1e-7, name + " avg forward");
    cpu::avg_pool2d_backward(din.data(), dout.data(), s);
    cuda::avg_pool2d_backward(gdin.get(), ddout.get(), s);
    check_close(gdin.host(), din, 1e-6, 1e-7, name + " avg backward");
  }
  const int64_t NC = 24, HW = 49;
  const auto x = random_floats(NC * HW, 310), dout = random_floats(NC, 311);
  DeviceFloats dx(x), ddout(dout), gout(NC), gdin(NC * HW);
  std::vector<float> out(NC), din(NC * HW);
  cpu::global_avg_pool2d_forward(out.data(), x.data(), NC, HW);
  cuda::global_avg_pool2d_forward(gout.get(), dx.get(), NC, HW);
  check_close(gout.host(), out, 1e-6, 1e-7, "global avg pool forward");
  cpu::global_avg_pool2d_backward(din.data(), dout.data(), NC, HW);
  cuda::global_avg_pool2d_backward(gdin.get(), ddout.get(), NC, HW);
  check_close(gdin.host(), din, 1e-6, 0.0, "global avg pool backward");
}

#endif  // TRUSTGRAD_WITH_CUDA
