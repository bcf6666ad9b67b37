// Divergence watch of a run: at each epoch end, a training loss far above the first step's loss
// (or not finite) and a test accuracy stuck at chance for consecutive evaluations produce one
// warning each (printed, and recorded in summary.json). Its state travels in checkpoints.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tg::train {

class DivergenceMonitor {
 public:
  static constexpr double kLossFactor = 10.0;       // epoch train loss > 10 x initial loss: diverging
  static constexpr double kChanceFactor = 1.5;      // test accuracy <= 1.5 / classes: at chance
  static constexpr int kChanceEvaluations = 2;      // ... at this many evaluations in a row

  explicit DivergenceMonitor(int classes) : classes_(classes) {}
  void record_first_loss(double loss);  // the loss of step 1 (kept when already set)
  // Returns the new warning lines (empty when nothing new). test_acc < 0: not evaluated.
  std::vector<std::string> on_epoch_end(int64_t epoch, double train_loss, double test_acc);

  bool diverged() const { return !warnings_.empty(); }
  const std::vector<std::string>& warnings() const { return warnings_; }
  double initial_loss() const { return initial_loss_; }

  nlohmann::json state() const;
  void set_state(const nlohmann::json& s);  // missing keys keep their defaults

 private:
  int classes_;
  double initial_loss_ = -1;
  int64_t chance_evaluations_ = 0;
  bool loss_warned_ = false, chance_warned_ = false;
  std::vector<std::string> warnings_;
};

}  // namespace tg::train
