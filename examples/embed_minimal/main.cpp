// embed_minimal: trustgrad as a library in ~50 lines. Defines a small conv net, trains it for a few
// LAMBC steps on a toy problem (is the bright square in the left or the right half?), saves it.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "nn/nn.h"
#include "optim/lambc.h"

int main(int argc, char** argv) try {
  const std::string out = argc > 1 ? argv[1] : "embed_minimal.safetensors";
  tg::Generator gen(42);
  // (N, 1, 8, 8) -> conv 3x3 (8) -> BN -> ReLU -> max pool 2 -> flatten (8*4*4) -> linear (2)
  auto net = std::make_shared<tg::nn::Sequential>();
  net->add(std::make_shared<tg::nn::Conv2d>(1, 8, 3, 1, 1, false, 1, gen))
      .add(std::make_shared<tg::nn::BatchNorm2d>(8))
      .add(std::make_shared<tg::nn::ReLU>())
      .add(std::make_shared<tg::nn::MaxPool2d>(2))
      .add(std::make_shared<tg::nn::Flatten>())
      .add(std::make_shared<tg::nn::Linear>(8 * 4 * 4, 2, true, gen));
  // LAMBC as the authors' code runs it: r = min(||w|| / ||u||, 1) per tensor.
  tg::optim::Lambc opt(net->named_parameters(), tg::optim::LambcPreset::kPaper, /*lr=*/0.02);

  // A batch of 32 noisy images; label 1 when the 3x3 bright square sits in the right half.
  auto make_batch = [&gen](tg::Tensor& x, tg::Tensor& y) {
    std::vector<float> px(32 * 64), labels(32);
    for (int n = 0; n < 32; ++n) {
      const int cx = static_cast<int>(gen.below(6)), cy = static_cast<int>(gen.below(6));
      labels[n] = cx + 1 >= 4 ? 1.f : 0.f;
      for (int i = 0; i < 64; ++i) px[n * 64 + i] = 0.3f * gen.normal();
      for (int dy = 0; dy < 3; ++dy)
        for (int dx = 0; dx < 3; ++dx) px[n * 64 + (cy + dy) * 8 + cx + dx] += 2.f;
    }
    x = tg::Tensor::from_vector(px, {32, 1, 8, 8});
    y = tg::Tensor::from_vector(labels, {32});
  };

  tg::Tensor x, y;
  for (int step = 1; step <= 40; ++step) {
    make_batch(x, y);
    tg::Tensor logits = (*net)(x);                  // (32, 2)
    tg::Tensor loss = tg::nn::cross_entropy(logits, y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (step % 10 == 0)
      std::printf("step %2d  loss %.4f  batch accuracy %.0f%%\n", step, loss.item(), 100 * tg::nn::accuracy(logits, y));
  }
  net->save(out);  // safetensors, loadable by PyTorch's safetensors.torch.load_file
  std::printf("saved %lld parameters to %s\n", static_cast<long long>(net->num_parameters()), out.c_str());
  return 0;
} catch (const std::exception& e) {  // the library reports every problem as an exception
  std::fprintf(stderr, "embed_minimal: %s\n", e.what());
  return 1;
}
