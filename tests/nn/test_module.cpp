// Module system: PyTorch-identical names, registration rules, modes, devices, summary, strict
// save/load, and checkpoint interop with PyTorch in both directions (committed fixtures).
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include "engine/error.h"
#include "optim/factory.h"
#include "nn_test_util.h"
#include "support/fixtures.h"

using namespace tg;
using namespace tg::nn;
using namespace tg::nn::testing;

namespace {

std::string fixture_path(const std::string& file) { return tg::test::fixture_dir() + "/" + file; }

std::string shape_text(const Shape& s) {
  if (s.empty()) return "-";
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) out.append(i ? "," : "").append(std::to_string(s[i]));
  return out;
}

// model -> list of "name shape" lines in PyTorch's state_dict order.
std::map<std::string, std::vector<std::string>> torch_keys() {
  std::ifstream in(fixture_path("nn_state_dict_keys.txt"));
  REQUIRE_MESSAGE(in.good(), "missing fixture nn_state_dict_keys.txt: run tests/reference/gen_nn.py");
  std::map<std::string, std::vector<std::string>> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string model, name, shape;
    ls >> model >> name >> shape;
    out[model].push_back(name + " " + shape);
  }
  return out;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("module: state_dict names, shapes and order equal PyTorch's for every model") {
  const auto keys = torch_keys();
  REQUIRE(keys.size() == 5);
  for (const auto& entry : keys) {  // no structured binding: Clang 14 cannot capture one in CHECK_MESSAGE
    const auto& model = entry.first;
    const auto& expected = entry.second;
    Generator gen(0);
    auto m = model_by_fixture_name(model, gen);
    REQUIRE_MESSAGE(m != nullptr, "no builder for " << model);
    std::vector<std::string> ours;
    for (const auto& [name, t] : m->state_dict()) ours.push_back(name + " " + shape_text(t.shape()));
    CHECK_MESSAGE(ours == expected, model << ": trustgrad state_dict differs from PyTorch's");
    // Parameter count = PyTorch's parameters = every entry that is not a BN buffer.
    int64_t expect_params = 0;
    for (const auto& [name, t] : m->state_dict())
      if (name.find("running_") == std::string::npos && name.find("num_batches_tracked") == std::string::npos)
        expect_params += t.numel();
    CHECK(m->num_parameters() == expect_params);
  }
  // Known totals (torchvision-style counts for these architectures).
  Generator gen(0);
  CHECK(resnet18_cifar(10, 3, gen)->num_parameters() == 11173962);
}

TEST_CASE("module: parameters vs buffers, requires_grad, registration errors") {
  Generator gen(3);
  BatchNorm2d bn(BatchNorm2dOptions(4));
  auto params = bn.named_parameters();
  REQUIRE(params.size() == 2);
  CHECK(params[0].first == "weight");
  CHECK(params[0].second.requires_grad());
  auto buffers = bn.named_buffers();
  REQUIRE(buffers.size() == 3);
  CHECK(buffers[2].first == "num_batches_tracked");
  CHECK_FALSE(buffers[0].second.requires_grad());
  CHECK(bn.parameters().size() == 2);
  CHECK(bn.parameters()[0].same_as(bn.weight));

  Module m("Custom");
  m.register_parameter("w", Tensor::ones({2}));
  CHECK_THROWS_AS(m.register_parameter("w", Tensor::ones({2})), Error);  // taken
  CHECK_THROWS_AS(m.register_buffer("w", Tensor::ones({2})), Error);     // taken across kinds
  CHECK_THROWS_AS(m.register_parameter("a.b", Tensor::ones({2})), Error);
  CHECK_THROWS_AS(m.register_parameter("", Tensor::ones({2})), Error);
  CHECK_THROWS_AS(m.register_parameter("u", Tensor()), Error);
  CHECK_THROWS_AS(m.register_module<Module>("c", nullptr), Error);
  auto frozen = m.register_parameter("frozen", Tensor::ones({1}), false);
  CHECK_FALSE(frozen.requires_grad());
  CHECK(m.named_parameters().size() == 2);  // frozen parameters are still parameters
  // A module without forward() says so.
  const std::string msg = error_of([&] { m(Tensor::ones({1})); });
  CHECK(msg.find("Custom") != std::string::npos);

  // Typed child access and nesting.
  Sequential seq;
  seq.add(std::make_shared<Linear>(LinearOptions(3, 2), gen)).add(std::make_shared<ReLU>());
  CHECK(seq.at<Linear>(0)->options.out_features() == 2);
  CHECK_THROWS_AS(seq.at<Conv2d>(0), Error);
  CHECK_THROWS_AS(seq[2], Error);
  auto names = seq.named_parameters();
  REQUIRE(names.size() == 2);
  CHECK(names[0].first == "0.weight");
  CHECK(names[1].first == "0.bias");
}

