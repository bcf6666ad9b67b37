// Augmentation transforms and the normalisation table (see transforms.h).
#include "datasets/transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "datasets/sampler.h"
#include "engine/error.h"

namespace tg::data {

namespace {

// Reflection without edge repeat: -1 -> 1, n -> n - 2 (valid for |overhang| < n).
inline int64_t reflect_index(int64_t i, int64_t n) {
  if (i < 0) return -i;
  if (i >= n) return 2 * (n - 1) - i;
  return i;
}

void flip_rows(ImageView img) {
  const int64_t W = img.width;
  for (int64_t r = 0; r < img.channels * img.height; ++r) std::reverse(img.data + r * W, img.data + (r + 1) * W);
}

}  // namespace

// ---- RandomCrop ----

RandomCrop::RandomCrop(int pad, PadMode mode) : pad_(pad), mode_(mode) {
  TG_CHECK(pad >= 0, "RandomCrop: padding must be >= 0, got " << pad);
}

void RandomCrop::apply(ImageView img, Generator& rng, const SampleContext&, float* scratch) const {
  if (pad_ == 0) return;
  const int64_t C = img.channels, H = img.height, W = img.width, P = pad_;
  TG_CHECK(mode_ != PadMode::Reflect || (P < H && P < W),
           "RandomCrop: reflect padding " << P << " needs an image larger than it, got " << H << "x" << W);
  const int64_t dy = static_cast<int64_t>(rng.below(2 * P + 1)) - P;  // source offset in [-P, P]
  const int64_t dx = static_cast<int64_t>(rng.below(2 * P + 1)) - P;
  // Columns x in [x0, x1) read in-range source columns x + dx; the rest are padding.
  const int64_t x0 = std::clamp<int64_t>(-dx, 0, W), x1 = std::clamp<int64_t>(W - dx, 0, W);
  for (int64_t c = 0; c < C; ++c) {
    const float* src = img.data + c * H * W;  // (H, W)
    float* dst = scratch + c * H * W;         // (H, W)
    for (int64_t y = 0; y < H; ++y) {
      float* out = dst + y * W;
      int64_t sy = y + dy;
      if (sy < 0 || sy >= H) {
        if (mode_ == PadMode::Zero) {
          std::fill(out, out + W, 0.f);
          continue;
        }
        sy = reflect_index(sy, H);
      }
      const float* row = src + sy * W;
      if (x1 > x0) std::memcpy(out + x0, row + x0 + dx, sizeof(float) * (x1 - x0));
      for (int64_t x = 0; x < x0; ++x) out[x] = mode_ == PadMode::Zero ? 0.f : row[reflect_index(x + dx, W)];
      for (int64_t x = std::max(x1, x0); x < W; ++x) out[x] = mode_ == PadMode::Zero ? 0.f : row[reflect_index(x + dx, W)];
    }
  }
  std::memcpy(img.data, scratch, sizeof(float) * img.numel());
}

std::string RandomCrop::str() const {
  return "RandomCrop(" + std::to_string(pad_) + (mode_ == PadMode::Zero ? ", zero)" : ", reflect)");
}

// ---- flips ----

RandomHorizontalFlip::RandomHorizontalFlip(float p) : p_(p) {
  TG_CHECK(p >= 0.f && p <= 1.f, "RandomHorizontalFlip: probability must be in [0, 1], got " << p);
}

void RandomHorizontalFlip::apply(ImageView img, Generator& rng, const SampleContext&, float*) const {
  if (rng.uniform() < p_) flip_rows(img);
}

std::string RandomHorizontalFlip::str() const {
  std::ostringstream s;
  s << "HFlip(" << p_ << ")";
  return s.str();
}

bool AlternatingFlip::flips(const SampleContext& ctx) {
  // b: one fixed bit per (seed, sample), independent of the epoch; flip iff b == (epoch even).
  const bool b = (mix_seed(mix_seed(ctx.seed, 0xa17f11bULL), static_cast<uint64_t>(ctx.index)) >> 63) != 0;
  return b == (ctx.epoch % 2 == 0);
}

void AlternatingFlip::apply(ImageView img, Generator&, const SampleContext& ctx, float*) const {
  if (flips(ctx)) flip_rows(img);
}

std::string AlternatingFlip::str() const { return "AlternatingFlip"; }

// ---- Cutout ----

Cutout::Cutout(int size, bool inside) : size_(size), inside_(inside) {
  TG_CHECK(size >= 0, "Cutout: size must be >= 0, got " << size);
}

void Cutout::apply(ImageView img, Generator& rng, const SampleContext&, float*) const {
  if (size_ == 0) return;
  const int64_t H = img.height, W = img.width, S = size_;
  int64_t y0, x0;
  if (inside_) {
    TG_CHECK(S <= H && S <= W, "Cutout: square " << S << " does not fit inside " << H << "x" << W);
    y0 = static_cast<int64_t>(rng.below(H - S + 1));
    x0 = static_cast<int64_t>(rng.below(W - S + 1));
  } else {  // centre uniform in the image, top-left = centre - S/2, clipped below
    y0 = static_cast<int64_t>(rng.below(H)) - S / 2;
    x0 = static_cast<int64_t>(rng.below(W)) - S / 2;
  }
  const int64_t ya = std::max<int64_t>(y0, 0), yb = std::min(y0 + S, H);
  const int64_t xa = std::max<int64_t>(x0, 0), xb = std::min(x0 + S, W);
  for (int64_t c = 0; c < img.channels; ++c)
    for (int64_t y = ya; y < yb; ++y) std::fill(img.data + (c * H + y) * W + xa, img.data + (c * H + y) * W + xb, 0.f);
}

std::string Cutout::str() const {
  return "Cutout(" + std::to_string(size_) + (inside_ ? ", inside)" : ")");
}

// ---- helpers ----

TransformList standard_augmentation(int pad, PadMode mode, int cutout) {
  TG_CHECK(cutout >= 0, "standard_augmentation: cutout must be >= 0 (0 = none), got " << cutout);
  TransformList t{std::make_shared<RandomCrop>(pad, mode), std::make_shared<RandomHorizontalFlip>(0.5f)};
  if (cutout > 0) t.push_back(std::make_shared<Cutout>(cutout));
  return t;
}

std::string describe(const TransformList& transforms) {
  if (transforms.empty()) return "none";
  std::string s;
  for (const auto& t : transforms) s += (s.empty() ? "" : " -> ") + t->str();
  return s;
}

// ---- NormalizeTable ----

NormalizeTable::NormalizeTable(const ChannelStats& stats, int64_t channels) : table_(static_cast<size_t>(channels) * 256) {
  const bool has = !stats.mean.empty() || !stats.std.empty();
  TG_CHECK(!has || (static_cast<int64_t>(stats.mean.size()) == channels && static_cast<int64_t>(stats.std.size()) == channels),
           "normalisation: " << stats.mean.size() << " means and " << stats.std.size() << " stds for images with "
                             << channels << " channels");
  for (int64_t c = 0; c < channels; ++c) {
    const float mean = has ? stats.mean[c] : 0.f, sd = has ? stats.std[c] : 1.f;
    TG_CHECK(std::isfinite(mean), "normalisation: mean of channel " << c << " must be finite, got " << mean);
    TG_CHECK(std::isfinite(sd) && sd > 0.f, "normalisation: std of channel " << c << " must be finite and > 0, got " << sd);
    for (int v = 0; v < 256; ++v) table_[c * 256 + v] = (static_cast<float>(v) / 255.f - mean) / sd;
  }
}

void NormalizeTable::apply(const uint8_t* src, float* dst, int64_t channels, int64_t hw) const {
  for (int64_t c = 0; c < channels; ++c) {
    const float* t = table_.data() + c * 256;
    for (int64_t p = 0; p < hw; ++p) dst[c * hw + p] = t[src[c * hw + p]];
  }
}

}  // namespace tg::data
