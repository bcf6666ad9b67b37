// Helpers for the examples suite: a temporary directory and a tiny synthetic image dataset.
#pragma once
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>

#include "datasets/dataset.h"
#include "engine/random.h"

namespace tg::test {

// <tmp>/tg_examples_<pid>_<tag>_<n>/, removed (recursively) on destruction.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag) {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("tg_examples_" + std::to_string(::getpid()) + "_" + tag + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string str() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// n grey images of side x side in `classes` classes: class k brightens row band k, plus noise,
// so a small CNN can learn it a little within a few steps.
inline data::Dataset synthetic_images(int64_t n, int64_t side, int classes, uint64_t seed) {
  data::Dataset ds;
  ds.name = "synthetic";
  ds.channels = 1;
  ds.height = ds.width = side;
  for (int k = 0; k < classes; ++k) ds.class_names.push_back("class" + std::to_string(k));
  Generator gen(seed);
  ds.images.resize(static_cast<size_t>(n * side * side));
  ds.labels.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int label = static_cast<int>(gen.below(static_cast<uint64_t>(classes)));
    ds.labels[static_cast<size_t>(i)] = label;
    for (int64_t y = 0; y < side; ++y) {
      const bool band = y * classes / side == label;
      for (int64_t x = 0; x < side; ++x) {
        const int v = static_cast<int>(gen.below(96)) + (band ? 140 : 20);
        ds.images[static_cast<size_t>((i * side + y) * side + x)] = static_cast<uint8_t>(v > 255 ? 255 : v);
      }
    }
  }
  return ds;
}

}  // namespace tg::test
