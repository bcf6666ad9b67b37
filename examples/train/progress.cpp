// Progress: the live bar ('\r' redraw, at most ~10 per second) and the plain lines.
#include "examples/train/progress.h"

#include <cmath>
#include <cstdio>
#include <ostream>
#include <unistd.h>

namespace tg::train {

ProgressMode resolve_progress_mode(const std::string& setting) {
  if (setting == "bar") return ProgressMode::kBar;
  if (setting == "plain") return ProgressMode::kPlain;
  if (setting == "none") return ProgressMode::kNone;
  return ::isatty(STDOUT_FILENO) ? ProgressMode::kBar : ProgressMode::kPlain;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  }
  return buf;
}

Progress::Progress(ProgressMode mode, std::ostream& out, int64_t log_interval)
    : mode_(mode), out_(out), log_interval_(log_interval < 1 ? 1 : log_interval) {}

void Progress::step(const StepInfo& s) {
  if (mode_ == ProgressMode::kNone) return;
  char line[256];
  if (mode_ == ProgressMode::kPlain) {
    if (s.step % log_interval_ != 0 && s.batch != s.batches) return;
    std::snprintf(line, sizeof(line), "epoch %lld/%lld  step %lld/%lld (%lld/%lld)  loss %.4f  acc %.2f%%  %.0f img/s  lr %.3g  eta %s",
                  static_cast<long long>(s.epoch + 1), static_cast<long long>(s.epochs), static_cast<long long>(s.batch),
                  static_cast<long long>(s.batches), static_cast<long long>(s.step), static_cast<long long>(s.total_steps),
                  s.loss, 100.0 * s.acc, s.images_per_s, s.lr, format_duration(s.eta_s).c_str());
    out_ << line;
    if (s.comm_share >= 0) out_ << "  comm " << static_cast<int>(100.0 * s.comm_share + 0.5) << "%";
    out_ << "\n" << std::flush;
    return;
  }
  // Live bar: redraw at most every 100 ms, and always for the epoch's last batch.
  const auto now = std::chrono::steady_clock::now();
  if (bar_open_ && s.batch != s.batches && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(kWidth * s.batch / (s.batches > 0 ? s.batches : 1));
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(kWidth - filled), '.');
  std::snprintf(line, sizeof(line), "\repoch %lld/%lld [%s] %lld/%lld  loss %.4f  acc %.2f%%  %.0f img/s  lr %.3g  ETA %s \x1b[K",
                static_cast<long long>(s.epoch + 1), static_cast<long long>(s.epochs), bar.c_str(),
                static_cast<long long>(s.batch), static_cast<long long>(s.batches), s.loss, 100.0 * s.acc, s.images_per_s,
                s.lr, format_duration(s.eta_s).c_str());
  out_ << line << std::flush;
  bar_open_ = true;
}

void Progress::end_bar() {
  if (bar_open_) out_ << "\n";
  bar_open_ = false;
}

void Progress::message(const std::string& line) {
  if (mode_ == ProgressMode::kNone) return;
  end_bar();
  out_ << line << "\n" << std::flush;
}

}  // namespace tg::train
