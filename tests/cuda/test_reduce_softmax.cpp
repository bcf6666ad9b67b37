// CPU/CUDA parity of reductions (cuda/reduce.h), softmax / log-softmax and the fused
// softmax-cross-entropy (cuda/softmax.h) against engine/cpu/reduce.h and engine/cpu/softmax.h.
#include <doctest/doctest.h>

#ifdef TRUSTGRAD_WITH_CUDA
#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "cuda/reduce.h"
#include "cuda/softmax.h"
#include "engine/cpu/reduce.h"
#include "engine/cpu/softmax.h"
#include "tests/cuda/cuda_test_util.h"

using namespace tg;
using namespace tg::cuda::test;

namespace {
// (outer, dim, inner) views: contiguous rows (inner = 1), strided dims, a single long row, tiny dims.
const std::vector<std::tuple<int64_t, int64_t, int64_t>> kViews = {
    {37, 100, 1}, {3, 17, 29}, {1, 100000, 1}, {1000, 3, 1}, {5, 1, 7}, {2, 2000, 3}};

std::string view_text(int64_t o, int64_t d, int64_t i) {
  std::string t = "(";  // appended piece by piece: GCC 12 warns (-Wrestrict) on "lit" + to_string
  t += std::to_string(o);
  t += ',';
  t += std::to_string(d);
  t += ',';
  t += std::to_string(i);
  return t + ")";
}
}  // namespace

TEST_CASE("cuda sum_dim and max_dim (first index on ties) match the CPU") {
  TG_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 30;
  for (const auto& [outer, dim, inner] : kViews) {
    const int64_t n = outer * dim * inner;
    const auto x = random_floats(n, seed++);
    const auto ties = random_ints(n, seed++, -3, 3);  // many equal maxima
    DeviceFloats dx(x), dties(ties), dout(outer * inner);
    cuda::test::DeviceArray<int64_t> didx(outer * inner);
    std::vector<float> ref(outer * inner);
    std::vector<int64_t> ref_idx(outer * inner);

    cpu::sum_dim(ref.data(), x.data(), outer, dim, inner);
    cuda::sum_dim(dout.get(), dx.get(), outer, dim, inner);
    check_close(dout.host(), ref, 1e-6, 1e-6, "sum_dim " + view_text(outer, dim, inner));

    for (const auto* data : {&x, &ties}) {
      DeviceFloats din(*data);
      cpu::max_dim(ref.data(), ref_idx.data(), data->data(), outer, dim, inner);
      cuda::max_dim(dout.get(), didx.get(), din.get(), outer, dim, inner);
      check_close(dout.host(), ref, 0.0, 0.0, "max_dim " + view_text(outer, dim, inner));
      CHECK(didx.host() == ref_idx);
    }
  }
}

TEST_CASE("cuda whole-tensor sums and argmax match the CPU (host and device results)") {
  TG_REQUIRE_CUDA_DEVICE();
  for (int64_t n : {1, 1000, 1 << 20}) {
    const auto x = random_floats(n, 40 + static_cast<uint32_t>(n));
    const auto ties = random_ints(n, 41, 0, 5);
    DeviceFloats dx(x), dties(ties), dres(1);
    check_close(cuda::sum_all(dx.get(), n), cpu::sum_all(x.data(), n), 1e-6, 1e-6, "sum_all n=" + std::to_string(n));
    check_close(cuda::sum_squares(dx.get(), n), cpu::sum_squares(x.data(), n), 1e-6, 0.0,
                "sum_squares n=" + std::to_string(n));
    cuda::sum_all_device(dres.get(), dx.get(), n);
    check_close(dres.host()[0], cpu::sum_all(x.data(), n), 1e-5, 1e-5, "sum_all_device");
    cuda::sum_squares_device(dres.get(), dx.get(), n);
    check_close(dres.host()[0], cpu::sum_squares(x.data(), n), 1e-6, 0.0, "sum_squares_device");
    CHECK(cuda::argmax_all(dx.get(), n) == cpu::argmax_all(x.data(), n));
    CHECK(cuda::argmax_all(dties.get(), n) == cpu::argmax_all(ties.data(), n));
  }
}

