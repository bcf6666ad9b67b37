// embed_minimal: trustgrad as a library in one include and ~60 lines. Builds a small conv net from
// layer options (libtorch's style), trains it for a few LAMBC steps on a toy problem (is the bright
// square in the left or the right half?), saves it, loads it into a fresh net and checks both agree.
#include <trustgrad/trustgrad.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace nn = tg::nn;

namespace {

// (N, 1, 8, 8) -> conv 3x3 (8, no bias) -> BN -> ReLU -> max pool 2 -> flatten (8*4*4) -> linear (2)
std::shared_ptr<nn::Sequential> make_net(tg::Generator& gen) {
  auto net = std::make_shared<nn::Sequential>();
  net->add(std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 8, 3).padding(1).bias(false), gen))
      .add(std::make_shared<nn::BatchNorm2d>(nn::BatchNorm2dOptions(8).momentum(0.1f)))
      .add(std::make_shared<nn::ReLU>())
      .add(std::make_shared<nn::MaxPool2d>(nn::MaxPool2dOptions(2)))
      .add(std::make_shared<nn::Flatten>())
      .add(std::make_shared<nn::Linear>(nn::LinearOptions(8 * 4 * 4, 2), gen));  // bias: PyTorch's default
  return net;
}

// A batch of 32 noisy images; label 1 when the 3x3 bright square sits in the right half.
void make_batch(tg::Generator& gen, tg::Tensor& x, tg::Tensor& y) {
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
}

}  // namespace

int main(int argc, char** argv) try {
  const std::string path = argc > 1 ? argv[1] : "embed_minimal.safetensors";
  tg::Generator gen(42);
  auto net = make_net(gen);
  // LAMBC as the authors' code runs it: trust ratio r = min(||w|| / ||u||, 1) per tensor.
  tg::optim::Lambc opt(net->named_parameters(), tg::optim::LambcPreset::kPaper, /*lr=*/0.02);

  tg::Tensor x, y;
  for (int step = 1; step <= 40; ++step) {
    make_batch(gen, x, y);
    tg::Tensor logits = (*net)(x);  // (32, 2)
    tg::Tensor loss = nn::cross_entropy(logits, y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (step % 10 == 0)
      std::printf("step %2d  loss %.4f  batch accuracy %.0f%%\n", step, loss.item(), 100 * nn::accuracy(logits, y));
  }
  net->save(path);  // safetensors, loadable by PyTorch's safetensors.torch.load_file

  // A fresh net (other initial weights) loaded from the file answers exactly as the trained one.
  tg::Generator other(7);
  auto loaded = make_net(other);
  loaded->load(path);
  net->eval();
  loaded->eval();
  tg::NoGradGuard no_grad;
  make_batch(gen, x, y);
  if ((*net)(x).to_vector() != (*loaded)(x).to_vector()) {
    std::fprintf(stderr, "embed_minimal: the model loaded from %s differs from the one saved\n", path.c_str());
    return 1;
  }
  std::printf("saved and reloaded %lld parameters (%s); test batch accuracy %.0f%%\n",
              static_cast<long long>(loaded->num_parameters()), path.c_str(), 100 * nn::accuracy((*loaded)(x), y));
  return 0;
} catch (const std::exception& e) {  // the library reports every problem as an exception
  std::fprintf(stderr, "embed_minimal: %s\n", e.what());
  return 1;
}
