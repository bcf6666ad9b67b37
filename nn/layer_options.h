// Options for the layers in libtorch's style: the required arguments in the constructor, the rest
// through chainable setters named and defaulted as PyTorch's keyword arguments, e.g.
//   nn::Conv2d conv(nn::Conv2dOptions(1, 8, 3).stride(1).padding(1).bias(false).groups(1), gen);
//   nn::BatchNorm2d bn(nn::BatchNorm2dOptions(8).momentum(0.1).eps(1e-5));
// Each setter returns *this; the getter of the same name reads the value. A layer keeps its options
// as the public member `options`. Values are checked when the layer is built (tg::Error naming them).
#pragma once
#include <optional>

namespace tg::nn {

// torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, groups=1, bias=True)
// with square kernels, strides and paddings (dilation 1, zero padding).
class Conv2dOptions {
 public:
  Conv2dOptions(int in_channels, int out_channels, int kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  Conv2dOptions& in_channels(int v) { in_channels_ = v; return *this; }
  Conv2dOptions& out_channels(int v) { out_channels_ = v; return *this; }
  Conv2dOptions& kernel_size(int v) { kernel_size_ = v; return *this; }
  Conv2dOptions& stride(int v) { stride_ = v; return *this; }
  Conv2dOptions& padding(int v) { padding_ = v; return *this; }
  Conv2dOptions& groups(int v) { groups_ = v; return *this; }
  Conv2dOptions& bias(bool v) { bias_ = v; return *this; }
  int in_channels() const { return in_channels_; }
  int out_channels() const { return out_channels_; }
  int kernel_size() const { return kernel_size_; }
  int stride() const { return stride_; }
  int padding() const { return padding_; }
  int groups() const { return groups_; }
  bool bias() const { return bias_; }

 private:
  int in_channels_, out_channels_, kernel_size_;
  int stride_ = 1, padding_ = 0, groups_ = 1;
  bool bias_ = true;
};

// torch.nn.Linear(in_features, out_features, bias=True)
class LinearOptions {
 public:
  LinearOptions(int in_features, int out_features) : in_features_(in_features), out_features_(out_features) {}
  LinearOptions& in_features(int v) { in_features_ = v; return *this; }
  LinearOptions& out_features(int v) { out_features_ = v; return *this; }
  LinearOptions& bias(bool v) { bias_ = v; return *this; }
  int in_features() const { return in_features_; }
  int out_features() const { return out_features_; }
  bool bias() const { return bias_; }

 private:
  int in_features_, out_features_;
  bool bias_ = true;
};

// torch.nn.BatchNorm2d(num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True)
// (momentum=None, the cumulative average, is not offered).
class BatchNorm2dOptions {
 public:
  explicit BatchNorm2dOptions(int num_features) : num_features_(num_features) {}
  BatchNorm2dOptions& num_features(int v) { num_features_ = v; return *this; }
  BatchNorm2dOptions& eps(float v) { eps_ = v; return *this; }
  BatchNorm2dOptions& momentum(float v) { momentum_ = v; return *this; }
  BatchNorm2dOptions& affine(bool v) { affine_ = v; return *this; }
  BatchNorm2dOptions& track_running_stats(bool v) { track_running_stats_ = v; return *this; }
  int num_features() const { return num_features_; }
  float eps() const { return eps_; }
  float momentum() const { return momentum_; }
  bool affine() const { return affine_; }
  bool track_running_stats() const { return track_running_stats_; }

 private:
  int num_features_;
  float eps_ = 1e-5f, momentum_ = 0.1f;
  bool affine_ = true, track_running_stats_ = true;
};

// torch.nn.MaxPool2d / AvgPool2d(kernel_size, stride=kernel_size, padding=0), square windows; max
// pooling with dilation 1, average pooling counting the zero padding (count_include_pad=True); no
// ceil_mode. The stride follows kernel_size until it is set.
class Pool2dOptions {
 public:
  explicit Pool2dOptions(int kernel_size) : kernel_size_(kernel_size) {}
  Pool2dOptions& kernel_size(int v) { kernel_size_ = v; return *this; }
  Pool2dOptions& stride(int v) { stride_ = v; return *this; }
  Pool2dOptions& padding(int v) { padding_ = v; return *this; }
  int kernel_size() const { return kernel_size_; }
  int stride() const { return stride_.value_or(kernel_size_); }
  int padding() const { return padding_; }

 private:
  int kernel_size_;
  std::optional<int> stride_;  // unset: kernel_size (PyTorch's stride=None)
  int padding_ = 0;
};
using MaxPool2dOptions = Pool2dOptions;
using AvgPool2dOptions = Pool2dOptions;

// torch.nn.Dropout(p=0.5) (the layer's seed is a separate constructor argument).
class DropoutOptions {
 public:
  explicit DropoutOptions(float p = 0.5f) : p_(p) {}
  DropoutOptions& p(float v) { p_ = v; return *this; }
  float p() const { return p_; }

 private:
  float p_;
};

}  // namespace tg::nn
