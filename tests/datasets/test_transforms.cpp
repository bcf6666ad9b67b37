// Augmentation transforms checked against their closed-form definitions: crop = shifted window
// of the zero/reflect-padded image, flips mirror rows, cutout zeroes one square, normalisation table.
#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <set>

#include "datasets/transforms.h"
#include "engine/error.h"

using namespace tg;
using namespace tg::data;

namespace {

constexpr int64_t kC = 2, kH = 6, kW = 5;

std::vector<float> ramp_image() {  // (C, H, W), all values distinct and nonzero
  std::vector<float> v(kC * kH * kW);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 1.f + static_cast<float>(i);
  return v;
}

int64_t reflect(int64_t i, int64_t n) { return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i); }

// The padded-window definition: out[c, y, x] = in[c, y + dy, x + dx], out of range -> 0 or reflected.
std::vector<float> expected_crop(const std::vector<float>& in, int64_t dy, int64_t dx, PadMode mode) {
  std::vector<float> out(in.size());
  for (int64_t c = 0; c < kC; ++c)
    for (int64_t y = 0; y < kH; ++y)
      for (int64_t x = 0; x < kW; ++x) {
        int64_t sy = y + dy, sx = x + dx;
        float v = 0.f;
        if (mode == PadMode::Reflect) v = in[(c * kH + reflect(sy, kH)) * kW + reflect(sx, kW)];
        else if (sy >= 0 && sy < kH && sx >= 0 && sx < kW) v = in[(c * kH + sy) * kW + sx];
        out[(c * kH + y) * kW + x] = v;
      }
  return out;
}

}  // namespace

TEST_CASE("RandomCrop: output is a shifted window of the padded image; all offsets occur") {
  for (PadMode mode : {PadMode::Zero, PadMode::Reflect}) {
    const int P = 2;
    RandomCrop crop(P, mode);
    std::set<std::pair<int64_t, int64_t>> seen;
    std::vector<float> scratch(kC * kH * kW);
    for (uint64_t seed = 0; seed < 400; ++seed) {
      std::vector<float> img = ramp_image();
      Generator rng(seed);
      crop.apply(ImageView{img.data(), kC, kH, kW}, rng, SampleContext{}, scratch.data());
      int matches = 0;
      for (int64_t dy = -P; dy <= P; ++dy)
        for (int64_t dx = -P; dx <= P; ++dx)
          if (img == expected_crop(ramp_image(), dy, dx, mode)) {
            ++matches;
            seen.insert({dy, dx});
          }
      REQUIRE(matches == 1);  // distinct ramp values: exactly one offset explains the output
    }
    CHECK(seen.size() == static_cast<size_t>((2 * P + 1) * (2 * P + 1)));
  }
  CHECK_THROWS_AS(RandomCrop(-1), tg::Error);
  std::vector<float> img = ramp_image(), scratch(img.size());
  Generator rng(1);
  CHECK_THROWS_AS(RandomCrop(kH, PadMode::Reflect).apply(ImageView{img.data(), kC, kH, kW}, rng, {}, scratch.data()),
                  tg::Error);
}

TEST_CASE("flips: HFlip mirrors rows; AlternatingFlip alternates per sample across epochs") {
  std::vector<float> img = ramp_image(), scratch(img.size());
  Generator rng(3);
  RandomHorizontalFlip(1.f).apply(ImageView{img.data(), kC, kH, kW}, rng, {}, scratch.data());
  const std::vector<float> ref = ramp_image();
  for (int64_t r = 0; r < kC * kH; ++r)
    for (int64_t x = 0; x < kW; ++x) CHECK(img[r * kW + x] == ref[r * kW + (kW - 1 - x)]);
  img = ramp_image();
  RandomHorizontalFlip(0.f).apply(ImageView{img.data(), kC, kH, kW}, rng, {}, scratch.data());
  CHECK(img == ref);

  int flipped_epoch0 = 0;
  for (int64_t i = 0; i < 2000; ++i) {
    const bool f0 = AlternatingFlip::flips({7, 0, i});
    flipped_epoch0 += f0;
    CHECK(AlternatingFlip::flips({7, 1, i}) == !f0);
    CHECK(AlternatingFlip::flips({7, 2, i}) == f0);
    CHECK(AlternatingFlip::flips({7, 5, i}) == !f0);
  }
  CHECK(flipped_epoch0 > 900);  // about half: Binomial(2000, 0.5) has sd 22
  CHECK(flipped_epoch0 < 1100);
  img = ramp_image();
  int64_t idx = 0;
  while (!AlternatingFlip::flips({7, 0, idx})) ++idx;
  AlternatingFlip().apply(ImageView{img.data(), kC, kH, kW}, rng, SampleContext{7, 0, idx}, scratch.data());
  CHECK(img[0] == ref[kW - 1]);
}

