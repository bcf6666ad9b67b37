// The LAMB family shares one core: LAMBC with clip_max = +inf is LAMB, with the ratio fixed to 1
// it is AdamW; trust ratios are per tensor (closed form), and the threaded / per-tensor paths, the
// CPU step orders (cache-blocked, two-pass) and any thread count give bit-identical ratios and weights.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "engine/parallel.h"
#include "optim/tensor_loops.h"
#include "optim_test_util.h"

namespace tg::optim {
namespace {

using namespace testing;  // optim_test_util.h: make_params, clone_params, random_grads, set_grads, bitwise_equal

const std::vector<std::pair<std::string, Shape>> kShapes = {
    {"conv.weight", {8, 4, 3, 3}}, {"bn.weight", {8}}, {"bn.bias", {8}}, {"fc.weight", {10, 32}}, {"fc.bias", {10}}};

// Runs `steps` steps of both optimizers on identical copies with identical gradients.
template <class A, class B>
void run_pair(A& a, const NamedTensors& pa, B& b, const NamedTensors& pb, int steps, uint64_t seed, float grad_scale = 1.f) {
  Generator gen(seed);
  for (int t = 0; t < steps; ++t) {
    const std::vector<Tensor> grads = random_grads(pa, gen, grad_scale);
    set_grads(pa, grads);
    set_grads(pb, grads);
    a.step();
    b.step();
  }
}

TEST_CASE("LAMBC with clip_max = +inf is LAMB, bit for bit (clipping off, same core)") {
  const NamedTensors p1 = make_params(kShapes, 1, 2.f);
  const NamedTensors p2 = clone_params(p1);
  LambOptions o = lambc_options(LambcPreset::kTimm, 0.02, 0.01);
  o.clip_max = std::numeric_limits<double>::infinity();
  Lambc lambc(default_param_groups(p1, 0.01), o);
  Lamb lamb(default_param_groups(p2, 0.01), LambOptions{.lr = 0.02, .weight_decay = 0.01});
  run_pair(lambc, p1, lamb, p2, 6, 7);
  CHECK(bitwise_equal(p1, p2));
  // ... and the ratios did exceed 1, so a finite clip would have changed the trajectory.
  double max_raw = 0.0;
  for (const auto& r : lambc.trust_ratios()) max_raw = std::max(max_raw, r.raw_ratio);
  CHECK(max_raw > 1.0);
  NamedTensors p3 = clone_params(make_params(kShapes, 1, 2.f));
  Lambc clipped(default_param_groups(p3, 0.01), lambc_options(LambcPreset::kTimm, 0.02, 0.01));
  NamedTensors p4 = clone_params(p3);
  Lamb unclipped(default_param_groups(p4, 0.01), LambOptions{.lr = 0.02, .weight_decay = 0.01});
  run_pair(clipped, p3, unclipped, p4, 6, 7);
  CHECK_FALSE(bitwise_equal(p3, p4));
}

TEST_CASE("the CPU step orders (cache-blocked, staged two-pass, plain two-pass) give the same bits") {
  // One tensor spans several reduction chunks (and several threads' work), with a ragged end.
  std::vector<std::pair<std::string, Shape>> shapes = kShapes;
  shapes.push_back({"big.weight", {7, 9001}});
  shapes.push_back({"head.weight", {3, 50}});
  // Block budgets: the default (everything in one group here), 20 KB (groups of a few small tensors,
  // big.weight alone: 63007 elements x 20 bytes) and 1 byte (every tensor a group of its own).
  const CpuOrder orders[] = {{"blocked (default)", true, LambOptions{}.cache_block_bytes},
                             {"blocked 20 KB", true, 20000},
                             {"blocked 1 B", false, 1},
                             {"two-pass staged", true, 0}};
  for (const LambcPreset preset : {LambcPreset::kPaper, LambcPreset::kTimm}) {
    for (const CpuOrder& order : orders) {
      CAPTURE(order.name);
      CAPTURE(static_cast<int>(preset));
      const NamedTensors p1 = make_params(shapes, 3, 1.5f);
      const NamedTensors p2 = clone_params(p1);
      LambOptions tried = lambc_options(preset, 0.03, 0.01), plain = tried;
      tried.staged_moments = order.staged;
      tried.cache_block_bytes = order.block_bytes;
      plain.staged_moments = false;  // the reference: pass 2 recomputes m, v from g, m, v
      plain.cache_block_bytes = 0;
      Lambc a(lambc_param_groups(preset, p1, 0.01), tried);
      Lambc b(lambc_param_groups(preset, p2, 0.01), plain);
      a.set_non_finite_policy(NonFinitePolicy::kSkip);
      b.set_non_finite_policy(NonFinitePolicy::kSkip);
      run_pair(a, p1, b, p2, 3, 11);
      // A refused step in the middle, the bad value in the LAST tensor: pass 1 of the staged order
      // has written the scratch moments, the blocked order's check comes before any write, and
      // nothing may change in either.
      Generator gen(5);
      std::vector<Tensor> grads = random_grads(p1, gen, 1.f);
      grads.back().data()[3] = std::numeric_limits<float>::quiet_NaN();
      set_grads(p1, grads);
      set_grads(p2, grads);
      const NamedTensors before = clone_params(p1);
      const std::vector<float> m_before = a.state("conv.weight", "exp_avg")->to_vector();
      const std::vector<float> v_before = a.state("big.weight", "exp_avg_sq")->to_vector();
      a.step();
      b.step();
      CHECK(a.last_step_skipped());
      CHECK(bitwise_equal(p1, before));
      CHECK(a.state("conv.weight", "exp_avg")->to_vector() == m_before);
      CHECK(a.state("big.weight", "exp_avg_sq")->to_vector() == v_before);
      run_pair(a, p1, b, p2, 3, 12);
      CHECK(bitwise_equal(p1, p2));
      for (const auto& entry : p1) {
        const std::string& name = entry.first;  // no structured binding: clang 14 cannot capture one in doctest's CAPTURE/INFO lambdas
        for (const char* slot : {"exp_avg", "exp_avg_sq"}) {
          CHECK_MESSAGE(bitwise_equal(*a.state(name, slot), *b.state(name, slot)), name << "/" << slot);
        }
      }
      REQUIRE(a.trust_ratios().size() == b.trust_ratios().size());
      for (size_t k = 0; k < a.trust_ratios().size(); ++k) {
        CHECK(a.trust_ratios()[k].name == b.trust_ratios()[k].name);
        CHECK(a.trust_ratios()[k].raw_ratio == b.trust_ratios()[k].raw_ratio);
      }
      CHECK(a.step_count() == 6);
      CHECK_FALSE(bitwise_equal(p1, before));  // and the steps after the refused one did move
    }
  }
}

TEST_CASE("cache_groups: consecutive tensors up to the budget, a bigger tensor alone") {
  const std::vector<int64_t> n = {10, 20, 5, 100, 30, 30, 1};
  const std::vector<TensorRange> g = cache_groups(n, 40);
  REQUIRE(g.size() == 4);
  CHECK((g[0].begin == 0 && g[0].end == 3));  // 10 + 20 + 5 = 35 <= 40
  CHECK((g[1].begin == 3 && g[1].end == 4));  // 100 alone
  CHECK((g[2].begin == 4 && g[2].end == 5));  // 30 (+ 30 would be 60)
  CHECK((g[3].begin == 5 && g[3].end == 7));  // 30 + 1
  CHECK(cache_groups({}, 40).empty());
  CHECK(cache_groups(n, 1000).size() == 1);
}

TEST_CASE("LAMBC with the ratio fixed to 1 is AdamW, bit for bit") {
  const NamedTensors p1 = make_params(kShapes, 2, 0.5f);
  const NamedTensors p2 = clone_params(p1);
  // clip_min = clip_max = 1 forces r = 1 through the whole LAMBC path (norms pass included).
  LambOptions o{.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.05, .decoupled_decay = true,
                .bias_correction = true, .grad_averaging = true, .max_grad_norm = 0.0, .always_adapt = true,
                .clip_min = 1.0, .clip_max = 1.0};
  Lambc lambc(default_param_groups(p1, 0.05, true), o);
  AdamW adamw(default_param_groups(p2, 0.05, true), AdamWOptions{.lr = 0.01, .eps = 1e-8, .weight_decay = 0.05});
  run_pair(lambc, p1, adamw, p2, 5, 3);
  CHECK(bitwise_equal(p1, p2));
  CHECK(bitwise_equal(*lambc.state("conv.weight", "exp_avg_sq"), *adamw.state("conv.weight", "exp_avg_sq")));
  REQUIRE(lambc.trust_ratios().size() == kShapes.size());
  for (const auto& r : lambc.trust_ratios()) CHECK(r.applied_ratio == 1.0);

  // The family core with trust_ratio = false and Adam's L2 mode is Adam.
  const NamedTensors p3 = make_params(kShapes, 4, 0.5f);
  const NamedTensors p4 = clone_params(p3);
  LambFamilyOptions f = family_options(AdamOptions{.lr = 0.01, .weight_decay = 0.02});
  LambFamily core(single_param_group(p3), f, "adam");
  Adam adam(p4, AdamOptions{.lr = 0.01, .weight_decay = 0.02});
  run_pair(core, p3, adam, p4, 4, 5);
  CHECK(bitwise_equal(p3, p4));
  CHECK(adam.trust_ratios().empty());
}

TEST_CASE("trust ratios are per tensor: step 1 of the paper preset against the closed form") {
  // Step 1 without bias correction: m = (1-b1) g, v = (1-b2) g^2, u = m / (sqrt(v) + eps),
  // r = ||w|| / ||u|| for each tensor separately.
  NamedTensors params = make_params(kShapes, 9, 1.f);
  const NamedTensors before = clone_params(params);
  Generator gen(11);
  const std::vector<Tensor> grads = random_grads(params, gen, 0.3f);
  set_grads(params, grads);
  Lambc opt(params, LambcPreset::kPaper, 0.01, 0.0);
  opt.step();
  REQUIRE(opt.trust_ratios().size() == params.size());
  double global_w = 0.0, global_u = 0.0;
  for (size_t i = 0; i < params.size(); ++i) {
    const std::vector<float> w = before[i].second.to_vector(), g = grads[i].to_vector();
    double ww = 0.0, uu = 0.0;
    for (size_t k = 0; k < w.size(); ++k) {
      const double m = 0.1 * g[k], v = 0.001 * double(g[k]) * g[k];
      const double u = m / (std::sqrt(v) + 1e-6);
      ww += double(w[k]) * w[k];
      uu += u * u;
    }
    global_w += ww;
    global_u += uu;
    const TrustRatioRecord& r = opt.trust_ratios()[i];
    CHECK(r.name == params[i].first);
    CHECK(r.step == 1);
    CHECK(r.w_norm == doctest::Approx(std::sqrt(ww)).epsilon(1e-6));
    CHECK(r.u_norm == doctest::Approx(std::sqrt(uu)).epsilon(1e-5));
    CHECK(r.raw_ratio == doctest::Approx(std::sqrt(ww / uu)).epsilon(1e-5));
    CHECK(r.applied_ratio == std::min(r.raw_ratio, 1.0));
    CHECK(r.clipped == (r.raw_ratio > 1.0));
    // w_new = w - lr r u, element by element
    const std::vector<float> w1 = params[i].second.to_vector();
    for (size_t k = 0; k < w.size(); k += 7) {
      const double u = 0.1 * g[k] / (std::sqrt(0.001 * double(g[k]) * g[k]) + 1e-6);
      CHECK(w1[k] == doctest::Approx(w[k] - 0.01 * r.applied_ratio * u).epsilon(1e-5));
    }
  }
  // A flattened (global) ratio would differ from at least one per-tensor ratio.
  const double global = std::sqrt(global_w / global_u);
  bool differs = false;
  for (const auto& r : opt.trust_ratios()) differs = differs || std::abs(r.raw_ratio - global) > 1e-3 * global;
  CHECK(differs);
}

// The three schedules: 0 = multi-tensor (one region over all chunks), 1 = per-tensor with threads
// inside every tensor, 2 = per-tensor with one tensor per thread.
template <class Opt, class... Args>
NamedTensors run_config(int schedule, int threads, std::vector<TrustRatioRecord>* ratios, Args... args) {
  const int64_t saved_min = parallel_min_numel();
  const bool saved_multi = multi_tensor_enabled();
  const int saved_threads = get_num_threads();
  set_multi_tensor(schedule == 0);
  set_parallel_min_numel(schedule == 1 ? 1 : int64_t{1} << 40);
  set_num_threads(threads);
  // Tensors above kReduceChunk elements so that the chunked reductions really split.
  NamedTensors params = make_params({{"big.weight", {64, 300}}, {"mid.weight", {40, 250}}, {"small.weight", {6, 5}},
                                    {"small.bias", {6}}},
                                   21, 0.2f);
  Opt opt(params, args...);
  Generator gen(5);
  for (int t = 0; t < 3; ++t) {
    set_grads(params, random_grads(params, gen, 0.5f));
    opt.step();
  }
  if (ratios) *ratios = opt.trust_ratios();
  set_parallel_min_numel(saved_min);
  set_multi_tensor(saved_multi);
  set_num_threads(saved_threads);
  return params;
}

TEST_CASE("multi-tensor and per-tensor schedules, any thread count: identical ratios and weights") {
  std::vector<TrustRatioRecord> r_multi, r_inside, r_across, r_serial;
  const NamedTensors multi = run_config<Lambc>(0, 2, &r_multi, LambcPreset::kPaper, 0.01, 0.01);
  const NamedTensors inside = run_config<Lambc>(1, 2, &r_inside, LambcPreset::kPaper, 0.01, 0.01);
  const NamedTensors across = run_config<Lambc>(2, 2, &r_across, LambcPreset::kPaper, 0.01, 0.01);
  const NamedTensors serial = run_config<Lambc>(0, 1, &r_serial, LambcPreset::kPaper, 0.01, 0.01);
  CHECK(bitwise_equal(multi, inside));
  CHECK(bitwise_equal(multi, across));
  CHECK(bitwise_equal(multi, serial));
  REQUIRE(r_multi.size() == 4);
  REQUIRE(r_inside.size() == 4);
  REQUIRE(r_across.size() == 4);
  REQUIRE(r_serial.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(r_multi[i].raw_ratio == r_inside[i].raw_ratio);
    CHECK(r_multi[i].raw_ratio == r_across[i].raw_ratio);
    CHECK(r_multi[i].raw_ratio == r_serial[i].raw_ratio);
    CHECK(r_multi[i].u_norm == r_inside[i].u_norm);
    CHECK(r_multi[i].w_norm == r_across[i].w_norm);
  }
  // The ratios are per tensor, not one global ratio: they differ between tensors.
  CHECK(r_multi[0].raw_ratio != r_multi[1].raw_ratio);

  std::vector<TrustRatioRecord> l1, l2;
  const NamedTensors lars_multi = run_config<Lars>(0, 2, &l1, LarsOptions{.weight_decay = 1e-3});
  const NamedTensors lars_inside = run_config<Lars>(1, 1, &l2, LarsOptions{.weight_decay = 1e-3});
  CHECK(bitwise_equal(lars_multi, lars_inside));
  REQUIRE(l1.size() == 4);
  for (size_t i = 0; i < 4; ++i) CHECK(l1[i].raw_ratio == l2[i].raw_ratio);
  const NamedTensors ab_multi = run_config<AdaBelief>(0, 2, nullptr, AdaBeliefOptions{});
  const NamedTensors ab_across = run_config<AdaBelief>(2, 2, nullptr, AdaBeliefOptions{});
  CHECK(bitwise_equal(ab_multi, ab_across));
  const NamedTensors ng_multi = run_config<NovoGrad>(0, 2, nullptr, NovoGradOptions{});
  const NamedTensors ng_inside = run_config<NovoGrad>(1, 2, nullptr, NovoGradOptions{});
  CHECK(bitwise_equal(ng_multi, ng_inside));
}

}  // namespace
}  // namespace tg::optim
