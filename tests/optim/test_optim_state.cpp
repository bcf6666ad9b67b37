// state_dict / load_state_dict: a save -> load round trip continues bit for bit (moments, steps,
// options, schedule position), through safetensors on disk too; mismatches are refused by name.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <memory>

#include "engine/error.h"
#include "optim_test_util.h"
#include "support/fixtures.h"

namespace tg::optim {
namespace {

using namespace testing;  // optim_test_util.h: make_params, clone_params, random_grads, set_grads, bitwise_equal

const std::vector<std::pair<std::string, Shape>> kShapes = {
    {"conv.weight", {4, 3, 3, 3}}, {"bn.weight", {4}}, {"bn.bias", {4}}, {"fc.weight", {5, 8}}};

std::vector<std::pair<std::string, Factory>> optimizers() {
  return {
      {"sgd", [](const NamedTensors& p) {
         return std::make_unique<Sgd>(default_param_groups(p, 1e-3), SgdOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true});
       }},
      {"adam", [](const NamedTensors& p) { return std::make_unique<Adam>(p, AdamOptions{.weight_decay = 1e-3}); }},
      {"adamw", [](const NamedTensors& p) { return std::make_unique<AdamW>(default_param_groups(p, 0.1)); }},
      {"larc", [](const NamedTensors& p) {
         return std::make_unique<Lars>(p, LarsOptions{.lr = 0.01, .trust_coefficient = 0.02, .trust_clip = true,
                                                      .always_adapt = true});
       }},
      {"lamb", [](const NamedTensors& p) { return std::make_unique<Lamb>(default_param_groups(p, 0.01)); }},
      {"lambc_paper", [](const NamedTensors& p) { return std::make_unique<Lambc>(p, LambcPreset::kPaper, 0.01); }},
      {"lambc_timm", [](const NamedTensors& p) { return std::make_unique<Lambc>(p, LambcPreset::kTimm, 0.01, 0.01); }},
      {"novograd", [](const NamedTensors& p) { return std::make_unique<NovoGrad>(p); }},
      {"adabelief", [](const NamedTensors& p) { return std::make_unique<AdaBelief>(p); }},
  };
}

TEST_CASE("state_dict round trip (in memory and through a file) continues bit for bit") {
  for (const auto& entry : optimizers()) {
    const auto& name = entry.first;  // no structured binding: clang 14 cannot capture one in doctest's CAPTURE/INFO lambdas
    const auto& make = entry.second;
    CAPTURE(name);
    NamedTensors a = make_params(kShapes, 1, 0.5f);
    std::unique_ptr<Optimizer> opt_a = make(a);
    opt_a->set_schedule(std::make_shared<WarmupThen>(2, 0.1, std::make_shared<CosineSchedule>(20)));
    Generator gen(2);
    std::vector<std::vector<Tensor>> grads;
    for (int t = 0; t < 8; ++t) grads.push_back(random_grads(a, gen, 0.3f));
    for (int t = 0; t < 4; ++t) {
      set_grads(a, grads[t]);
      opt_a->step();
    }
    const StateDict in_memory = opt_a->state_dict();
    // A fresh optimizer with different options and a copy of the weights resumes from a file
    // (saves fsync, so only some optimizers go through the disk; the rest through memory).
    const bool through_file = name == "lambc_paper" || name == "adamw" || name == "novograd";
    NamedTensors b = clone_params(a);
    std::unique_ptr<Optimizer> opt_b = make(b);
    opt_b->groups()[0].lr = 123.0;  // restored by load
    opt_b->set_schedule(std::make_shared<WarmupThen>(2, 0.1, std::make_shared<CosineSchedule>(20)));
    if (through_file) {
      const std::string path = tg::test::temp_path("optim_state_" + name + ".safetensors");
      opt_a->save(path);
      opt_b->load(path);
    } else {
      opt_b->load_state_dict(in_memory);
    }
    CHECK(opt_b->step_count() == 4);
    CHECK(opt_b->groups()[0].lr == opt_a->groups()[0].lr);
    CHECK(bitwise_equal(opt_b->state_dict(), in_memory));
    // And one restored from the in-memory dict.
    NamedTensors c = clone_params(a);
    std::unique_ptr<Optimizer> opt_c = make(c);
    opt_c->set_schedule(std::make_shared<WarmupThen>(2, 0.1, std::make_shared<CosineSchedule>(20)));
    opt_c->load_state_dict(in_memory);

    for (int t = 4; t < 8; ++t) {
      set_grads(a, grads[t]);
      set_grads(b, grads[t]);
      set_grads(c, grads[t]);
      opt_a->step();
      opt_b->step();
      opt_c->step();
    }
    CHECK(bitwise_equal(a, b));
    CHECK(bitwise_equal(a, c));
    CHECK(bitwise_equal(opt_a->state_dict(), opt_b->state_dict()));
    CHECK(bitwise_equal(opt_a->state_dict(), opt_c->state_dict()));
  }
}

TEST_CASE("state_dict stores moments under '<param>/<slot>' and the options as metadata") {
  NamedTensors p = make_params(kShapes, 3);
  Lambc opt(p, LambcPreset::kPaper, 0.01);
  Generator gen(1);
  set_grads(p, random_grads(p, gen));
  opt.step();
  const StateDict sd = opt.state_dict();
  CHECK(sd.tensors.size() == 2 * kShapes.size());
  CHECK(sd.tensors[0].first == "conv.weight/exp_avg");
  CHECK(sd.tensors[1].first == "conv.weight/exp_avg_sq");
  CHECK(sd.metadata.at("optimizer") == "lambc");
  CHECK(sd.metadata.at("step") == "1");
  CHECK(sd.metadata.at("options").find("\"clip_max\":1.0") != std::string::npos);
  // LAMB's clip_max = +inf survives JSON.
  Lamb lamb(clone_params(p));
  Lamb other(clone_params(p), LambOptions{.clip_max = 2.0});
  other.load_state_dict(lamb.state_dict());
  CHECK(std::isinf(other.options().clip_max));
}

TEST_CASE("load_state_dict refuses mismatches by name and leaves the optimizer untouched") {
  NamedTensors p = make_params(kShapes, 4);
  Adam adam(p);
  Generator gen(1);
  set_grads(p, random_grads(p, gen));
  adam.step();
  const StateDict sd = adam.state_dict();

  AdamW adamw(clone_params(p));
  CHECK_THROWS_WITH_AS(adamw.load_state_dict(sd), doctest::Contains("saved by optimizer 'adam'"), Error);

  NamedTensors renamed = clone_params(p);
  renamed[1].first = "bn.gamma";
  Adam other(renamed);
  CHECK_THROWS_WITH_AS(other.load_state_dict(sd), doctest::Contains("'bn.gamma'"), Error);

  StateDict bad_shape = sd;
  bad_shape.tensors[0].second = Tensor::zeros({3});
  Adam fresh(clone_params(p));
  const StateDict fresh_before = fresh.state_dict();
  CHECK_THROWS_WITH_AS(fresh.load_state_dict(bad_shape), doctest::Contains("conv.weight/exp_avg"), Error);
  CHECK(bitwise_equal(fresh.state_dict(), fresh_before));

  StateDict missing = sd;
  missing.tensors.pop_back();
  CHECK_THROWS_AS(fresh.load_state_dict(missing), Error);
  CHECK(bitwise_equal(fresh.state_dict(), fresh_before));

  CHECK_THROWS_AS(fresh.load(tg::test::temp_path("does_not_exist.safetensors")), IOError);
}

// Replaces the value of "key" in a flat JSON text (the saved options or one group) with `value`.
std::string with_json_value(std::string text, const std::string& key, const std::string& value) {
  const size_t at = text.find("\"" + key + "\":");
  REQUIRE(at != std::string::npos);
  const size_t begin = at + key.size() + 3, end = text.find_first_of(",}", begin);
  return text.replace(begin, end - begin, value);
}

TEST_CASE("load_state_dict reruns the constructors' checks on what it restores, naming the field") {
  NamedTensors p = make_params(kShapes, 6);
  Adam adam(p);
  Generator gen(3);
  set_grads(p, random_grads(p, gen));
  adam.step();
  const StateDict sd = adam.state_dict();
  Adam fresh(clone_params(p));
  const StateDict before = fresh.state_dict();
  auto tampered = [&](const std::string& entry, const std::string& key, const std::string& value) {
    StateDict t = sd;
    t.metadata[entry] = with_json_value(t.metadata[entry], key, value);
    return t;
  };
  // Each was accepted before and restored into the optimizer.
  CHECK_THROWS_WITH_AS(fresh.load_state_dict(tampered("options", "beta1", "2.5")),
                       doctest::Contains("metadata entry 'options': adam: beta1 must be in [0, 1), got 2.5"), Error);
  CHECK_THROWS_WITH_AS(fresh.load_state_dict(tampered("options", "eps", "-1")),
                       doctest::Contains("metadata entry 'options': adam: eps must be finite and > 0, got -1"), Error);
  CHECK_THROWS_WITH_AS(fresh.load_state_dict(tampered("options", "weight_decay", "\"inf\"")),
                       doctest::Contains("weight_decay must be finite and >= 0, got inf"), Error);
  CHECK_THROWS_WITH_AS(fresh.load_state_dict(tampered("groups", "lr", "-5")),
                       doctest::Contains("metadata entry 'groups': group 'all' has invalid lr -5"), Error);
  CHECK_THROWS_WITH_AS(fresh.load_state_dict(tampered("groups", "weight_decay", "-100")),
                       doctest::Contains("group 'all' has invalid weight_decay -100"), Error);
  StateDict negative = sd;
  negative.metadata["step"] = "-7";
  CHECK_THROWS_WITH_AS(fresh.load_state_dict(negative), doctest::Contains("metadata entry 'step' = -7 is negative"), Error);
  negative = sd;
  negative.metadata["skipped"] = "-1";
  CHECK_THROWS_WITH_AS(fresh.load_state_dict(negative), doctest::Contains("metadata entry 'skipped' = -1 is negative"), Error);
  // Refused states leave the optimizer as it was, options included.
  CHECK(bitwise_equal(fresh.state_dict(), before));
  CHECK(fresh.options().beta1 == 0.9);
  CHECK(fresh.options().eps == 1e-8);

  // Through a file, the message names the file too; LARS's checks run the same way.
  const std::string path = tg::test::temp_path("optim_state_tampered.safetensors");
  StateDict lars_sd = Lars(clone_params(p), LarsOptions{.momentum = 0.5}).state_dict();
  lars_sd.metadata["options"] = with_json_value(lars_sd.metadata["options"], "dampening", "\"nan\"");
  io::save_safetensors(path, lars_sd.tensors, lars_sd.metadata);
  Lars lars(clone_params(p), LarsOptions{.momentum = 0.5});
  CHECK_THROWS_WITH_AS(lars.load(path), doctest::Contains("lars: dampening must be in [0, 1], got nan"), Error);
  CHECK_THROWS_WITH_AS(lars.load(path), doctest::Contains(("(file '" + path + "')").c_str()), Error);
  CHECK(lars.options().dampening == 0.0);
}

TEST_CASE("reset_state forgets moments (the LAMBC authors' per-epoch rebuild)") {
  NamedTensors p = make_params(kShapes, 5);
  NamedTensors q = clone_params(p);
  Lambc a(p, LambcPreset::kPaper, 0.01);
  Generator gen(9);
  for (int t = 0; t < 3; ++t) {
    set_grads(p, random_grads(p, gen));
    a.step();
  }
  a.reset_state();
  CHECK(a.step_count() == 3);
  CHECK(a.state_dict().tensors.empty());
  // After the reset, a step equals the first step of a brand-new optimizer on the same weights.
  q = clone_params(p);
  Lambc b(q, LambcPreset::kPaper, 0.01);
  const std::vector<Tensor> g = random_grads(p, gen);
  set_grads(p, g);
  set_grads(q, g);
  a.step();
  b.step();
  CHECK(bitwise_equal(p, q));
}

}  // namespace
}  // namespace tg::optim
