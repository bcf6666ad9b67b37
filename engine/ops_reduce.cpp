// Reductions with autograd: sum, mean, max (all elements or one dim), argmax, L2 norm.
//   d sum / dx = 1 (dout broadcast back);  d mean / dx = 1/n;  d max / dx = 1 at the first max;
//   d ||x|| / dx = x / ||x||  (0 when ||x|| = 0, the subgradient PyTorch also picks).
#include <cmath>

#include "engine/cpu/reduce.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#ifdef TRUSTGRAD_WITH_CUDA
#include "cuda/reduce.h"
#endif

namespace tg {

namespace {

struct DimSplit {
  int64_t outer = 1, dim = 1, inner = 1;
  Shape keep, drop;  // output shapes with and without the reduced dim
};

DimSplit split_at(const Shape& s, int d) {
  DimSplit r;
  for (int i = 0; i < static_cast<int>(s.size()); ++i) {
    const int64_t n = s[static_cast<size_t>(i)];
    if (i < d) r.outer *= n;
    else if (i == d) r.dim = n;
    else r.inner *= n;
    r.keep.push_back(i == d ? 1 : n);
    if (i != d) r.drop.push_back(n);
  }
  return r;
}

void require_cpu(const Tensor& x, const char* op) {
  if (!x.device().is_cpu()) throw_no_kernel(op, x.device());
}

// sum_i x_i and sum_i x_i^2 in double, on the tensor's device (the CUDA versions synchronise).
double sum_all_on_device(const Tensor& x) {
  switch (x.device().type) {
    case DeviceType::CPU: return cpu::sum_all(x.data(), x.numel());
    case DeviceType::CUDA: return TG_CUDA_CALL(cuda::sum_all(x.data(), x.numel()));
  }
  return 0.0;
}
double sum_squares_on_device(const Tensor& x) {
  switch (x.device().type) {
    case DeviceType::CPU: return cpu::sum_squares(x.data(), x.numel());
    case DeviceType::CUDA: return TG_CUDA_CALL(cuda::sum_squares(x.data(), x.numel()));
  }
  return 0.0;
}

// Scatters g (outer, inner) into a zero tensor of `shape` at idx along the reduced dim.
Tensor scatter_max_grad(const Tensor& g, const std::vector<int64_t>& idx, const Shape& shape, const DimSplit& sp) {
  Tensor dx = Tensor::zeros(shape, g.device());
  float* p = dx.data();
  const float* pg = g.data();
  for (int64_t o = 0; o < sp.outer; ++o)
    for (int64_t i = 0; i < sp.inner; ++i)
      p[(o * sp.dim + idx[static_cast<size_t>(o * sp.inner + i)]) * sp.inner + i] = pg[o * sp.inner + i];
  return dx;
}

}  // namespace

Tensor sum(const Tensor& x) {
  check_defined(x, "sum");
  Tensor out = Tensor::scalar(static_cast<float>(sum_all_on_device(x)), x.device());
  const Shape shape = x.shape();
  return record_op(out, "sum", {&x}, [shape](const Tensor& g) { return std::vector<Tensor>{expand(g, shape)}; });
}

Tensor sum(const Tensor& x, int dim, bool keepdim) {
  check_defined(x, "sum");
  const int d = normalize_dim(dim, x.dim(), "sum");
  const DimSplit sp = split_at(x.shape(), d);
  Tensor out = Tensor::empty(keepdim ? sp.keep : sp.drop, x.device());
  switch (x.device().type) {
    case DeviceType::CPU: cpu::sum_dim(out.data(), x.data(), sp.outer, sp.dim, sp.inner); break;
    case DeviceType::CUDA: TG_CUDA_CALL(cuda::sum_dim(out.data(), x.data(), sp.outer, sp.dim, sp.inner)); break;
  }
  const Shape shape = x.shape(), keep = sp.keep;
  return record_op(out, "sum", {&x}, [shape, keep](const Tensor& g) {
    return std::vector<Tensor>{expand(g.reshape(keep), shape)};
  });
}

Tensor mean(const Tensor& x) {
  check_defined(x, "mean");
  return mul(sum(x), 1.f / static_cast<float>(x.numel()));
}

Tensor mean(const Tensor& x, int dim, bool keepdim) {
  check_defined(x, "mean");
  const int d = normalize_dim(dim, x.dim(), "mean");
  return mul(sum(x, d, keepdim), 1.f / static_cast<float>(x.size(d)));
}

Tensor max(const Tensor& x) {
  check_defined(x, "max");
  require_cpu(x, "max");
  const int64_t i = cpu::argmax_all(x.data(), x.numel());
  Tensor out = Tensor::scalar(x.data()[i], x.device());
  const Shape shape = x.shape();
  return record_op(out, "max", {&x}, [shape, i](const Tensor& g) {
    Tensor dx = Tensor::zeros(shape, g.device());
    dx.data()[i] = g.item();
    return std::vector<Tensor>{dx};
  });
}

Tensor max(const Tensor& x, int dim, bool keepdim) {
  check_defined(x, "max");
  require_cpu(x, "max");
  const int d = normalize_dim(dim, x.dim(), "max");
  const DimSplit sp = split_at(x.shape(), d);
  Tensor out = Tensor::empty(keepdim ? sp.keep : sp.drop, x.device());
  std::vector<int64_t> idx(static_cast<size_t>(sp.outer * sp.inner));
  cpu::max_dim(out.data(), idx.data(), x.data(), sp.outer, sp.dim, sp.inner);
  const Shape shape = x.shape();
  return record_op(out, "max", {&x}, [shape, sp, idx = std::move(idx)](const Tensor& g) {
    return std::vector<Tensor>{scatter_max_grad(g, idx, shape, sp)};
  });
}

Tensor argmax(const Tensor& x, int dim) {
  check_defined(x, "argmax");
  require_cpu(x, "argmax");
  const int d = normalize_dim(dim, x.dim(), "argmax");
  const DimSplit sp = split_at(x.shape(), d);
  Tensor vals = Tensor::empty(sp.drop, x.device());
  std::vector<int64_t> idx(static_cast<size_t>(sp.outer * sp.inner));
  cpu::max_dim(vals.data(), idx.data(), x.data(), sp.outer, sp.dim, sp.inner);
  Tensor out = Tensor::empty(sp.drop, x.device());
  for (size_t i = 0; i < idx.size(); ++i) out.data()[i] = static_cast<float>(idx[i]);
  return out;
}

Tensor norm(const Tensor& x) {
  check_defined(x, "norm");
  const float n = static_cast<float>(std::sqrt(sum_squares_on_device(x)));
  Tensor out = Tensor::scalar(n, x.device());
  Tensor xd = x.detach();
  return record_op(out, "norm", {&x}, [xd, n](const Tensor& g) {
    if (n == 0.f) return std::vector<Tensor>{Tensor::zeros(xd.shape(), xd.device())};
    // dx = g x / ||x||, as (x / ||x||) g: g / ||x|| overflows float when ||x|| < ~3e-39.
    return std::vector<Tensor>{mul(div(xd, n), g.item())};
  }, {&xd});
}

}  // namespace tg