TEST_CASE("Cutout: zeroes exactly one (clipped) square, the rest untouched") {
  std::vector<float> scratch(kC * kH * kW);
  for (bool inside : {false, true}) {
    for (uint64_t seed = 0; seed < 100; ++seed) {
      std::vector<float> img = ramp_image();
      const std::vector<float> ref = img;
      Generator rng(seed);
      Cutout(3, inside).apply(ImageView{img.data(), kC, kH, kW}, rng, {}, scratch.data());
      // The zeroed set must be the same rectangle in every channel, of side <= 3 (== 3 when inside).
      int64_t ymin = kH, ymax = -1, xmin = kW, xmax = -1, zeros = 0;
      for (int64_t y = 0; y < kH; ++y)
        for (int64_t x = 0; x < kW; ++x)
          if (img[y * kW + x] == 0.f) {
            ymin = std::min(ymin, y), ymax = std::max(ymax, y), xmin = std::min(xmin, x), xmax = std::max(xmax, x);
            ++zeros;
          }
      REQUIRE(zeros > 0);  // a centre inside the image always removes at least the centre pixel
      CHECK(zeros == (ymax - ymin + 1) * (xmax - xmin + 1));
      CHECK(ymax - ymin + 1 <= 3);
      CHECK(xmax - xmin + 1 <= 3);
      if (inside) CHECK(zeros == 9);
      for (int64_t c = 0; c < kC; ++c)
        for (int64_t y = 0; y < kH; ++y)
          for (int64_t x = 0; x < kW; ++x) {
            const int64_t i = (c * kH + y) * kW + x;
            const bool in_square = y >= ymin && y <= ymax && x >= xmin && x <= xmax;
            CHECK(img[i] == (in_square ? 0.f : ref[i]));
          }
    }
  }
}

TEST_CASE("NormalizeTable: (v/255 - mean[c]) / std[c] per channel; plain v/255 without stats") {
  const uint8_t src[6] = {0, 128, 255, 0, 128, 255};  // (C=2, HW=3)
  float dst[6];
  NormalizeTable(ChannelStats{{0.5f, 0.25f}, {0.5f, 2.f}}, 2).apply(src, dst, 2, 3);
  for (int i = 0; i < 6; ++i) {
    const float m = i < 3 ? 0.5f : 0.25f, s = i < 3 ? 0.5f : 2.f;
    CHECK(dst[i] == doctest::Approx((src[i] / 255.f - m) / s));
  }
  NormalizeTable(ChannelStats{}, 2).apply(src, dst, 2, 3);
  CHECK(dst[1] == doctest::Approx(128.f / 255.f));
  CHECK_THROWS_AS(NormalizeTable(ChannelStats{{0.5f}, {0.5f}}, 3), tg::Error);
  CHECK_THROWS_AS(NormalizeTable(ChannelStats{{0.5f}, {0.f}}, 1), tg::Error);
  CHECK(describe(standard_augmentation(4, PadMode::Reflect, 8)) == "RandomCrop(4, reflect) -> HFlip(0.5) -> Cutout(8)");
}

TEST_CASE("NormalizeTable and standard_augmentation: non-finite stats and a negative cutout are refused") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  // A NaN mean gave all-NaN batches; an infinite std all-zero ones; stds without means were ignored.
  CHECK_THROWS_WITH_AS(NormalizeTable(ChannelStats{{0.5f, nan}, {0.5f, 0.5f}}, 2),
                       doctest::Contains("mean of channel 1 must be finite, got nan"), tg::Error);
  CHECK_THROWS_WITH_AS(NormalizeTable(ChannelStats{{0.5f}, {inf}}, 1),
                       doctest::Contains("std of channel 0 must be finite and > 0, got inf"), tg::Error);
  CHECK_THROWS_WITH_AS(NormalizeTable(ChannelStats{{}, {0.5f}}, 1), doctest::Contains("0 means and 1 stds"), tg::Error);
  // cutout = -1 silently meant no cutout.
  CHECK_THROWS_WITH_AS(standard_augmentation(4, PadMode::Reflect, -1),
                       doctest::Contains("cutout must be >= 0 (0 = none), got -1"), tg::Error);
  CHECK(standard_augmentation(4, PadMode::Reflect, 0).size() == 2);
}