TEST_CASE("cuda softmax and log_softmax forward/backward match the CPU") {
  TG_REQUIRE_CUDA_DEVICE();
  uint32_t seed = 50;
  for (const auto& [outer, dim, inner] : kViews) {
    const int64_t n = outer * dim * inner;
    const auto x = random_floats(n, seed++, -5.f, 5.f), dy = random_floats(n, seed++);
    DeviceFloats dx(x), ddy(dy), dyout(n), ddx(n);
    for (bool log : {false, true}) {
      const std::string name = std::string(log ? "log_softmax " : "softmax ") + view_text(outer, dim, inner);
      std::vector<float> y(n), dxr(n);
      cpu::softmax_forward(y.data(), x.data(), outer, dim, inner, log);
      cpu::softmax_backward(dxr.data(), dy.data(), y.data(), outer, dim, inner, log);
      cuda::softmax_forward(dyout.get(), dx.get(), outer, dim, inner, log);
      check_close(dyout.host(), y, 1e-5, 1e-7, name + " forward");
      cuda::softmax_backward(ddx.get(), ddy.get(), dyout.get(), outer, dim, inner, log);
      check_close(ddx.host(), dxr, 1e-4, 1e-6, name + " backward");
    }
  }
}

TEST_CASE("cuda fused softmax-cross-entropy (with label smoothing) matches the CPU") {
  TG_REQUIRE_CUDA_DEVICE();
  for (const auto& [N, C] : std::vector<std::pair<int64_t, int64_t>>{{8, 10}, {300, 100}, {3, 1000}}) {
    const auto logits = random_floats(N * C, 60, -4.f, 4.f);
    const auto labels = random_ints(N, 61, 0, static_cast<int>(C) - 1);
    DeviceFloats dlogits(logits), dlabels(labels), dprobs(N * C), dgrad(N * C), dloss(1), dscale(std::vector<float>{0.5f});
    for (float eps : {0.f, 0.1f}) {
      const std::string name = "cross_entropy N=" + std::to_string(N) + " C=" + std::to_string(C) +
                               " eps=" + std::to_string(eps).substr(0, 3);
      std::vector<float> probs(N * C), grad(N * C);
      const double loss = cpu::cross_entropy_forward(probs.data(), logits.data(), labels.data(), N, C, eps);
      cpu::cross_entropy_backward(grad.data(), probs.data(), labels.data(), N, C, eps, 0.5f);

      check_close(cuda::cross_entropy_forward(dprobs.get(), dlogits.get(), dlabels.get(), N, C, eps), loss, 1e-6, 0.0,
                  name + " loss");
      check_close(dprobs.host(), probs, 1e-5, 1e-7, name + " probs");
      cuda::cross_entropy_backward(dgrad.get(), dprobs.get(), dlabels.get(), N, C, eps, 0.5f);
      check_close(dgrad.host(), grad, 1e-4, 1e-7, name + " dlogits");

      cuda::cross_entropy_forward_device(dloss.get(), dprobs.get(), dlogits.get(), dlabels.get(), N, C, eps);
      check_close(dloss.host()[0], loss, 1e-6, 0.0, name + " loss (device)");
      cuda::cross_entropy_backward_device(dgrad.get(), dprobs.get(), dlabels.get(), N, C, eps, dscale.get());
      check_close(dgrad.host(), grad, 1e-4, 1e-7, name + " dlogits (device dloss)");
    }
  }
}

