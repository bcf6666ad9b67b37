// Dataset: an in-memory image classification set, uint8 pixels (N, C, H, W) + int labels +
// class names, as every loader (CIFAR, IDX) returns it; plus per-channel statistics.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tg::data {

struct Dataset {
  std::string name;                      // e.g. "cifar10/train", used in messages
  int64_t channels = 0, height = 0, width = 0;
  std::vector<uint8_t> images;           // (N, C, H, W), channel planes R, G, B; rows top to bottom
  std::vector<int32_t> labels;           // (N) class indices in [0, num_classes)
  std::vector<std::string> class_names;  // (num_classes)

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int num_classes() const { return static_cast<int>(class_names.size()); }
  int64_t image_numel() const { return channels * height * width; }  // C*H*W bytes per image
  const uint8_t* image(int64_t i) const { return images.data() + i * image_numel(); }

  // Throws tg::Error when sizes disagree or a label is outside [0, num_classes).
  void validate() const;
  // Number of samples of each class: (num_classes).
  std::vector<int64_t> class_histogram() const;
};

// The two standard splits.
struct DatasetSplits {
  Dataset train;
  Dataset test;
  std::string source;  // where they were loaded from (set by load_dataset)
};

// Per-channel mean and standard deviation of pixel/255, the inputs of normalisation:
// x_hat[c] = (x/255 - mean[c]) / std[c].
struct ChannelStats {
  std::vector<float> mean;  // (C)
  std::vector<float> std;   // (C)
};

// Computed over the whole dataset in double precision (population std, as torchvision recipes do).
ChannelStats compute_channel_stats(const Dataset& ds);

// The commonly used constants for "cifar10", "cifar100", "mnist", "fashion-mnist" (training-set
// statistics); throws tg::Error for another name.
ChannelStats standard_channel_stats(const std::string& dataset_name);

// Contiguous subset [begin, begin + count) (handy for quick runs and tests).
Dataset slice(const Dataset& ds, int64_t begin, int64_t count);

}  // namespace tg::data
