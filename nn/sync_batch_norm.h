// Synchronised batch normalisation: batch statistics over the samples of every rank of a
// data-parallel job, for small per-rank batches. nn/ knows nothing of MPI: the sum over ranks
// comes in through BatchStatsSync (dist::convert_sync_batchnorm installs one on each BatchNorm2d).
//
// Forward, per channel c over all M = sum over ranks of N*H*W elements:
//   mean = sum(x) / M                      (one all-reduce of C sums and the count)
//   var  = sum((x - mean)^2) / M           (a second all-reduce: two passes, as batch_norm2d)
//   y    = (x - mean) / sqrt(var + eps) * weight + bias
//   running = (1 - momentum) running + momentum (mean, var M / (M - 1))
// Backward (dy local; sums over all ranks through one all-reduce of 2C values):
//   dx      = weight invstd (dy - sum(dy) / M - xhat sum(dy xhat) / M)
//   dweight = sum_local(dy xhat),  dbias = sum_local(dy)   (DataParallel averages them)
// dx is the gradient of the sum of every rank's loss with respect to this rank's x, so gradients
// averaged by DataParallel equal those of one process over the whole batch. CPU, float32.
#pragma once
#include <cstdint>
#include <memory>

#include "engine/tensor.h"

namespace tg::nn {

class BatchStatsSync {
 public:
  virtual ~BatchStatsSync() = default;
  // data[0 .. count) <- the sum over every rank of data[0 .. count). Collective.
  virtual void sum(double* data, int64_t count) const = 0;
};

// batch_norm2d with training statistics over every rank. running_mean / running_var may be
// undefined (not tracking); weight / bias may be undefined (not affine).
Tensor sync_batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                         const Tensor& running_var, float momentum, float eps,
                         const std::shared_ptr<const BatchStatsSync>& sync);

}  // namespace tg::nn