TEST_CASE("cuda edge inputs match the CPU: NaN in max and argmax, log_softmax at 1e8, masked cross-entropy") {
  // The CPU side (the reference values and the rule they must follow) is checked with or without a
  // device, so a wrong expectation here fails in every CUDA build; only the comparison needs a GPU.
  const bool gpu = have_device();
  if (!gpu) MESSAGE("CUDA side skipped: no CUDA device (the CPU expectations are checked)");
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  // max over dim with NaNs: two in one row, handled by different lanes of the warp (5 and 35 of 40);
  // and the strided (columns) kernel. A NaN is the maximum, its first occurrence the index.
  for (const auto& [outer, dim, inner] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{2, 40, 1}, {3, 40, 2}}) {
    auto x = random_floats(outer * dim * inner, 91);
    x[5 * inner] = nan;
    x[35 * inner] = nan;
    x[(dim + 7) * inner] = nan;  // second row: one NaN
    std::vector<float> ref(outer * inner);
    std::vector<int64_t> ref_idx(outer * inner);
    cpu::max_dim(ref.data(), ref_idx.data(), x.data(), outer, dim, inner);
    CHECK(ref_idx[0] == 5);
    CHECK(ref_idx[inner] == 7);
    CHECK(std::isnan(ref[0]));
    CHECK(cpu::argmax_all(x.data(), outer * dim * inner) == 5 * inner);
    if (!gpu) continue;
    DeviceFloats dx(x), dout(outer * inner);
    cuda::test::DeviceArray<int64_t> didx(outer * inner);
    cuda::max_dim(dout.get(), didx.get(), dx.get(), outer, dim, inner);
    check_close(dout.host(), ref, 0.0, 0.0, "max_dim with NaN " + view_text(outer, dim, inner));
    CHECK(didx.host() == ref_idx);
    CHECK(cuda::argmax_all(dx.get(), outer * dim * inner) == cpu::argmax_all(x.data(), outer * dim * inner));
  }
  // log_softmax of two equal logits at 1e8 and two at -1e30: -log 2 each (the float sum m + log s
  // lost log s). The softmax runs along `dim`: contiguous pairs in the rows view (2, 2, 1), pairs
  // `inner` apart in the strided view (1, 2, 2), so there the data is laid out by column.
  using LogSoftmaxCase = std::tuple<int64_t, int64_t, int64_t, std::vector<float>>;
  for (const auto& [outer, dim, inner, x] :
       std::vector<LogSoftmaxCase>{{2, 2, 1, {1e8f, 1e8f, -1e30f, -1e30f}}, {1, 2, 2, {1e8f, -1e30f, 1e8f, -1e30f}}}) {
    std::vector<float> y(4);
    cpu::softmax_forward(y.data(), x.data(), outer, dim, inner, /*log=*/true);
    check_close(y, std::vector<float>(4, -0.6931472f), 1e-6, 0.0, "cpu log_softmax at 1e8 " + view_text(outer, dim, inner));
    if (!gpu) continue;
    DeviceFloats dx(x), dy(4);
    cuda::softmax_forward(dy.get(), dx.get(), outer, dim, inner, /*log=*/true);
    check_close(dy.host(), y, 1e-6, 0.0, "log_softmax at 1e8 " + view_text(outer, dim, inner));
  }
  // Cross-entropy with masked (-inf) logits: finite without smoothing, +inf with it.
  const int64_t N = 2, C = 3;
  const std::vector<float> logits = {0.f, -inf, 1.f, 2.f, 0.5f, -inf}, labels = {0.f, 1.f};
  std::vector<float> probs(N * C);
  for (float eps : {0.f, 0.1f}) {
    const double loss = cpu::cross_entropy_forward(probs.data(), logits.data(), labels.data(), N, C, eps);
    CHECK((eps == 0.f ? std::isfinite(loss) : loss == inf));
    if (!gpu) continue;
    DeviceFloats dlogits(logits), dlabels(labels), dprobs(N * C);
    const double on_gpu = cuda::cross_entropy_forward(dprobs.get(), dlogits.get(), dlabels.get(), N, C, eps);
    // doctest::Approx(inf) equals nothing (|inf - inf| is NaN): an infinite loss must be equal.
    if (std::isinf(loss))
      CHECK(on_gpu == loss);
    else
      CHECK(on_gpu == doctest::Approx(loss).epsilon(1e-6));
    check_close(dprobs.host(), probs, 1e-6, 1e-7, "masked cross-entropy probs");
  }
  // An empty batch: the mean over no sample is NaN (the CPU kernels' 0 / 0, as PyTorch); the CUDA
  // twins returned 0.
  CHECK(std::isnan(cpu::cross_entropy_forward(nullptr, nullptr, nullptr, 0, C, 0.f)));
  if (gpu) {
    CHECK(std::isnan(cuda::cross_entropy_forward(nullptr, nullptr, nullptr, 0, C, 0.f)));
    DeviceFloats dloss(1);
    cuda::cross_entropy_forward_device(dloss.get(), nullptr, nullptr, nullptr, 0, C, 0.f);
    CHECK(std::isnan(dloss.host()[0]));
  }
}

#endif  // TRUSTGRAD_WITH_CUDA
