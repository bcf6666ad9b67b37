// SyncBatchNorm for data-parallel training: convert_sync_batchnorm makes every BatchNorm2d of a
// model take its training statistics over all ranks of a ProcessGroup (nn/sync_batch_norm.h has
// the equations), as PyTorch's SyncBatchNorm.convert_sync_batchnorm does. Eval mode is unchanged
// (running statistics). The group must outlive the model's use of it.
#pragma once
#include "dist/process_group.h"
#include "nn/module.h"

namespace tg::dist {

// Returns how many BatchNorm2d modules were converted. Every rank must convert the same model.
int convert_sync_batchnorm(nn::Module& model, ProcessGroup& group);
// Back to per-rank statistics. Returns how many were reverted.
int revert_sync_batchnorm(nn::Module& model);

}  // namespace tg::dist
