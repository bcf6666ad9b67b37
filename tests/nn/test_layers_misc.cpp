// Layer behaviour that needs no PyTorch: default initialisation, Dropout statistics and determinism,
// accuracy/top-k metrics, label-smoothing closed forms, model shapes and the factory.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/error.h"
#include "optim/sgd.h"
#include "nn_test_util.h"

using namespace tg;
using namespace tg::nn;

TEST_CASE("init: PyTorch-default U(-1/sqrt(fan_in), 1/sqrt(fan_in)), seeded, BN ones/zeros") {
  Generator g1(42), g2(42), g3(43);
  const Conv2dOptions o = Conv2dOptions(16, 32, 3).padding(1);
  Conv2d a(o, g1), b(o, g2), c(o, g3);
  CHECK(a.weight.to_vector() == b.weight.to_vector());
  CHECK(a.bias.to_vector() == b.bias.to_vector());
  CHECK(a.weight.to_vector() != c.weight.to_vector());
  const double bound = 1.0 / std::sqrt(16.0 * 9.0);
  const auto w = a.weight.to_vector();  // 4608 draws
  double mean = 0, sq = 0, maxabs = 0;
  for (float v : w) {
    mean += v;
    sq += static_cast<double>(v) * v;
    maxabs = std::max(maxabs, std::abs(static_cast<double>(v)));
  }
  mean /= static_cast<double>(w.size());
  const double var = sq / static_cast<double>(w.size()) - mean * mean;
  CHECK(maxabs <= bound);
  CHECK(maxabs > 0.95 * bound);
  // U(-b, b): mean 0 (std of the sample mean b/sqrt(3n) ~ 7e-4), variance b^2/3 (within 5%).
  CHECK(std::abs(mean) < 5 * bound / std::sqrt(3.0 * static_cast<double>(w.size())));
  CHECK(var == doctest::Approx(bound * bound / 3).epsilon(0.05));
  for (float v : a.bias.to_vector()) CHECK(std::abs(v) <= bound);
  // Grouped conv: fan_in = in/groups * k * k.
  Conv2d grouped(Conv2dOptions(8, 8, 3).padding(1).bias(false).groups(4), g1);
  for (float v : grouped.weight.to_vector()) CHECK(std::abs(v) <= 1.0 / std::sqrt(2.0 * 9.0));
  Linear lin(LinearOptions(100, 10), g1);
  for (float v : lin.weight.to_vector()) CHECK(std::abs(v) <= 0.1);
  BatchNorm2d bn(BatchNorm2dOptions(5));
  CHECK(bn.weight.to_vector() == std::vector<float>(5, 1.f));
  CHECK(bn.bias.to_vector() == std::vector<float>(5, 0.f));
  CHECK(bn.running_var.to_vector() == std::vector<float>(5, 1.f));
}

TEST_CASE("Dropout: zeros about p of the elements, scales survivors by 1/(1-p), identity in eval") {
  const float p = 0.3f;
  Dropout drop(DropoutOptions(p), 11);
  Tensor x = Tensor::ones({100, 100});
  Tensor y = drop(x);
  int64_t zeros = 0;
  for (float v : y.to_vector()) {
    if (v == 0.f) ++zeros;
    else CHECK(v == doctest::Approx(1.0 / (1.0 - p)));
  }
  // Binomial(10000, 0.3): std = sqrt(10000 * 0.21) ~ 46; accept 5 sigma.
  CHECK(std::abs(static_cast<double>(zeros) - 3000.0) < 5 * 46.0);
  // Same seed -> same mask; successive calls draw new masks.
  Dropout again(DropoutOptions(p), 11);
  CHECK(again(x).to_vector() == y.to_vector());
  CHECK(drop(x).to_vector() != y.to_vector());
  drop.eval();
  CHECK(drop(x).to_vector() == x.to_vector());
  CHECK_THROWS_AS(Dropout(DropoutOptions(1.f)), Error);
}

