// Models moved with Module::to(cuda) compute what they compute on the CPU: logits, every parameter
// gradient and the BN running statistics after one training step, then the eval (folded) logits.
// Skips where no GPU is present.
#include <doctest/doctest.h>

#include "nn_test_util.h"

using namespace tg;
using namespace tg::nn;
using namespace tg::nn::testing;

namespace {

void check_parity(const std::string& name) {
  if (cuda_device_count() == 0) {
    MESSAGE("skipping CUDA parity of " << name << ": no CUDA device in this build/machine");
    return;
  }
  Generator g1(0), g2(0);
  auto cpu = make_model(name, 3, 32, 10, g1);
  auto gpu = make_model(name, 3, 32, 10, g2);
  gpu->to(Device::cuda(0));
  for (const auto& entry : gpu->state_dict()) REQUIRE_MESSAGE(entry.second.device() == Device::cuda(0), entry.first);
  Tensor x = formula_input({4, 3, 32, 32}, 3);
  Tensor y = Tensor::from_vector({1.f, 4.f, 7.f, 0.f}, {4});
  Tensor logits_cpu = (*cpu)(x);
  Tensor loss_cpu = nn::cross_entropy(logits_cpu, y);
  loss_cpu.backward();
  Tensor logits_gpu = (*gpu)(x.to(Device::cuda(0)));
  CHECK(logits_gpu.device() == Device::cuda(0));
  const double logit_err = normalized_max_error(logits_gpu.to(Device::cpu()), logits_cpu);
  CHECK_MESSAGE(logit_err <= 1e-4, name << " logits cuda vs cpu: " << logit_err);
  Tensor loss_gpu = nn::cross_entropy(logits_gpu, y.to(Device::cuda(0)));
  loss_gpu.backward();
  CHECK(loss_gpu.item() == doctest::Approx(loss_cpu.item()).epsilon(1e-4));
  auto pc = cpu->named_parameters(), pg = gpu->named_parameters();
  for (size_t i = 0; i < pc.size(); ++i) {
    if (!pc[i].second.requires_grad()) continue;
    const double err = normalized_max_error(pg[i].second.grad().to(Device::cpu()), pc[i].second.grad());
    CHECK_MESSAGE(err <= 1e-4, name << " " << pc[i].first << " gradient cuda vs cpu: " << err);
  }
  auto bc = cpu->named_buffers(), bg = gpu->named_buffers();
  for (size_t i = 0; i < bc.size(); ++i) {
    const double err = normalized_max_error(bg[i].second.to(Device::cpu()), bc[i].second);
    CHECK_MESSAGE(err <= 1e-5, name << " " << bc[i].first << " cuda vs cpu: " << err);
  }
  // Inference: eval mode under NoGradGuard folds the batch norms into the convs (nn/fold_bn.h) on
  // both devices; the folded CUDA model must match the folded CPU one.
  cpu->eval();
  gpu->eval();
  NoGradGuard no_grad;
  const double infer_err = normalized_max_error((*gpu)(x.to(Device::cuda(0))).to(Device::cpu()), (*cpu)(x));
  CHECK_MESSAGE(infer_err <= 1e-4, name << " eval logits cuda vs cpu: " << infer_err);
}

}  // namespace

TEST_CASE("cuda parity: small CNN training step") { check_parity("small_cnn"); }
TEST_CASE("cuda parity: airbench training step") { check_parity("airbench"); }