TEST_CASE("module: an add that would make the module tree a cycle is refused, sharing is not") {
  using doctest::Contains;
  Generator gen(3);
  auto a = std::make_shared<Sequential>(), b = std::make_shared<Sequential>(), c = std::make_shared<Sequential>();
  a->add(b);
  CHECK_THROWS_WITH_AS(b->add(a), Contains("Sequential: cannot add child module '0' (Sequential): this Sequential is "
                                           "already inside it, so the module tree would become a cycle"),
                       Error);
  b->add(c);
  CHECK_THROWS_WITH_AS(c->add(a), Contains("would become a cycle"), Error);  // a -> b -> c -> a
  CHECK_THROWS_WITH_AS(c->add(b), Contains("would become a cycle"), Error);
  CHECK(c->size() == 0);  // a refused add leaves the module as it was
  // One module under two parents (or twice under one) is a DAG, not a cycle.
  auto shared = std::make_shared<Linear>(LinearOptions(2, 2), gen);
  b->add(shared);
  c->add(shared).add(shared);
  CHECK_FALSE(a->named_parameters().empty());
  CHECK((*a)(Tensor::ones({1, 2})).shape() == Shape{1, 2});
}

TEST_CASE("module: a module shared by two parents is one set of parameters, as in PyTorch") {
  // a = Sequential(b), b = Sequential(c, shared), c = Sequential(shared, shared): `shared` is
  // reached three times, as 0.0.0, 0.0.1 and 0.1.
  Generator gen(4);
  auto a = std::make_shared<Sequential>(), b = std::make_shared<Sequential>(), c = std::make_shared<Sequential>();
  auto shared = std::make_shared<Linear>(LinearOptions(2, 2), gen);
  a->add(b);
  b->add(c).add(shared);
  c->add(shared).add(shared);
  // Listed once, under the first name (PyTorch's named_parameters / named_modules drop repeats) ...
  auto params = a->named_parameters();
  REQUIRE(params.size() == 2);
  CHECK(params[0].first == "0.0.0.weight");
  CHECK(params[1].first == "0.0.0.bias");
  CHECK(a->parameters().size() == 2);
  CHECK(a->num_parameters() == 6);
  std::vector<std::string> module_names;
  for (auto& [name, m] : a->named_modules()) module_names.push_back(name);
  CHECK(module_names == std::vector<std::string>{"", "0", "0.0", "0.0.0"});
  // ... while state_dict keeps every name, as PyTorch's does (a tied checkpoint has both keys).
  CHECK(a->state_dict().size() == 6);
  // An optimizer over the model takes the shared weight once and moves it once per step, by the
  // gradient summed over its three uses: w' = w - lr * dL/dw.
  auto opt = optim::make_optimizer(optim::OptimizerConfig{.name = "sgd", .lr = 0.5, .weight_decay = 0.0,
                                                          .momentum = 0.0},
                                   a->named_parameters());
  Tensor w0 = shared->weight.clone();
  sum((*a)(Tensor::ones({1, 2}))).backward();
  Tensor g = shared->weight.grad().clone();
  opt->step();
  for (int64_t i = 0; i < 4; ++i)
    CHECK(shared->weight.data()[i] == doctest::Approx(w0.data()[i] - 0.5f * g.data()[i]).epsilon(1e-6));
}

TEST_CASE("module: train/eval recurse; to(cpu) keeps handles; zero_grad") {
  Generator gen(0);
  auto net = resnet18_cifar(10, 3, gen);
  CHECK(net->is_training());
  net->eval();
  for (auto& entry : net->named_modules()) CHECK_MESSAGE(!entry.second->is_training(), entry.first);
  net->train();
  CHECK(net->layer3->at<BasicBlock>(1)->bn2->is_training());

  auto before = net->parameters();
  const float* data0 = before[0].data();
  net->to(Device::cpu());
  auto after = net->parameters();
  REQUIRE(after.size() == before.size());
  CHECK(after[0].same_as(before[0]));
  CHECK(after[0].data() == data0);

  Tensor w = Tensor::ones({3});
  w.set_requires_grad(true);
  sum(mul(w, 2.f)).backward();
  REQUIRE(w.grad().defined());
  Module holder("Holder");
  holder.register_parameter("w", w);
  holder.zero_grad();
  CHECK_FALSE(w.grad().defined());

  if (cuda_device_count() > 0) {
    Linear lin(LinearOptions(4, 3), gen);
    Tensor handle = lin.weight;
    const auto values = handle.to_vector();
    lin.to(Device::cuda(0));
    CHECK(handle.device() == Device::cuda(0));  // same handle, storage swapped
    CHECK(lin.named_parameters()[0].second.same_as(handle));
    lin.to(Device::cpu());
    CHECK(handle.to_vector() == values);
  } else {
    MESSAGE("skipping the CUDA part of Module::to: no CUDA device in this build/machine");
  }
}

