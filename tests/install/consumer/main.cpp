// Consumer of the installed package: a few autograd ops, checked against closed-form values, and a
// safetensors round trip (io/), through the prefixed public headers (<trustgrad/...>) only.
#include <trustgrad/engine/cpu/isa.h>
#include <trustgrad/engine/ops.h>
#include <trustgrad/io/safetensors.h>
#include <trustgrad/nn/layers_conv.h>  // pulls in engine/kernel_params/conv2d.h (ConvAlgorithm)
#include <trustgrad/version.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <unistd.h>

int main() {
  tg::Tensor x = tg::Tensor::from_vector({1.f, 2.f, 3.f}, {3}).set_requires_grad(true);
  tg::Tensor y = tg::sum(tg::mul(x, x));  // y = sum x^2 = 14, dy/dx = 2x
  y.backward();
  const auto g = x.grad().to_vector();
  if (y.item() != 14.f || g[0] != 2.f || g[1] != 4.f || g[2] != 6.f) {
    std::printf("consumer FAILED: y=%g grad=(%g, %g, %g)\n", y.item(), g[0], g[1], g[2]);
    return 1;
  }
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("tg_consumer_" + std::to_string(getpid()) + ".safetensors")).string();
  tg::io::save_safetensors(path, {{"x", x.clone()}});
  const auto back = tg::io::load_safetensors(path).at("x").to_vector();
  std::filesystem::remove(path);
  if (back != std::vector<float>{1.f, 2.f, 3.f}) {
    std::printf("consumer FAILED: safetensors round trip gave (%g, %g, %g)\n", back[0], back[1], back[2]);
    return 1;
  }
  static_assert(tg::ConvAlgorithm::Auto != tg::ConvAlgorithm::Gemm);
  std::printf("consumer ok: trustgrad %s, cpu kernels %s, %s\n", TRUSTGRAD_VERSION_STRING,
              tg::cpu_isa_name(tg::cpu_isa()), tg::backends_summary().c_str());
  return 0;
}