TEST_CASE("metrics: accuracy and top-k with deterministic ties") {
  // Row 0: target 2 is the max. Row 1: target 0 is 2nd. Row 2: target 1 is 4th.
  // Row 3: all equal; ties rank by index, so target 0 is 1st and target 3 would be 4th.
  Tensor logits = Tensor::from_vector({0.1f, 0.2f, 0.9f, 0.f,   //
                                       0.5f, 0.7f, 0.1f, 0.2f,  //
                                       0.3f, 0.2f, 0.9f, 0.8f,  //
                                       1.f,  1.f,  1.f,  1.f},
                                      {4, 4});
  Tensor y = Tensor::from_vector({2.f, 0.f, 1.f, 0.f}, {4});
  CHECK(topk_correct(logits, y, 1) == 2);
  CHECK(topk_correct(logits, y, 2) == 3);
  CHECK(topk_correct(logits, y, 3) == 3);  // row 2's target is 4th (0.2 < 0.3)
  CHECK(topk_correct(logits, y, 4) == 4);
  CHECK(accuracy(logits, y) == doctest::Approx(0.5));
  CHECK(topk_accuracy(logits, y, 2) == doctest::Approx(0.75));
  Tensor y_last = Tensor::from_vector({2.f, 0.f, 1.f, 3.f}, {4});
  CHECK(topk_correct(logits, y_last, 3) == 2);  // tie row: index 3 ranks 4th
  CHECK_THROWS_AS(topk_correct(logits, Tensor::from_vector({2.f, 0.f, 1.f, 4.f}, {4}), 1), Error);
  CHECK_THROWS_AS(topk_correct(logits, Tensor::from_vector({2.f, 0.f, 1.5f, 0.f}, {4}), 1), Error);
  CHECK_THROWS_AS(topk_correct(logits, Tensor::from_vector({2.f, 0.f}, {2}), 1), Error);
}

TEST_CASE("cross_entropy: closed forms with label smoothing") {
  // Uniform logits: p = 1/C for every class, so the loss is log C whatever the smoothing.
  Tensor zeros = Tensor::zeros({3, 5});
  Tensor y = Tensor::from_vector({0.f, 4.f, 2.f}, {3});
  CHECK(nn::cross_entropy(zeros, y).item() == doctest::Approx(std::log(5.0)).epsilon(1e-6));
  CHECK(nn::cross_entropy(zeros, y, 0.3f).item() == doctest::Approx(std::log(5.0)).epsilon(1e-6));
  // Two classes, logits (0, a): log p1 = -log(1 + e^-a), log p0 = -a - log(1 + e^-a).
  // target 1, eps: loss = -(1 - eps/2) log p1 - (eps/2) log p0.
  const double a = 2.0, eps = 0.2;
  const double lp1 = -std::log1p(std::exp(-a)), lp0 = -a + lp1;
  Tensor two = Tensor::from_vector({0.f, static_cast<float>(a)}, {1, 2});
  CHECK(nn::cross_entropy(two, Tensor::from_vector({1.f}, {1}), static_cast<float>(eps)).item() ==
        doctest::Approx(-(1 - eps / 2) * lp1 - eps / 2 * lp0).epsilon(1e-5));
  CHECK_THROWS_AS(nn::cross_entropy(two, Tensor::from_vector({1.f}, {1}), 1.5f), Error);
  CHECK_THROWS_AS(nn::cross_entropy(two, Tensor::from_vector({1.f, 0.f}, {2})), Error);
}

TEST_CASE("models: output shapes, layer-level errors, make_model") {
  Generator gen(0);
  NoGradGuard no_grad;
  auto small28 = make_model("small_cnn", 1, 28, 10, gen);
  CHECK((*small28)(Tensor::zeros({2, 1, 28, 28})).shape() == Shape{2, 10});
  auto air = make_model("airbench", 3, 32, 10, gen);
  CHECK((*air)(Tensor::zeros({1, 3, 32, 32})).shape() == Shape{1, 10});
  auto res = make_model("resnet18", 3, 32, 100, gen);
  res->eval();  // running statistics: a 1x1 map at layer4 is fine
  CHECK((*res)(Tensor::zeros({1, 3, 8, 8})).shape() == Shape{1, 100});
  // airbench: frozen BN weights are parameters without gradients.
  int frozen = 0;
  for (const auto& [name, p] : air->named_parameters()) frozen += !p.requires_grad();
  CHECK(frozen == 6);
  try {
    make_model("vgg", 3, 32, 10, gen);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("resnet18") != std::string::npos);
  }
  // A mismatched input names the first layer that cannot take it.
  try {
    (*small28)(Tensor::zeros({2, 3, 28, 28}));
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("expected input (N, 1, H, W), got (2, 3, 28, 28)") != std::string::npos);
  }
  Linear lin(LinearOptions(8, 2), gen);
  try {
    lin(Tensor::zeros({2, 2, 2, 2}));
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("Flatten") != std::string::npos);
  }
}

