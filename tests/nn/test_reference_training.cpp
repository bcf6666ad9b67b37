// A whole training in reference mode (engine/cpu/kernel_mode.h): the small CNN, from the same seed and on
// the same random batch, trained a few LAMBC steps with the fast kernels and with the reference
// loops, then evaluated in inference (where nn::Sequential folds BN into the convs and fuses ReLU and
// the 2x2 pool). The losses, the weights and the running statistics after the steps, and the
// inference outputs must agree to a stated tolerance.
//
// Tolerance. The two modes round differently (the reference sums in double; Winograd's transforms
// in the fast path round ~6x more than a direct sum), a few 1e-7 relative per op. LAMBC's update
// u = m / (sqrt(v) + eps) is close to sign(g) on the first steps, so a gradient entry whose sign the
// rounding flips moves its weight by ~lr the other way; such entries are rare (|g| within rounding
// of 0) but show in a tensor's norm. Measured (3 steps, batch 4): losses agree to ~1e-6 relative,
// weights to at most 1.4e-4 (||w_fast - w_ref|| / ||w_ref||), running statistics to 1e-6, the
// inference logits to 1.2e-4. kLossTol = 1e-4 and kStateTol = 1e-3 leave a margin of ~7x or more
// and still fail on a wrong kernel (a sign, index or scale error moves the first loss by far more).
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/cpu/kernel_mode.h"
#include "engine/ops.h"
#include "nn/models/factory.h"
#include "optim/lambc.h"

using namespace tg;

namespace {

constexpr double kLossTol = 1e-4;
constexpr double kStateTol = 1e-3;
constexpr int kSteps = 3;

// What one training run leaves behind.
struct TrainedRun {
  std::vector<float> losses;              // one per step
  std::vector<std::vector<float>> state;  // parameters, then buffers (running stats), in module order
  std::vector<std::string> state_names;
  std::vector<float> eval_logits;         // inference on the batch after the steps (folded BN path)
};

TrainedRun train_small_cnn(KernelMode mode) {
  const KernelMode saved = kernel_mode();
  set_kernel_mode(mode);
  Generator gen(21);
  auto net = nn::make_model("small", 1, 28, 10, gen);
  Generator data_gen(22);
  const Tensor x = Tensor::randn({4, 1, 28, 28}, data_gen);
  const Tensor y = Tensor::from_vector({3, 1, 4, 1}, {4});
  optim::Lambc opt(net->named_parameters(), optim::LambcPreset::kPaper, /*lr=*/0.01, /*weight_decay=*/0.01);
  TrainedRun run;
  net->train();
  for (int step = 0; step < kSteps; ++step) {
    opt.zero_grad();
    Tensor loss = cross_entropy((*net)(x), y);
    run.losses.push_back(loss.item());
    loss.backward();
    opt.step();
  }
  for (const auto& named : {net->named_parameters(), net->named_buffers()})
    for (const auto& [name, t] : named) {
      run.state_names.push_back(name);
      run.state.push_back(t.to_vector());
    }
  net->eval();
  {
    NoGradGuard no_grad;
    run.eval_logits = (*net)(x).to_vector();
  }
  set_kernel_mode(saved);
  return run;
}

// ||a - b|| / max(||b||, 1e-12)
double relative_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    norm += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(diff) / std::max(std::sqrt(norm), 1e-12);
}

}  // namespace

TEST_CASE("reference mode: the small CNN trains the same LAMBC steps as with the fast kernels") {
  const TrainedRun fast = train_small_cnn(KernelMode::Fast);
  const TrainedRun ref = train_small_cnn(KernelMode::Reference);
  REQUIRE(fast.losses.size() == static_cast<size_t>(kSteps));
  REQUIRE(ref.losses.size() == fast.losses.size());
  for (int step = 0; step < kSteps; ++step) {
    const double rel = std::abs(fast.losses[step] - ref.losses[step]) / std::abs(ref.losses[step]);
    CHECK_MESSAGE(rel <= kLossTol, "step " << step << ": loss " << fast.losses[step] << " (fast) vs "
                                           << ref.losses[step] << " (reference), relative difference " << rel);
  }
  CHECK(ref.losses.back() < ref.losses.front());  // the reference run does train
  REQUIRE(fast.state.size() == ref.state.size());
  for (size_t i = 0; i < fast.state.size(); ++i) {
    if (ref.state_names[i].find("num_batches_tracked") != std::string::npos) continue;
    CHECK_MESSAGE(relative_l2(fast.state[i], ref.state[i]) <= kStateTol,
                  ref.state_names[i] << ": relative difference " << relative_l2(fast.state[i], ref.state[i]));
  }
  CHECK_MESSAGE(relative_l2(fast.eval_logits, ref.eval_logits) <= kStateTol,
                "inference logits: relative difference " << relative_l2(fast.eval_logits, ref.eval_logits));
}
