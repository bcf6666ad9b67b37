// convert_sync_batchnorm: installs a BatchStatsSync that sums over the process group.
#include "dist/sync_batch_norm.h"

#include <memory>

#include "nn/layers_norm.h"

namespace tg::dist {

namespace {

class GroupStatsSync : public nn::BatchStatsSync {
 public:
  explicit GroupStatsSync(ProcessGroup& group) : group_(group) {}
  void sum(double* data, int64_t count) const override {
    group_.all_reduce(data, count, ReduceOp::kSum, "all-reduce of synchronised batch-norm statistics");
  }

 private:
  ProcessGroup& group_;
};

int set_sync(nn::Module& model, const std::shared_ptr<const nn::BatchStatsSync>& sync) {
  int count = 0;
  for (auto& [name, m] : model.named_modules()) {
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) {
      bn->stats_sync = sync;
      ++count;
    }
  }
  return count;
}

}  // namespace

int convert_sync_batchnorm(nn::Module& model, ProcessGroup& group) {
  const int count = set_sync(model, std::make_shared<GroupStatsSync>(group));
  group.check_same(count, "the number of BatchNorm2d modules converted to SyncBatchNorm");
  // Their channel counts too: each forward all-reduces C + 1 statistics per module, and MPI given
  // different counts on two ranks aborts the job or overruns the buffer instead of saying why.
  std::string channels;  // "name\0C;" per module
  for (auto& [name, m] : model.named_modules()) {
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m))
      channels.append(name).append(1, '\0').append(std::to_string(bn->options.num_features())).append(1, ';');
  }
  group.check_same(fingerprint(channels), "the names and channel counts of the BatchNorm2d modules (SyncBatchNorm)");
  return count;
}

int revert_sync_batchnorm(nn::Module& model) { return set_sync(model, nullptr); }

}  // namespace tg::dist
