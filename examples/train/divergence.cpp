// DivergenceMonitor (see divergence.h).
#include "examples/train/divergence.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tg::train {

void DivergenceMonitor::record_first_loss(double loss) {
  if (initial_loss_ < 0 && std::isfinite(loss)) initial_loss_ = loss;
}

std::vector<std::string> DivergenceMonitor::on_epoch_end(int64_t epoch, double train_loss, double test_acc) {
  std::vector<std::string> out;
  char line[320];
  const bool loss_bad = !std::isfinite(train_loss) || (initial_loss_ > 0 && train_loss > kLossFactor * initial_loss_);
  if (loss_bad && !loss_warned_) {
    loss_warned_ = true;
    std::snprintf(line, sizeof(line),
                  "warning: training diverges: epoch %lld train loss %.4g is more than %.0fx the first step's loss %.4g "
                  "(lower --lr, or warm up longer)",
                  static_cast<long long>(epoch), train_loss, kLossFactor, initial_loss_);
    out.push_back(line);
  }
  if (test_acc >= 0) {
    const double chance = 1.0 / static_cast<double>(std::max(classes_, 1));
    chance_evaluations_ = test_acc <= kChanceFactor * chance ? chance_evaluations_ + 1 : 0;
    if (chance_evaluations_ >= kChanceEvaluations && !chance_warned_) {
      chance_warned_ = true;
      std::snprintf(line, sizeof(line),
                    "warning: test accuracy %.2f%% is at chance level (%.2f%% for %d classes) for %d evaluations in a row "
                    "(epoch %lld): the model is not learning",
                    100 * test_acc, 100 * chance, classes_, kChanceEvaluations, static_cast<long long>(epoch));
      out.push_back(line);
    }
  }
  warnings_.insert(warnings_.end(), out.begin(), out.end());
  return out;
}

nlohmann::json DivergenceMonitor::state() const {
  return {{"initial_loss", initial_loss_},
          {"chance_evaluations", chance_evaluations_},
          {"loss_warned", loss_warned_},
          {"chance_warned", chance_warned_},
          {"warnings", warnings_}};
}

void DivergenceMonitor::set_state(const nlohmann::json& s) {
  if (!s.is_object()) return;
  initial_loss_ = s.value("initial_loss", initial_loss_);
  chance_evaluations_ = s.value("chance_evaluations", chance_evaluations_);
  loss_warned_ = s.value("loss_warned", loss_warned_);
  chance_warned_ = s.value("chance_warned", chance_warned_);
  warnings_ = s.value("warnings", warnings_);
}

}  // namespace tg::train
