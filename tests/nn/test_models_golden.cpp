// Whole-model forward + backward against PyTorch (float64 reference) from the same closed-form
// weights (nn_test_util.h formula_tensor = gen_nn.py formula_tensor): logits, loss, every
// parameter gradient (norm, max |g| and 16 sampled entries) and every buffer after the step.
// All errors are relative to the tensor's scale and must be <= 1e-4.
#include <doctest/doctest.h>

#include <cmath>

#include "nn_test_util.h"
#include "support/fixtures.h"

using namespace tg;
using namespace tg::nn;
using namespace tg::nn::testing;

namespace {

constexpr double kTol = 1e-4;

double rel_err(double a, double e) { return std::abs(a - e) / std::max(std::abs(e), 1e-30); }

// algorithm: the convs' CPU algorithm. with_grads = false checks the forward only.
void check_model(const std::string& name, ConvAlgorithm algorithm = ConvAlgorithm::Auto, bool with_grads = true) {
  Generator gen(0);
  auto model = model_by_fixture_name(name, gen);
  REQUIRE(model);
  load_formula_weights(*model);
  CHECK(nn::set_conv_algorithm(*model, algorithm) > 0);
  model->train();
  auto f = test::load_fixture("nn_model_" + name);

  // The committed input is the formula input (both sides agree on the closed forms). Its phase was
  // chosen by gen_nn.py where PyTorch's own float32 run is closest to float64 (torch_f32_error):
  // ReLU / max-pool kinks make some inputs ill-conditioned for any float32 implementation.
  const int phase = static_cast<int>(f.at("phase").item());
  CHECK(normalized_max_error(formula_input(f.at("x").shape(), phase), f.at("x")) <= 1e-6);

  Tensor logits = (*model)(f.at("x"));
  const double logit_err = normalized_max_error(logits, f.at("logits"));
  CHECK_MESSAGE(logit_err <= kTol, name << " logits: normalised max error " << logit_err);
  Tensor loss = nn::cross_entropy(logits, f.at("y"));
  CHECK_MESSAGE(rel_err(loss.item(), f.at("loss").item()) <= kTol,
                name << " loss " << loss.item() << " vs " << f.at("loss").item());
  if (!with_grads) return;
  loss.backward();

  int checked = 0;
  double worst = 0;
  std::string worst_name;
  for (const auto& entry : model->named_parameters()) {  // no structured binding: Clang 14 cannot capture one
    const std::string& pname = entry.first;
    const Tensor& p = entry.second;
    const std::string key = "grad." + pname;
    if (!f.find(key + ".norm")) {  // PyTorch had no gradient (frozen): neither may we
      CHECK_MESSAGE(!p.requires_grad(), pname << " has no reference gradient but requires grad");
      CHECK_FALSE(p.grad().defined());
      continue;
    }
    REQUIRE_MESSAGE(p.grad().defined(), name << ": no gradient for " << pname);
    const std::vector<float> g = p.grad().to_vector();
    double sq = 0, maxabs = 0;
    for (float v : g) {
      sq += static_cast<double>(v) * v;
      maxabs = std::max(maxabs, std::abs(static_cast<double>(v)));
    }
    const double e_norm = f.at(key + ".norm").item(), e_max = f.at(key + ".maxabs").item();
    const double err_norm = rel_err(std::sqrt(sq), e_norm), err_max = rel_err(maxabs, e_max);
    CHECK_MESSAGE(err_norm <= kTol, name << " " << pname << " grad norm " << std::sqrt(sq) << " vs " << e_norm);
    CHECK_MESSAGE(err_max <= kTol, name << " " << pname << " grad max|g| " << maxabs << " vs " << e_max);
    const auto idx = f.at(key + ".idx").to_vector();
    const auto val = f.at(key + ".val").to_vector();
    double err_samples = 0;
    for (size_t k = 0; k < idx.size(); ++k)
      err_samples = std::max(err_samples, std::abs(g[static_cast<size_t>(idx[k])] - static_cast<double>(val[k])) / e_max);
    CHECK_MESSAGE(err_samples <= kTol, name << " " << pname << " sampled grad entries: error / max|g| = " << err_samples);
    for (double e : {err_norm, err_max, err_samples})
      if (e > worst) worst = e, worst_name = pname;
    ++checked;
  }
  for (const auto& entry : model->named_buffers()) {
    const std::string& bname = entry.first;
    const Tensor& b = entry.second;
    const double n = norm(b).item(), e = f.at("after." + bname + ".norm").item();
    CHECK_MESSAGE(rel_err(n, e) <= kTol, name << " buffer " << bname << " norm " << n << " vs " << e);
  }
  MESSAGE(name << ": " << checked << " parameter gradients, worst relative error " << worst << " (" << worst_name
               << "), logits " << logit_err << " (PyTorch float32: " << f.at("torch_f32_error").item() << ")");
}

}  // namespace

TEST_CASE("golden model: small CNN (3x32x32, batch 2) forward + backward equals PyTorch") {
  check_model("small_cnn_3_32");
}

// At batch 2 this network's gradients are ill-conditioned at the level of a few float32 ulps: its last
// batch norms see 32 values per channel, and a ReLU input that rounds to the other side of zero
// changes the gradients by percents. Measured: scaling every conv output of the GEMM path by
// 1 + 1e-6 u (u uniform in [-1, 1]) already gives 1.5% gradient errors; Winograd's rounding (~1e-6 of
// the output scale, winograd.h) likewise. So the backward is compared with every conv on the GEMM
// algorithm (one dot product per output, PyTorch's rounding up to summation order), and the
// default algorithm's forward on its own; the Winograd kernels themselves are compared with the
// direct loops in tests/engine/test_nn_ops.cpp.
TEST_CASE("golden model: CIFAR ResNet-18 (3x32x32, batch 2) forward + backward equals PyTorch") {
  check_model("resnet18", ConvAlgorithm::Gemm);
}

TEST_CASE("golden model: CIFAR ResNet-18 (3x32x32, batch 2), default conv algorithm: forward equals PyTorch") {
  check_model("resnet18", ConvAlgorithm::Auto, /*with_grads=*/false);
}

TEST_CASE("golden model: airbench net (3x32x32, batch 2) forward + backward equals PyTorch") { check_model("airbench"); }
