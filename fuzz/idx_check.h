// The IDX checks shared by fuzz_idx (raw bytes) and fuzz_idx_gz (gzip, through maybe_gunzip):
// the bytes are tried as an image file (ndim 3, paired with matching all-zero labels) and as a
// label file (ndim 1, paired with 1x1 images), through the loader's own idx_dataset, and every
// dataset that loads must then pass Dataset::validate (what the DataLoader checks first).
#pragma once
#include "datasets/idx.h"
#include "fuzz/fuzz_support.h"

namespace tg::fuzz {

inline void check_loaded(const data::Dataset& ds) {
  ds.validate();
  if (ds.size() > 0) data::compute_channel_stats(ds);
}

// The partner file is synthesized only up to 1M samples: a larger one would be a file of that size
// on disk, which the loader reads as any other; here it would only slow the fuzzer down.
constexpr int64_t kMaxPartnerSamples = 1 << 20;

inline void check_idx_bytes(const data::Bytes& bytes) {
  const auto names = data::fashion_mnist_class_names();
  expect_clean_refusal([&] {
    data::IdxArray images = data::parse_idx(bytes, "images.idx", 3);  // (N, H, W)
    if (images.dims[0] > kMaxPartnerSamples) return;
    data::IdxArray labels{{images.dims[0]}, data::Bytes(static_cast<size_t>(images.dims[0]), 0)};
    check_loaded(data::idx_dataset(std::move(images), std::move(labels), names, "fuzz", "images.idx", "labels.idx"));
  });
  expect_clean_refusal([&] {
    data::IdxArray labels = data::parse_idx(bytes, "labels.idx", 1);  // (N)
    if (labels.dims[0] > kMaxPartnerSamples) return;
    data::IdxArray images{{labels.dims[0], 1, 1}, data::Bytes(static_cast<size_t>(labels.dims[0]), 7)};
    check_loaded(data::idx_dataset(std::move(images), std::move(labels), names, "fuzz", "images.idx", "labels.idx"));
  });
}

}  // namespace tg::fuzz
