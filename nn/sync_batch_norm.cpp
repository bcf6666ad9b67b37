// sync_batch_norm2d: the forward's two statistics passes and the backward's two sums, each
// completed over the ranks through BatchStatsSync (equations in sync_batch_norm.h).
#include "nn/sync_batch_norm.h"

#include <cmath>
#include <vector>

#include "engine/autograd.h"
#include "engine/error.h"

namespace tg::nn {

namespace {

struct Dims {
  int64_t n, c, hw;
};

// Per channel: sum over (N, H, W) of f(x, channel), in double.
template <class F>
std::vector<double> channel_sums(const float* x, const Dims& d, F f) {
  std::vector<double> s(static_cast<size_t>(d.c), 0.0);
  for (int64_t i = 0; i < d.n; ++i) {
    for (int64_t ch = 0; ch < d.c; ++ch) {
      const float* p = x + (i * d.c + ch) * d.hw;
      double acc = 0.0;
      for (int64_t k = 0; k < d.hw; ++k) acc += f(p[k], ch);
      s[static_cast<size_t>(ch)] += acc;
    }
  }
  return s;
}

}  // namespace

Tensor sync_batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                         const Tensor& running_var, float momentum, float eps,
                         const std::shared_ptr<const BatchStatsSync>& sync) {
  TG_CHECK(sync, "sync_batch_norm2d: no BatchStatsSync given");
  TG_CHECK(x.defined() && x.dim() == 4 && x.device().is_cpu(),
           "sync_batch_norm2d: expected a CPU input (N, C, H, W), got "
               << (x.defined() ? shape_str(x.shape()) + " on " + x.device().str() : std::string("undefined")));
  const Dims d{x.size(0), x.size(1), x.size(2) * x.size(3)};
  // The per-channel vectors are read and written at [0, C): each (C) on the CPU, or undefined.
  const std::pair<const Tensor*, const char*> vectors[] = {
      {&weight, "weight"}, {&bias, "bias"}, {&running_mean, "running_mean"}, {&running_var, "running_var"}};
  for (const auto& [t, name] : vectors)
    TG_CHECK(!t->defined() || (t->dim() == 1 && t->size(0) == d.c && t->device().is_cpu()),
             "sync_batch_norm2d: " << name << " must be a CPU tensor of shape " << shape_str({d.c}) << " for input "
                                   << shape_str(x.shape()) << ", got " << shape_str(t->shape()) << " on " << t->device().str());
  TG_CHECK(eps > 0.f, "sync_batch_norm2d: eps must be positive, got " << eps);
  TG_CHECK(momentum >= 0.f && momentum <= 1.f, "sync_batch_norm2d: momentum must be in [0, 1], got " << momentum);
  const float* px = x.data();

  // mean over every rank: the local sums and the local count, summed.
  std::vector<double> first = channel_sums(px, d, [](float v, int64_t) { return static_cast<double>(v); });
  first.push_back(static_cast<double>(d.n * d.hw));
  sync->sum(first.data(), static_cast<int64_t>(first.size()));
  const double m = first.back();
  TG_CHECK(m > 1.0, "sync_batch_norm2d: " << m << " value(s) per channel over all ranks; batch statistics need more than 1");
  std::vector<double> mean(first.begin(), first.end() - 1);
  for (double& v : mean) v /= m;
  std::vector<double> var = channel_sums(px, d, [&](float v, int64_t ch) {
    const double dv = v - mean[static_cast<size_t>(ch)];
    return dv * dv;
  });
  sync->sum(var.data(), d.c);
  for (double& v : var) v /= m;

  Tensor invstd = Tensor::empty({d.c}), xhat = Tensor::empty(x.shape()), y = Tensor::empty(x.shape());
  for (int64_t ch = 0; ch < d.c; ++ch) invstd.data()[ch] = static_cast<float>(1.0 / std::sqrt(var[static_cast<size_t>(ch)] + eps));
  const float* w = weight.defined() ? weight.data() : nullptr;
  const float* b = bias.defined() ? bias.data() : nullptr;
  for (int64_t i = 0; i < d.n; ++i) {
    for (int64_t ch = 0; ch < d.c; ++ch) {
      const int64_t o = (i * d.c + ch) * d.hw;
      const float mu = static_cast<float>(mean[static_cast<size_t>(ch)]), is = invstd.data()[ch];
      const float g = w ? w[ch] : 1.f, beta = b ? b[ch] : 0.f;
      for (int64_t k = 0; k < d.hw; ++k) {
        const float h = (px[o + k] - mu) * is;  // xhat
        xhat.data()[o + k] = h;
        y.data()[o + k] = h * g + beta;
      }
    }
  }
  if (running_mean.defined() && running_var.defined()) {
    for (int64_t ch = 0; ch < d.c; ++ch) {
      const size_t c = static_cast<size_t>(ch);
      running_mean.data()[ch] = static_cast<float>((1.0 - momentum) * running_mean.data()[ch] + momentum * mean[c]);
      running_var.data()[ch] =
          static_cast<float>((1.0 - momentum) * running_var.data()[ch] + momentum * var[c] * m / (m - 1.0));
    }
    running_mean.bump_version();
    running_var.bump_version();
  }

  const Tensor wd = weight.defined() ? weight.detach() : Tensor();
  record_op(y, "sync_batch_norm2d", {&x, &weight, &bias},
            [xhat, invstd, wd, d, m, sync](const Tensor& dy) -> std::vector<Tensor> {
              const float* pdy = dy.data();
              const float* ph = xhat.data();
              // Local sums per channel: sum(dy) and sum(dy xhat), then their sums over the ranks.
              std::vector<double> local(static_cast<size_t>(2 * d.c), 0.0);
              for (int64_t i = 0; i < d.n; ++i) {
                for (int64_t ch = 0; ch < d.c; ++ch) {
                  const int64_t o = (i * d.c + ch) * d.hw;
                  double s = 0.0, sh = 0.0;
                  for (int64_t k = 0; k < d.hw; ++k) {
                    s += pdy[o + k];
                    sh += static_cast<double>(pdy[o + k]) * ph[o + k];
                  }
                  local[static_cast<size_t>(ch)] += s;
                  local[static_cast<size_t>(d.c + ch)] += sh;
                }
              }
              std::vector<double> global = local;
              sync->sum(global.data(), 2 * d.c);
              Tensor dx = Tensor::empty(dy.shape());
              for (int64_t i = 0; i < d.n; ++i) {
                for (int64_t ch = 0; ch < d.c; ++ch) {
                  const int64_t o = (i * d.c + ch) * d.hw;
                  const float scale = (wd.defined() ? wd.data()[ch] : 1.f) * invstd.data()[ch];
                  const float mdy = static_cast<float>(global[static_cast<size_t>(ch)] / m);
                  const float mdyh = static_cast<float>(global[static_cast<size_t>(d.c + ch)] / m);
                  for (int64_t k = 0; k < d.hw; ++k) dx.data()[o + k] = scale * (pdy[o + k] - mdy - ph[o + k] * mdyh);
                }
              }
              Tensor dw = Tensor::empty({d.c}), db = Tensor::empty({d.c});
              for (int64_t ch = 0; ch < d.c; ++ch) {
                dw.data()[ch] = static_cast<float>(local[static_cast<size_t>(d.c + ch)]);
                db.data()[ch] = static_cast<float>(local[static_cast<size_t>(ch)]);
              }
              return {dx, dw, db};
            }, {&wd});
  return y;
}

}  // namespace tg::nn
