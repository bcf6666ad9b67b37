// Gradient clipping by the global norm of all gradients, as torch.nn.utils.clip_grad_norm_:
//
//   total = || ( ||g_1||_p, ..., ||g_n||_p ) ||_p        (p = inf: max_i max_j |g_ij|)
//   c     = min( max_norm / (total + 1e-6), 1 )
//   g_i  <- c g_i                                         for every gradient
//
// Call it between backward() and optimizer.step() (under data parallelism: after the gradients are
// averaged, so every rank scales by the same c). LAMB and LAMBC clip inside the optimizer instead
// (LambOptions::max_grad_norm, timm's rule g / max(total / max_norm, 1)).
#pragma once
#include <limits>
#include <vector>

#include "engine/named_tensors.h"
#include "engine/tensor.h"

namespace tg::nn {

constexpr double kInfNorm = std::numeric_limits<double>::infinity();

// || (||g_1||_p, ..., ||g_n||_p) ||_p over the parameters that have a gradient (0 when none): the
// total clip_grad_norm_ measures, without scaling anything (PyTorch's get_total_norm over the
// gradients). NaN or Inf when a gradient is.
double total_grad_norm(const NamedTensors& params, double norm_type = 2.0);

// The scaling half of clip_grad_norm_ for a total measured already (PyTorch's
// clip_grads_with_norm_): every gradient times min(max_norm / (total + 1e-6), 1). For code that
// also logs the total: one pass over the gradients to measure, none again.
void clip_grads_with_norm_(const NamedTensors& params, double max_norm, double total);

// Scales the parameters' gradients in place so that their global p-norm is at most max_norm and
// returns that norm as it was before scaling. Parameters without a gradient are skipped (none at
// all: returns 0). max_norm >= 0 (inf: measure only); norm_type p > 0 or kInfNorm. With
// error_if_nonfinite a NaN or Inf total throws, naming the first non-finite gradient, before
// anything is scaled; without it such a total scales every gradient to NaN, as PyTorch does.
double clip_grad_norm_(const NamedTensors& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

}  // namespace tg::nn
