// Helpers for tests that run the whole train program: a tiny Fashion-MNIST-format data directory
// (IDX files of the synthetic images), run_train with a vector of arguments, file reading and the
// comparison of run outputs with the wall-clock fields left out.
#pragma once
#include <cstdint>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "examples/train/metrics.h"
#include "examples/train/run.h"
#include "train_test_util.h"

namespace tg::test {

// <dir>/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte: n_train / n_test synthetic
// 28x28 images in 10 classes (class k brightens a row band), as the IDX loader reads them.
inline void write_tiny_fashion_mnist(const std::string& dir, int64_t n_train, int64_t n_test) {
  const std::filesystem::path d = std::filesystem::path(dir) / "fashion-mnist";
  std::filesystem::create_directories(d);
  auto be32 = [](std::string& s, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>((v >> shift) & 0xff));
  };
  auto write_split = [&](const std::string& prefix, int64_t n, uint64_t seed) {
    const data::Dataset ds = synthetic_images(n, 28, 10, seed);
    std::string images, labels;
    be32(images, 0x803);
    be32(images, static_cast<uint32_t>(n));
    be32(images, 28);
    be32(images, 28);
    images.append(reinterpret_cast<const char*>(ds.images.data()), ds.images.size());
    be32(labels, 0x801);
    be32(labels, static_cast<uint32_t>(n));
    for (int label : ds.labels) labels.push_back(static_cast<char>(label));
    std::ofstream((d / (prefix + "-images-idx3-ubyte")).string(), std::ios::binary) << images;
    std::ofstream((d / (prefix + "-labels-idx1-ubyte")).string(), std::ios::binary) << labels;
  };
  write_split("train", n_train, 11);
  write_split("t10k", n_test, 12);
}

struct TrainOutput {
  int code = -1;
  std::string out, err;
};

// run_train("train", args...) in this process.
inline TrainOutput run_train_args(std::vector<std::string> args) {
  args.insert(args.begin(), "train");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  TrainOutput r;
  r.code = train::run_train(static_cast<int>(argv.size()), argv.data(), out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Wall-clock fields: they differ between any two runs, interrupted or not.
inline const std::set<std::string>& timing_keys() {
  static const std::set<std::string> keys = {"time_s", "img_per_s", "wall_s", "images_per_s", "train_seconds",
                                             "wall_seconds", "epoch_train_seconds"};
  return keys;
}

inline nlohmann::json without_timing(nlohmann::json j) {
  if (!j.is_object()) return j;
  for (const auto& k : timing_keys()) j.erase(k);
  return j;
}

// A JSONL log's rows without the wall-clock fields.
inline std::vector<nlohmann::json> jsonl_rows(const std::string& path) {
  std::vector<nlohmann::json> rows;
  for (auto& r : train::read_jsonl(path)) rows.push_back(without_timing(r));
  return rows;
}

// A CSV log's rows with the wall-clock columns blanked (the header names them).
inline std::vector<std::string> csv_rows(const std::string& path) {
  std::istringstream in(read_text(path));
  std::string line;
  std::vector<std::string> rows;
  std::vector<bool> drop;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::string cell;
    std::istringstream ls(line);
    while (std::getline(ls, cell, ',')) cells.push_back(cell);
    if (!line.empty() && line.back() == ',') cells.push_back("");
    if (drop.empty())
      for (const auto& c : cells) drop.push_back(timing_keys().count(c) > 0);
    std::string kept;
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i > 0) kept += ',';
      kept += i < drop.size() && drop[i] ? std::string("-") : cells[i];
    }
    rows.push_back(kept);
  }
  return rows;
}

}  // namespace tg::test
