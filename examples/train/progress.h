// Training progress on the console: a live bar per epoch on a terminal (step, loss, accuracy,
// img/s, lr, ETA), one plain line per interval otherwise, or nothing.
#pragma once
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace tg::train {

enum class ProgressMode { kBar, kPlain, kNone };

// "auto" -> kBar when stdout is a terminal, else kPlain; "bar" | "plain" | "none".
ProgressMode resolve_progress_mode(const std::string& setting);

struct StepInfo {
  int64_t epoch = 0, epochs = 1;          // 0-based epoch
  int64_t batch = 0, batches = 1;         // batches done in this epoch
  int64_t step = 0, total_steps = 1;      // optimizer steps done in the run
  double loss = 0, acc = 0;               // running averages over the epoch
  double images_per_s = 0, lr = 0;
  double eta_s = 0;                       // whole run
  double comm_share = -1;                 // data-parallel: share of step time waiting for gradients (< 0: none)
};

// "1:02:03" or "4:05".
std::string format_duration(double seconds);

class Progress {
 public:
  Progress(ProgressMode mode, std::ostream& out, int64_t log_interval);
  void step(const StepInfo& s);
  void message(const std::string& line);  // ends a live bar first
  ProgressMode mode() const { return mode_; }

 private:
  void end_bar();
  ProgressMode mode_;
  std::ostream& out_;
  int64_t log_interval_;
  bool bar_open_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace tg::train
