// Consumer of the installed package, through the umbrella header <trustgrad/trustgrad.h> only: a few
// autograd ops, a layer built from its options and a safetensors round trip (io/), checked against
// closed-form values; with trustgrad::dist (CONSUMER_WITH_DIST), a process group of one whose
// all-reduce is the identity.
#include <trustgrad/trustgrad.h>
#include <trustgrad/engine/ops.h>  // a single header, as installed (and, under add_subdirectory, in the tree)

#include <cstdio>
#include <filesystem>
#include <string>
#include <unistd.h>
#ifdef CONSUMER_WITH_DIST
#include <trustgrad/dist/process_group.h>
#endif

int main() try {
  tg::Tensor x = tg::Tensor::from_vector({1.f, 2.f, 3.f}, {3}).set_requires_grad(true);
  tg::Tensor y = tg::sum(tg::mul(x, x));  // y = sum x^2 = 14, dy/dx = 2x
  y.backward();
  const auto g = x.grad().to_vector();
  if (y.item() != 14.f || g[0] != 2.f || g[1] != 4.f || g[2] != 6.f) {
    std::printf("consumer FAILED: y=%g grad=(%g, %g, %g)\n", y.item(), g[0], g[1], g[2]);
    return 1;
  }
  // Linear(3 -> 2, no bias) with weights set to [[1, 0, 1], [0, 2, 0]]: x -> (4, 4).
  tg::nn::Linear fc(tg::nn::LinearOptions(3, 2).bias(false));
  {
    tg::NoGradGuard no_grad;
    fc.weight.copy_(tg::Tensor::from_vector({1.f, 0.f, 1.f, 0.f, 2.f, 0.f}, {2, 3}));
  }
  const auto out = fc(x.detach().reshape({1, 3})).to_vector();
  if (fc.num_parameters() != 6 || out[0] != 4.f || out[1] != 4.f) {
    std::printf("consumer FAILED: Linear gave (%g, %g) with %lld parameters\n", out[0], out[1],
                static_cast<long long>(fc.num_parameters()));
    return 1;
  }
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("tg_consumer_" + std::to_string(getpid()) + ".safetensors")).string();
  tg::io::save_safetensors(path, {{"x", x.detach().clone()}});
  const auto back = tg::io::load_safetensors(path).at("x").to_vector();
  std::filesystem::remove(path);
  if (back != std::vector<float>{1.f, 2.f, 3.f}) {
    std::printf("consumer FAILED: safetensors round trip gave (%g, %g, %g)\n", back[0], back[1], back[2]);
    return 1;
  }
  static_assert(tg::ConvAlgorithm::Auto != tg::ConvAlgorithm::Gemm);
  tg::optim::set_multi_tensor(tg::optim::multi_tensor_enabled());  // the public loop settings (optim/loop_settings.h)
  std::string dist = "not linked";
#ifdef CONSUMER_WITH_DIST
  tg::dist::ProcessGroup group;  // not under mpirun: a group of one
  tg::Tensor t = tg::Tensor::from_vector({5.f}, {1});
  group.all_reduce(t, tg::dist::ReduceOp::kSum);
  if (group.world_size() != 1 || t.item() != 5.f) {
    std::printf("consumer FAILED: dist world size %d, all_reduce gave %g\n", group.world_size(), t.item());
    return 1;
  }
  dist = group.backend_name() + " group of " + std::to_string(group.world_size());
#endif
  std::printf("consumer ok: trustgrad %s, cpu kernels %s, %s, dist: %s\n", TRUSTGRAD_VERSION_STRING,
              tg::cpu_isa_name(tg::cpu_isa()), tg::backends_summary().c_str(), dist.c_str());
  return 0;
} catch (const std::exception& e) {
  std::printf("consumer FAILED: %s\n", e.what());
  return 1;
}