TEST_CASE("set_conv_algorithm: reaches every Conv2d of a model, the layer forward honours it") {
  Generator gen(5);
  auto net = make_model("small", 3, 32, 10, gen);
  CHECK(set_conv_algorithm(*net, ConvAlgorithm::Gemm) == 5);  // the small CNN's five convs
  int gemm = 0;
  for (auto& [name, m] : net->named_modules())
    if (auto* conv = dynamic_cast<Conv2d*>(m)) {
      CHECK(conv->algorithm == ConvAlgorithm::Gemm);
      CHECK(conv->describe().find("algorithm=gemm") != std::string::npos);
      ++gemm;
    }
  CHECK(gemm == 5);
  // A Winograd-eligible layer: the two algorithms round differently but agree closely.
  Generator g1(9), g2(9);
  const Conv2dOptions o = Conv2dOptions(16, 16, 3).padding(1).bias(false);
  Conv2d auto_conv(o, g1), gemm_conv(o, g2);
  CHECK(set_conv_algorithm(gemm_conv, ConvAlgorithm::Gemm) == 1);
  const Tensor x = Tensor::randn({2, 16, 8, 8}, gen);
  const auto a = auto_conv(x).to_vector(), b = gemm_conv(x).to_vector();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(double(a[i]) - b[i]));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  CHECK(a != b);  // different kernels ran
  CHECK(diff <= 1e-5 * scale);
}

TEST_CASE("set_conv_precision: reaches every Conv2d, the layer and the folded inference honour it") {
  Generator gen(6);
  auto net = make_model("small", 1, 28, 10, gen);
  CHECK(set_conv_precision(*net, ConvPrecision::Bf16) == 5);
  for (auto& [name, m] : net->named_modules())
    if (auto* conv = dynamic_cast<Conv2d*>(m)) {
      CHECK(conv->precision == ConvPrecision::Bf16);
      CHECK(conv->describe().find("precision=bf16") != std::string::npos);
    }
  CHECK(parse_conv_precision("bf16") == ConvPrecision::Bf16);
  CHECK(parse_conv_precision("fp32") == ConvPrecision::Fp32);
  CHECK(std::string(conv_precision_name(ConvPrecision::Bf16)) == "bf16");
  try {
    parse_conv_precision("fp16");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("'fp16'") != std::string::npos);
  }
  // Training mode and the folded inference path (fold_bn.h) both run in bf16: the outputs move
  // away from fp32 by bf16's rounding, not more.
  const Tensor x = Tensor::randn({4, 1, 28, 28}, gen);
  for (bool training : {true, false}) {
    CAPTURE(training);
    if (training) net->train(); else net->eval();
    NoGradGuard no_grad;
    set_conv_precision(*net, ConvPrecision::Bf16);
    const auto low = (*net)(x).to_vector();
    set_conv_precision(*net, ConvPrecision::Fp32);
    const auto full = (*net)(x).to_vector();
    double diff = 0, norm = 0;
    for (size_t i = 0; i < full.size(); ++i) {
      diff += (double(low[i]) - full[i]) * (double(low[i]) - full[i]);
      norm += double(full[i]) * full[i];
    }
    const double rel = std::sqrt(diff / norm);
    MESSAGE("small CNN logits, bf16 vs fp32, relative L2 " << rel);
    CHECK(rel > 1e-3);  // the bf16 path ran
    CHECK(rel < 0.15);  // measured 0.057 (training) and 0.035 (eval): five convs, each ~0.02 (Winograd)
  }
}

