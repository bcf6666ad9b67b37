// Writes the seed corpora of the fuzz targets into <dir>/<target>/ (default fuzz/corpus) with the
// library's own writers (gzip, write_tar_gz, save_safetensors, save_checkpoint, to_json) plus a
// few hand-built edge files. Run by `make fuzz-seeds`; the output is committed (a few KiB each).
#include <filesystem>
#include <iostream>

#include "datasets/archive.h"
#include "datasets/cifar.h"
#include "examples/train/checkpoint.h"
#include "examples/train/setup.h"
#include "fuzz/fuzz_support.h"
#include "nn/loss.h"
#include "io/safetensors.h"

namespace fs = std::filesystem;
using tg::data::Bytes;

namespace {

fs::path g_root;

void put(const std::string& target, const std::string& name, const Bytes& bytes) {
  fs::create_directories(g_root / target);
  tg::data::write_file((g_root / target / name).string(), bytes);
}
void put_text(const std::string& target, const std::string& name, const std::string& s) { put(target, name, Bytes(s.begin(), s.end())); }

// IDX: 00 00 08 ndim, big-endian dims, data.
Bytes idx(const std::vector<uint32_t>& dims, const Bytes& payload) {
  Bytes b{0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(d >> s));
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes pattern(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 37 % 251);
  return b;
}

// n CIFAR records: label bytes, then 3072 pixel bytes (mostly zero so archives stay small).
Bytes cifar_records(int n, const std::vector<uint8_t>& labels) {
  Bytes b;
  for (int r = 0; r < n; ++r) {
    b.insert(b.end(), labels.begin(), labels.end());
    Bytes px(3072, 0);
    px[static_cast<size_t>(r)] = 200;
    b.insert(b.end(), px.begin(), px.end());
  }
  return b;
}

// A safetensors file written by hand: 8-byte LE header length, JSON header, data.
Bytes safetensors_bytes(const std::string& header, const Bytes& payload) {
  Bytes b;
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(static_cast<uint64_t>(header.size()) >> (8 * i)));
  b.insert(b.end(), header.begin(), header.end());
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

void idx_seeds() {
  const Bytes images = idx({2, 3, 4}, pattern(24)), labels = idx({5}, {0, 1, 2, 3, 9});
  const Bytes empty = idx({0, 28, 28}, {}), bad_label = idx({2}, {1, 10}), cut = idx({3, 2, 2}, pattern(5));
  for (auto [name, bytes] : {std::pair{"images", images}, {"labels", labels}, {"empty", empty}, {"bad_label", bad_label}, {"cut", cut}}) {
    put("idx", name, bytes);
    put("idx_gz", std::string(name) + ".gz", tg::data::gzip(bytes));
  }
  Bytes two = tg::data::gzip(Bytes(images.begin(), images.begin() + 10));  // two members: `cat a.gz b.gz`
  const Bytes rest = tg::data::gzip(Bytes(images.begin() + 10, images.end()));
  two.insert(two.end(), rest.begin(), rest.end());
  put("idx_gz", "two_members.gz", two);
}

void cifar_seeds() {
  Bytes c10{0};
  const Bytes r10 = cifar_records(2, {3});
  c10.insert(c10.end(), r10.begin(), r10.end());
  put("cifar", "cifar10_two", c10);
  Bytes c100{1};
  const Bytes r100 = cifar_records(1, {19, 99});
  c100.insert(c100.end(), r100.begin(), r100.end());
  put("cifar", "cifar100_one", c100);
  put_text("cifar", "names", std::string(1, '\0') + "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n");

  if (!tg::data::archive_supported()) return;
  const std::string names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n";
  std::map<std::string, Bytes> members{{"cifar-10-batches-bin/batches.meta.txt", Bytes(names.begin(), names.end())},
                                       {"cifar-10-batches-bin/test_batch.bin", cifar_records(1, {9})}};
  for (int i = 1; i <= 5; ++i)
    members["cifar-10-batches-bin/data_batch_" + std::to_string(i) + ".bin"] = cifar_records(1, {static_cast<uint8_t>(i)});
  const std::string tmp = (g_root / "tmp.tar.gz").string();
  tg::data::write_tar_gz(tmp, members);
  put("cifar_targz", "valid.tar.gz", tg::data::read_file(tmp));
  members.erase("cifar-10-batches-bin/test_batch.bin");
  tg::data::write_tar_gz(tmp, members);
  put("cifar_targz", "no_test_batch.tar.gz", tg::data::read_file(tmp));
  fs::remove(tmp);
}

void safetensors_seeds() {
  const std::string tmp = (g_root / "tmp.safetensors").string();
  tg::fuzz::tiny_model()->save(tmp);
  put("safetensors", "tiny_model.safetensors", tg::data::read_file(tmp));
  fs::remove(tmp);
  // Other dtypes (converted to float32), an empty tensor, metadata; not the tiny model's names.
  put("safetensors", "dtypes.safetensors",
      safetensors_bytes(R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
                        R"("b":{"dtype":"BF16","shape":[1,2],"data_offsets":[4,8]},"c":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},)"
                        R"("d":{"dtype":"F32","shape":[0,3],"data_offsets":[16,16]}})",
                        pattern(16)));
}

tg::train::TrainConfig seed_config(const std::string& optimizer) {
  tg::train::TrainConfig c;
  c.dataset = "fashion-mnist";
  c.optimizer = optimizer;
  c.batch_size = 4;
  c.epochs = 2;
  tg::train::resolve_defaults(c);
  return c;
}

void checkpoint_seeds() {
  for (const std::string opt : {"lambc", "sgd", "adamw"}) {
    const tg::train::TrainConfig c = seed_config(opt);
    auto model = tg::fuzz::tiny_model();
    auto optimizer = tg::train::make_optimizer(c, *model);
    const tg::Tensor x = tg::Tensor::from_vector(std::vector<float>(2 * 9, 0.5f), {2, 1, 3, 3});
    const tg::Tensor y = tg::Tensor::from_vector({0, 2}, {2});
    tg::nn::cross_entropy((*model)(x), y).backward();
    optimizer->step();
    tg::train::TrainerState st;
    st.step = 1;
    st.loader = {0, 1};
    st.rng = {1, 2, 3, 4, 5, 6};
    st.threads = 1;
    st.stats = {{"epoch_loss_sum", 1.5}, {"epoch_count", 2}};
    const std::string tmp = (g_root / "tmp.safetensors").string();
    tg::train::save_checkpoint(tmp, *model, *optimizer, st, tg::train::to_json(c), "runs/seed");
    put("checkpoint", opt + ".safetensors", tg::data::read_file(tmp));
    fs::remove(tmp);
  }
}

void config_seeds() {
  put_text("config", "resolved.json", tg::train::to_json(seed_config("lambc")).dump(2));
  put_text("config", "sgd.json", R"({"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": true, "seed": 7})");
  put_text("config", "lamb_inf.json", R"({"optimizer": "lamb", "clip_max": "inf", "eps": "auto", "_comment": "x"})");
  put_text("config", "schedule.json", R"({"schedule": "step:30:0.1", "warmup_epochs": 0.5, "batch_size": 8, "accum_steps": 2})");
  put_text("config", "bad_type.json", R"({"epochs": "ten"})");
}

}  // namespace

int main(int argc, char** argv) {
  g_root = argc > 1 ? argv[1] : "fuzz/corpus";
  try {
    idx_seeds();
    cifar_seeds();
    safetensors_seeds();
    checkpoint_seeds();
    config_seeds();
  } catch (const std::exception& e) {
    std::cerr << "make_seeds: " << e.what() << "\n";
    return 1;
  }
  std::cout << "seeds written under " << g_root.string() << "\n";
  return 0;
}
