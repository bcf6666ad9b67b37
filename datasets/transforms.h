// Data augmentation as composable per-sample transforms on one normalised float image (C, H, W),
// plus the fused uint8 -> float normalisation table. Every random choice comes from the sample's
// own Generator, seeded from (seed, epoch, sample index), so results never depend on threading.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "engine/random.h"

namespace tg::data {

// Which sample a transform is working on: lets a transform derive randomness that must not
// change with the epoch (AlternatingFlip) or vary per epoch.
struct SampleContext {
  uint64_t seed = 0;
  int64_t epoch = 0;
  int64_t index = 0;  // index in the dataset (not the position in the batch)
};

// One image inside a batch buffer: (C, H, W) contiguous floats.
struct ImageView {
  float* data = nullptr;
  int64_t channels = 0, height = 0, width = 0;
  int64_t numel() const { return channels * height * width; }
};

class Transform {
 public:
  virtual ~Transform() = default;
  // Transforms `img` in place. `rng` is this sample's stream, shared in order by the transforms of
  // the chain; `scratch` holds at least img.numel() floats. Must be safe to call concurrently.
  virtual void apply(ImageView img, Generator& rng, const SampleContext& ctx, float* scratch) const = 0;
  virtual std::string str() const = 0;
};

using TransformList = std::vector<std::shared_ptr<const Transform>>;

enum class PadMode {
  Zero,     // pad with 0 in normalised space, i.e. the channel mean colour
  Reflect,  // mirror without repeating the edge (numpy 'reflect', torch ReflectionPad2d); needs pad < H, W
};

// Pads by `pad` on every side, then takes an H x W window at a uniform offset in [0, 2*pad]^2.
// out[c, y, x] = padded[c, y + dy, x + dx] = in[c, y + dy - pad, x + dx - pad]
class RandomCrop : public Transform {
 public:
  explicit RandomCrop(int pad, PadMode mode = PadMode::Zero);
  void apply(ImageView img, Generator& rng, const SampleContext& ctx, float* scratch) const override;
  std::string str() const override;

 private:
  int pad_;
  PadMode mode_;
};

// Mirrors left-right with probability p: out[c, y, x] = in[c, y, W - 1 - x].
class RandomHorizontalFlip : public Transform {
 public:
  explicit RandomHorizontalFlip(float p = 0.5f);
  void apply(ImageView img, Generator& rng, const SampleContext& ctx, float* scratch) const override;
  std::string str() const override;

 private:
  float p_;
};

// airbench's alternating flip: each sample gets one fixed random bit b (from seed and sample index
// only); it is flipped on even epochs when b = 1 and on odd epochs when b = 0, so every two epochs
// each sample is seen once each way (less redundancy than independent flips).
class AlternatingFlip : public Transform {
 public:
  AlternatingFlip() = default;
  void apply(ImageView img, Generator& rng, const SampleContext& ctx, float* scratch) const override;
  std::string str() const override;
  static bool flips(const SampleContext& ctx);  // the decision, exposed for tests
};

// Cutout (DeVries & Taylor 2017): zeroes (= mean colour after normalisation) a size x size square.
// Centre uniform over the image, square clipped at the borders; or, with `inside`, the whole
// square placed uniformly inside the image (airbench's variant).
class Cutout : public Transform {
 public:
  explicit Cutout(int size, bool inside = false);
  void apply(ImageView img, Generator& rng, const SampleContext& ctx, float* scratch) const override;
  std::string str() const override;

 private:
  int size_;
  bool inside_;
};

// The usual CIFAR recipe: RandomCrop(pad) + RandomHorizontalFlip (+ Cutout when cutout > 0).
TransformList standard_augmentation(int pad = 4, PadMode mode = PadMode::Reflect, int cutout = 0);
std::string describe(const TransformList& transforms);  // "RandomCrop(4, reflect) -> HFlip(0.5)"

// uint8 -> float with per-channel normalisation in one table lookup per pixel:
// table[c][v] = (v / 255 - mean[c]) / std[c]   (no stats: v / 255).
class NormalizeTable {
 public:
  NormalizeTable() = default;
  NormalizeTable(const ChannelStats& stats, int64_t channels);
  // src (C, H, W) uint8 -> dst (C, H, W) float.
  void apply(const uint8_t* src, float* dst, int64_t channels, int64_t hw) const;

 private:
  std::vector<float> table_;  // (C, 256)
};

}  // namespace tg::data