TEST_CASE("module: summary lists every layer with its output shape and restores the mode") {
  Generator gen(0);
  auto net = small_cnn(3, 32, 10, gen);
  net->train();
  const std::string s = net->summary({2, 3, 32, 32});
  CHECK(net->is_training());
  CHECK(net->at<BatchNorm2d>(1)->is_training());
  CHECK(net->at<BatchNorm2d>(1)->num_batches_tracked.item() == 0.f);  // eval forward: stats untouched
  CHECK(s.find("Conv2d(3, 32, kernel_size=3, padding=1, bias=false)") != std::string::npos);
  CHECK(s.find("(2, 32, 32, 32)") != std::string::npos);
  CHECK(s.find("(2, 128, 4, 4)") != std::string::npos);
  CHECK(s.find("(2, 2048)") != std::string::npos);
  CHECK(s.find("(2, 10)") != std::string::npos);
  CHECK(s.find(std::to_string(net->num_parameters())) != std::string::npos);
  // A wrong input shape is an error naming the layer, and the mode is still restored.
  const std::string msg = error_of([&] { net->summary({2, 1, 32, 32}); });
  CHECK(msg.find("Conv2d(3, 32") != std::string::npos);
  CHECK(net->is_training());
}

TEST_CASE("module: save/load round trip and strict errors listing every problem") {
  const std::string path = test::temp_path("small_cnn.safetensors");
  Generator g1(1), g2(2);
  auto a = small_cnn(3, 32, 10, g1);
  auto b = small_cnn(3, 32, 10, g2);
  a->at<BatchNorm2d>(1)->running_mean.fill_(0.25f);
  a->at<BatchNorm2d>(1)->num_batches_tracked.fill_(7.f);
  a->save(path, {{"epoch", "4"}});
  CHECK(io::load_safetensors(path).metadata.at("epoch") == "4");
  CHECK(io::load_safetensors(path).metadata.at("producer") == "trustgrad");

  Tensor b_handle = b->at<Conv2d>(0)->weight;
  b->load(path);
  CHECK(b_handle.same_as(b->at<Conv2d>(0)->weight));  // loads copy into the existing tensors
  auto sa = a->state_dict(), sb = b->state_dict();
  REQUIRE(sa.size() == sb.size());
  for (size_t i = 0; i < sa.size(); ++i) CHECK_MESSAGE(sa[i].second.to_vector() == sb[i].second.to_vector(), sa[i].first);
  CHECK(b->at<BatchNorm2d>(1)->num_batches_tracked.item() == 7.f);

  // Mis-shaped: the 1-channel 28x28 variant differs in 0.weight and 19.weight.
  auto c = small_cnn(1, 28, 10, g1);
  std::string msg = error_of([&] { c->load(path); });
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find("mis-shaped (2)") != std::string::npos);
  CHECK(msg.find("0.weight (module (32, 1, 3, 3)") != std::string::npos);
  CHECK(msg.find("19.weight") != std::string::npos);
  msg = error_of([&] { c->load(path, /*strict=*/false); });  // never silently skip a shape mismatch
  CHECK(msg.find("mis-shaped") != std::string::npos);

  // Missing and unexpected: a ResNet-18 file into the small CNN.
  const std::string rpath = test::temp_path("resnet.safetensors");
  resnet18_cifar(10, 3, g1)->save(rpath);
  msg = error_of([&] { b->load(rpath); });
  CHECK(msg.find("missing (") != std::string::npos);
  CHECK(msg.find("unexpected (") != std::string::npos);
  CHECK(msg.find("layer4.1.bn2.running_var") != std::string::npos);
  CHECK(msg.find(" 3.weight;") != std::string::npos);

  // Non-strict: a subset loads, the rest stays.
  NamedTensors subset = {{"1.running_mean", Tensor::full({32}, 3.f)}, {"extra", Tensor::ones({1})}};
  b->load_state_dict(subset, /*strict=*/false);
  CHECK(b->at<BatchNorm2d>(1)->running_mean.to_vector() == std::vector<float>(32, 3.f));
  CHECK_THROWS_AS(b->load_state_dict(subset, /*strict=*/true), Error);
}