TEST_CASE("a small CNN trains in bf16 as in fp32: the same falling loss within bf16's rounding") {
  Generator data_gen(8);
  const Tensor x = Tensor::randn({32, 1, 28, 28}, data_gen);
  std::vector<float> labels(32);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<float>(i % 10);
  const Tensor y = Tensor::from_vector(labels, {32});
  auto losses = [&](ConvPrecision precision) {
    Generator gen(7);
    auto net = make_model("small", 1, 28, 10, gen);
    set_conv_precision(*net, precision);
    optim::SgdOptions so;
    so.lr = 0.02;
    so.momentum = 0.9;
    optim::Sgd opt(net->named_parameters(), so);
    std::vector<float> out;
    for (int step = 0; step < 10; ++step) {
      opt.zero_grad();
      Tensor loss = tg::cross_entropy((*net)(x), y);
      out.push_back(loss.item());
      loss.backward();
      opt.step();
    }
    return out;
  };
  const auto fp32 = losses(ConvPrecision::Fp32), bf16 = losses(ConvPrecision::Bf16);
  CHECK(bf16.back() < 0.02f * bf16.front());  // memorising 32 images: 2.69 -> 0.0099 (fp32 0.0094)
  for (size_t i = 0; i < fp32.size(); ++i) {
    CAPTURE(i);
    CHECK(std::abs(bf16[i] - fp32[i]) <= 0.1f * fp32[i] + 0.02f);
  }
  CHECK(bf16 != fp32);
}

TEST_CASE("Sequential fuses BatchNorm2d, ReLU, MaxPool2d(2) into one op with the children's results") {
  // The fused op (tg::batch_norm2d_relu_maxpool2x2) against the three children called one by one,
  // in training: output, the input's and the parameters' gradients, running statistics and count.
  Generator gen(21);
  const Tensor x0 = Tensor::randn({4, 3, 7, 6}, gen), dout = Tensor::randn({4, 3, 3, 3}, gen);
  auto make = [] {
    auto net = std::make_shared<Sequential>();
    net->add(std::make_shared<BatchNorm2d>(BatchNorm2dOptions(3)));
    net->add(std::make_shared<ReLU>());
    net->add(std::make_shared<MaxPool2d>(MaxPool2dOptions(2)));
    return net;
  };
  auto run = [&](bool fused) {
    auto net = make();
    BatchNorm2d& bn = *net->at<BatchNorm2d>(0);
    {
      NoGradGuard no_grad;  // a gamma and beta other than 1 and 0
      bn.weight.copy_(Tensor::from_vector({0.5f, 1.5f, -1.f}, {3}));
      bn.bias.copy_(Tensor::from_vector({0.2f, -0.1f, 0.f}, {3}));
    }
    Tensor x = x0.clone().set_requires_grad(true), y;
    if (fused) {
      y = (*net)(x);
    } else {
      y = x;
      for (size_t i = 0; i < net->size(); ++i) y = (*(*net)[i])(y);
    }
    y.backward(dout);
    return std::vector<std::vector<float>>{y.to_vector(),          x.grad().to_vector(),
                                           bn.weight.grad().to_vector(), bn.bias.grad().to_vector(),
                                           bn.running_mean.to_vector(),  bn.running_var.to_vector(),
                                           bn.num_batches_tracked.to_vector()};
  };
  const auto fused = run(true), plain = run(false);
  for (size_t i = 0; i < fused.size(); ++i) {
    CAPTURE(i);  // out, dx, dgamma, dbeta, running_mean, running_var, num_batches_tracked
    REQUIRE(fused[i].size() == plain[i].size());
    for (size_t k = 0; k < fused[i].size(); ++k)
      // The children run batch_norm2d, then relu: the same sums with the mask applied in another
      // loop, which the baseline (SSE2) build vectorises differently: 1-ulp differences in dx there.
      CHECK(std::abs(fused[i][k] - plain[i][k]) <= 1e-6f * (1.f + std::abs(plain[i][k])));
  }
  CHECK(fused[6][0] == 1.f);  // counted once, not once per fused child
}
