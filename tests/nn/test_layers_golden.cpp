// Every layer's forward and backward against PyTorch (tests/fixtures/nn_layers.safetensors, made by
// tests/reference/gen_nn.py): output, input gradient, every parameter gradient and the buffers after.
#include <doctest/doctest.h>

#include "nn_test_util.h"
#include "support/fixtures.h"

using namespace tg;
using namespace tg::nn;

namespace {

// The references are float64 results of float32 inputs; our float32 kernels must agree to
// rtol 1e-4 (atol 1e-5 for entries near zero; all values are O(1)).
constexpr double kRtol = 1e-4, kAtol = 1e-5;

const io::SafetensorsFile& layers_fixture() {
  static const io::SafetensorsFile f = test::load_fixture("nn_layers");
  return f;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

void check_layer(Module& m, const std::string& c, bool train) {
  const io::SafetensorsFile& f = layers_fixture();
  NamedTensors before;
  for (const auto& [name, t] : f.tensors)
    if (starts_with(name, c + ".param.")) before.emplace_back(name.substr(c.size() + 7), t);
  m.load_state_dict(before, /*strict=*/true, "fixture case " + c);
  m.train(train);

  Tensor x = f.at(c + ".x").clone();
  x.set_requires_grad(true);
  Tensor y = m(x);
  test::expect_close(y, f.at(c + ".out"), kRtol, kAtol, c + " output");
  y.backward(f.at(c + ".dout"));
  test::expect_close(x.grad(), f.at(c + ".dx"), kRtol, kAtol, c + " dx");
  for (const auto& entry : m.named_parameters()) {  // no structured binding: CAPTURE-style macros need Clang 16 for those
    const std::string& name = entry.first;
    const Tensor& p = entry.second;
    REQUIRE_MESSAGE(p.grad().defined(), c << ": no gradient for " << name);
    test::expect_close(p.grad(), f.at(c + ".grad." + name), kRtol, kAtol, c + " d" + name);
  }
  for (const auto& [name, b] : m.named_buffers())
    test::expect_close(b, f.at(c + ".after." + name), kRtol, kAtol, c + " " + name + " after forward");
}

}  // namespace

TEST_CASE("golden layers: Conv2d strided/padded/grouped, 1x1 without bias, 2x2") {
  Generator gen(0);
  Conv2d a(Conv2dOptions(4, 6, 3).stride(2).padding(1).groups(2), gen);
  check_layer(a, "conv_strided", true);
  Conv2d b(Conv2dOptions(3, 5, 1).bias(false), gen);
  check_layer(b, "conv_1x1", true);
  Conv2d c(Conv2dOptions(3, 4, 2), gen);
  check_layer(c, "conv_k2", true);
}

TEST_CASE("golden layers: BatchNorm2d train (running stats + count), eval, affine=false, no tracking") {
  BatchNorm2d train(BatchNorm2dOptions(3));
  check_layer(train, "bn_train", true);
  CHECK(train.num_batches_tracked.item() == 4.f);  // fixture started at 3
  BatchNorm2d eval(BatchNorm2dOptions(3));
  check_layer(eval, "bn_eval", false);
  BatchNorm2d noaffine(BatchNorm2dOptions(3).momentum(0.3f).affine(false));
  check_layer(noaffine, "bn_noaffine", true);
  BatchNorm2d notrack(BatchNorm2dOptions(3).track_running_stats(false));
  check_layer(notrack, "bn_notrack", false);  // eval without running stats uses batch statistics
}

TEST_CASE("golden layers: Linear, activations, pooling, flatten") {
  Generator gen(0);
  Linear lin(LinearOptions(5, 4), gen);
  check_layer(lin, "linear", true);
  Linear lin_nb(LinearOptions(6, 3).bias(false), gen);
  check_layer(lin_nb, "linear_nobias", true);
  ReLU relu_layer;
  check_layer(relu_layer, "relu", true);
  GELU gelu_layer;
  check_layer(gelu_layer, "gelu", true);
  MaxPool2d mp2(MaxPool2dOptions(2)), mp3(MaxPool2dOptions(3).stride(2).padding(1));
  check_layer(mp2, "maxpool_2", true);
  check_layer(mp3, "maxpool_3s2p1", true);
  AvgPool2d ap2(AvgPool2dOptions(2)), ap3(AvgPool2dOptions(3).stride(2).padding(1));
  check_layer(ap2, "avgpool_2", true);
  check_layer(ap3, "avgpool_3s2p1", true);
  GlobalAvgPool gap;
  check_layer(gap, "gap", true);
  Flatten fl;
  check_layer(fl, "flatten", true);
}

TEST_CASE("golden layers: BasicBlock with 1x1 shortcut and with identity, train mode") {
  Generator gen(0);
  BasicBlock down(4, 8, 2, gen);
  CHECK(down.shortcut->size() == 2);
  check_layer(down, "block_down", true);
  BasicBlock same(4, 4, 1, gen);
  CHECK(same.shortcut->empty());
  check_layer(same, "block_same", true);
}

TEST_CASE("golden layers: cross-entropy with and without label smoothing") {
  const io::SafetensorsFile& f = layers_fixture();
  for (auto [c, eps] : {std::pair<std::string, float>{"ce", 0.f}, {"ce_smooth", 0.1f}}) {
    Tensor x = f.at(c + ".x").clone();
    x.set_requires_grad(true);
    Tensor loss = nn::cross_entropy(x, f.at(c + ".targets"), eps);
    CHECK(loss.shape() == Shape{});
    test::expect_close(loss, f.at(c + ".out"), kRtol, kAtol, c + " loss");
    loss.backward();
    test::expect_close(x.grad(), f.at(c + ".dx"), kRtol, kAtol, c + " dlogits");
  }
}