TEST_CASE("interop: a PyTorch-written checkpoint (int64 num_batches_tracked) loads with identical logits") {
  Generator gen(0);
  auto net = mini_net(gen);
  net->load(fixture_path("nn_torch_mini.safetensors"));  // strict
  CHECK(net->at<BatchNorm2d>(1)->num_batches_tracked.item() == 3.f);
  net->eval();
  auto io = test::load_fixture("nn_torch_mini_io");
  Tensor logits = (*net)(io.at("x"));
  const double err = normalized_max_error(logits, io.at("logits"));
  CHECK_MESSAGE(err <= 1e-5, "max |logits - torch| / max |torch| = " << err);
}

TEST_CASE("interop: a trustgrad-written checkpoint loads in PyTorch with identical logits") {
  const std::string committed = fixture_path("nn_trustgrad_mini.safetensors");
  if (std::getenv("TG_REGEN_NN_FIXTURES")) {
    // Regenerate the committed checkpoint: seed-7 init, BN stats from two trustgrad training forwards.
    Generator gen(7);
    auto net = mini_net(gen);
    net->train();
    {
      NoGradGuard no_grad;
      (*net)(formula_input({6, 3, 8, 8}));
      (*net)(mul(formula_input({6, 3, 8, 8}), 0.5f));
    }
    net->save(committed, {{"note", "written by tests/nn (TG_REGEN_NN_FIXTURES=1); read by gen_nn.py"}});
    MESSAGE("wrote " << committed << "; now rerun tests/reference/gen_nn.py");
  }
  REQUIRE_MESSAGE(std::filesystem::exists(committed), "missing " << committed);
  Generator gen(0);
  auto net = mini_net(gen);
  net->load(committed);
  CHECK(net->at<BatchNorm2d>(1)->num_batches_tracked.item() == 2.f);
  // The committed bytes are exactly what this writer produces for the same state.
  const std::string again = test::temp_path("mini_again.safetensors");
  net->save(again, io::load_safetensors(committed).metadata);
  CHECK(read_bytes(again) == read_bytes(committed));

  net->eval();
  auto io = test::load_fixture("nn_trustgrad_mini_io");  // logits PyTorch computed from the committed file
  Tensor logits = (*net)(io.at("x"));
  const double err = normalized_max_error(logits, io.at("logits"));
  CHECK_MESSAGE(err <= 1e-5, "max |logits - torch| / max |torch| = " << err);
}

namespace {
// The user-defined module of module.h's header comment (smaller sizes).
struct TwoLayer : Module {
  std::shared_ptr<Linear> fc1, fc2;
  explicit TwoLayer(Generator& gen) : Module("TwoLayer") {
    fc1 = register_module("fc1", std::make_shared<Linear>(LinearOptions(6, 4), gen));
    fc2 = register_module("fc2", std::make_shared<Linear>(LinearOptions(4, 3), gen));
  }
  Tensor forward(const Tensor& x) override { return (*fc2)(relu((*fc1)(x))); }
};
}  // namespace

TEST_CASE("module: a user-defined module gets dotted names, forward, summary and checkpoints") {
  Generator gen(5);
  TwoLayer net(gen);
  std::vector<std::string> names;
  for (const auto& [n, t] : net.named_parameters()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"});
  CHECK(net.num_parameters() == 6 * 4 + 4 + 4 * 3 + 3);
  Tensor x = Tensor::ones({2, 6});
  Tensor y = net(x);
  CHECK(y.shape() == Shape{2, 3});
  // forward = fc2(relu(fc1 x)) by hand.
  Tensor expect = linear(relu(linear(x, net.fc1->weight, net.fc1->bias)), net.fc2->weight, net.fc2->bias);
  CHECK(y.to_vector() == expect.to_vector());
  CHECK(net.summary({2, 6}).find("fc2") != std::string::npos);
  const std::string path = test::temp_path("two_layer.safetensors");
  net.save(path);
  Generator other(6);
  TwoLayer copy(other);
  copy.load(path);
  CHECK(copy(x).to_vector() == y.to_vector());
}
