// Dataset checks, histograms and per-channel statistics (see dataset.h).
#include "datasets/dataset.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "engine/error.h"

namespace tg::data {

void Dataset::validate() const {
  TG_CHECK(channels > 0 && height > 0 && width > 0,
           "dataset '" << name << "': image shape (" << channels << ", " << height << ", " << width << ") must be positive");
  // C*H*W and N*C*H*W in int64 without overflow (absurd headers reach here with N = 0).
  int64_t numel = 0, total = 0;
  TG_CHECK(!__builtin_mul_overflow(channels, height, &numel) && !__builtin_mul_overflow(numel, width, &numel) &&
               !__builtin_mul_overflow(numel, size(), &total),
           "dataset '" << name << "': " << size() << " images of shape (" << channels << ", " << height << ", " << width
                       << ") overflow a 64-bit size");
  TG_CHECK(static_cast<int64_t>(images.size()) == total,
           "dataset '" << name << "': " << size() << " labels need " << total
                       << " pixel bytes, found " << images.size());
  TG_CHECK(num_classes() > 0, "dataset '" << name << "': no class names");
  for (int64_t i = 0; i < size(); ++i)
    TG_CHECK(labels[i] >= 0 && labels[i] < num_classes(),
             "dataset '" << name << "': label " << labels[i] << " of sample " << i << " is outside [0, " << num_classes() << ")");
}

std::vector<int64_t> Dataset::class_histogram() const {
  std::vector<int64_t> hist(num_classes(), 0);
  for (int32_t y : labels)
    if (y >= 0 && y < num_classes()) ++hist[y];
  return hist;
}

ChannelStats compute_channel_stats(const Dataset& ds) {
  ds.validate();  // the loops below trust size() * image_numel() pixel bytes
  TG_CHECK(ds.size() > 0, "compute_channel_stats: dataset '" << ds.name << "' is empty");
  const int64_t C = ds.channels, HW = ds.height * ds.width;
  // mean = E[x], std = sqrt(E[x^2] - E[x]^2), with x = pixel / 255; exact integer sums first.
  std::vector<uint64_t> sum(C, 0), sum_sq(C, 0);
  for (int64_t i = 0; i < ds.size(); ++i) {
    const uint8_t* img = ds.image(i);  // (C, H, W)
    for (int64_t c = 0; c < C; ++c) {
      uint64_t s = 0, s2 = 0;
      for (int64_t p = 0; p < HW; ++p) {
        const uint64_t v = img[c * HW + p];
        s += v;
        s2 += v * v;
      }
      sum[c] += s;
      sum_sq[c] += s2;
    }
  }
  ChannelStats st;
  const double n = static_cast<double>(ds.size()) * static_cast<double>(HW);
  for (int64_t c = 0; c < C; ++c) {
    const double mean = static_cast<double>(sum[c]) / n / 255.0;
    const double ex2 = static_cast<double>(sum_sq[c]) / n / (255.0 * 255.0);
    st.mean.push_back(static_cast<float>(mean));
    st.std.push_back(static_cast<float>(std::sqrt(std::max(0.0, ex2 - mean * mean))));
  }
  return st;
}

ChannelStats standard_channel_stats(const std::string& name) {
  // Training-set statistics of pixel/255 (population std over all pixels of each channel).
  if (name == "cifar10") return {{0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}};
  if (name == "cifar100") return {{0.5071f, 0.4865f, 0.4409f}, {0.2673f, 0.2564f, 0.2762f}};
  if (name == "mnist") return {{0.1307f}, {0.3081f}};
  if (name == "fashion-mnist") return {{0.2860f}, {0.3530f}};
  throw Error("standard_channel_stats: no constants for dataset '" + name +
              "' (known: cifar10, cifar100, mnist, fashion-mnist); use compute_channel_stats instead");
}

Dataset slice(const Dataset& ds, int64_t begin, int64_t count) {
  ds.validate();  // the copy below trusts size() * image_numel() pixel bytes
  // Written as count <= size - begin: begin + count can overflow.
  TG_CHECK(begin >= 0 && count >= 0 && begin <= ds.size() && count <= ds.size() - begin,
           "slice: range of " << count << " samples from " << begin << " is outside dataset '" << ds.name << "' of size "
                              << ds.size());
  Dataset out;
  out.name = ds.name + "[" + std::to_string(begin) + ":" + std::to_string(begin + count) + "]";
  out.channels = ds.channels;
  out.height = ds.height;
  out.width = ds.width;
  out.class_names = ds.class_names;
  out.images.assign(ds.image(begin), ds.image(begin) + count * ds.image_numel());
  out.labels.assign(ds.labels.begin() + begin, ds.labels.begin() + begin + count);
  return out;
}

}  // namespace tg::data
