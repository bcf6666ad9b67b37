// A kept last partial batch under mpirun: the train program's main on 2 ranks with one training
// image, --batch-size 1 per rank and --no-drop-last, so the only batch holds R = 1 image, on rank 1
// alone (rank 0 has none). Averaging the ranks' gradients must still give that image's gradient:
// rank 1's loss is weighted by its share, B_r N / R = 2 (trainer.cpp). Rank 0 then trains the same
// image in one process (batch 2, the same single batch) and compares the saved parameters bit for
// bit; SGD without momentum or decay, so a gradient of the wrong scale shows in every weight.
// Before the weighting the two-rank step was half as long. ctest checks the output.
//   mpirun -np 2 dist_uneven_last_batch LOG_DIR
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "dist/process_group.h"
#include "examples/train/run.h"
#include "io/safetensors.h"

namespace {

int run(const std::vector<std::string>& args, tg::dist::ProcessGroup* group) {
  std::vector<const char*> argv{"train"};
  for (const auto& a : args) argv.push_back(a.c_str());
  return tg::train::run_train(static_cast<int>(argv.size()), argv.data(), std::cout, std::cerr, group);
}

// Parameters only: BatchNorm running statistics are averaged over the ranks (rank 0 saw no image).
bool is_parameter(const std::string& name) {
  return name.find("running_") == std::string::npos && name.find("num_batches_tracked") == std::string::npos;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: dist_uneven_last_batch LOG_DIR" << std::endl;
    return 2;
  }
  const std::string log_dir = argv[1];
  const std::vector<std::string> common{"--dataset", "fashion-mnist", "--model", "small", "--train-subset", "1",
                                        "--test-subset", "8", "--epochs", "1", "--no-drop-last", "--optimizer", "sgd",
                                        "--momentum", "0", "--weight-decay", "0", "--lr", "0.1", "--schedule",
                                        "constant", "--threads", "1", "--workers", "0", "--report=false",
                                        "--progress", "none", "--log-dir", log_dir};
  tg::dist::ProcessGroup group;
  return tg::dist::run_job(group, [&] {
    std::vector<std::string> ranks = common, single = common;
    ranks.insert(ranks.end(), {"--batch-size", "1", "--run-name", "uneven_ranks"});
    single.insert(single.end(), {"--batch-size", "2", "--run-name", "uneven_single"});
    if (run(ranks, &group) != 0) return 1;
    group.barrier();
    if (!group.is_root()) return 0;
    if (run(single, nullptr) != 0) return 1;
    const auto a = tg::io::load_safetensors(log_dir + "/uneven_ranks/model.safetensors").tensors;
    const auto b = tg::io::load_safetensors(log_dir + "/uneven_single/model.safetensors").tensors;
    int compared = 0, differ = 0;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      if (!is_parameter(a[i].first)) continue;
      ++compared;
      const bool same = a[i].first == b[i].first && a[i].second.numel() == b[i].second.numel() &&
                        std::memcmp(a[i].second.data(), b[i].second.data(),
                                    static_cast<size_t>(a[i].second.numel()) * sizeof(float)) == 0;
      if (!same) {
        ++differ;
        std::cout << "differs: " << a[i].first << std::endl;
      }
    }
    std::cout << "uneven last batch: " << compared << " parameters compared, " << differ << " differ" << std::endl;
    return 0;
  });
}
