// Learning-rate schedules: objects the optimizer queries once per step for a factor that
// multiplies every group's base lr. Step index t = number of steps already taken (0 for the
// first step), matching torch.optim.lr_scheduler's last_epoch when scheduler.step() follows
// optimizer.step(). Composable: WarmupThen(linear warmup, then any schedule).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace tg::optim {

class Schedule {
 public:
  virtual ~Schedule() = default;
  virtual double factor(int64_t t) const = 0;  // lr(t) = base_lr * factor(t)
  virtual std::string describe() const = 0;    // "cosine(total=1000, min=0)"
};

// factor = 1.
class ConstantSchedule : public Schedule {
 public:
  double factor(int64_t t) const override;
  std::string describe() const override;
};

// factor = start + (1 - start) * min(t, W) / W   (torch LinearLR with end_factor = 1).
class LinearWarmup : public Schedule {
 public:
  explicit LinearWarmup(int64_t warmup_steps, double start_factor = 0.0);
  double factor(int64_t t) const override;
  std::string describe() const override;

 private:
  int64_t warmup_;
  double start_;
};

// factor = min + (1 - min) * (1 + cos(pi * t / T)) / 2 for t <= T, then min (torch CosineAnnealingLR
// with eta_min = min * base_lr, up to T_max). min_factor in [0, 1].
class CosineSchedule : public Schedule {
 public:
  explicit CosineSchedule(int64_t total_steps, double min_factor = 0.0);
  double factor(int64_t t) const override;
  std::string describe() const override;

 private:
  int64_t total_;
  double min_;
};

// factor = end + (1 - end) * (1 - min(t, T) / T)^power; power 2 is LARS's poly(2) decay
// gamma_t = gamma_0 (1 - t/T)^2 (torch PolynomialLR when end = 0). end_factor in [0, 1], power finite > 0.
class PolynomialSchedule : public Schedule {
 public:
  explicit PolynomialSchedule(int64_t total_steps, double power = 2.0, double end_factor = 0.0);
  double factor(int64_t t) const override;
  std::string describe() const override;

 private:
  int64_t total_;
  double power_, end_;
};

// factor = gamma ^ floor(t / step_size)   (torch StepLR), a decay: gamma in (0, 1].
class StepSchedule : public Schedule {
 public:
  StepSchedule(int64_t step_size, double gamma);
  double factor(int64_t t) const override;
  std::string describe() const override;

 private:
  int64_t step_size_;
  double gamma_;
};

// torch OneCycleLR (two phases) relative to max_lr = base lr:
//   initial = 1/div_factor, final = initial/final_div_factor, peak at step pct_start*T - 1;
//   phase 1 anneals initial -> 1, phase 2 anneals 1 -> final at step T - 1, with
//   cos: end + (start - end) (1 + cos(pi p)) / 2   or   linear: start + (end - start) p.
class OneCycleSchedule : public Schedule {
 public:
  enum class Anneal { kCos, kLinear };
  OneCycleSchedule(int64_t total_steps, double pct_start = 0.3, double div_factor = 25.0,
                   double final_div_factor = 1e4, Anneal anneal = Anneal::kCos);
  double factor(int64_t t) const override;
  std::string describe() const override;

 private:
  int64_t total_;
  double pct_start_, initial_, final_;
  Anneal anneal_;
};

// Linear warmup from start_factor over W steps, then `then` shifted by W: factor(t) = then(t - W).
class WarmupThen : public Schedule {
 public:
  WarmupThen(int64_t warmup_steps, double start_factor, std::shared_ptr<const Schedule> then);
  double factor(int64_t t) const override;
  std::string describe() const override;

 private:
  LinearWarmup warmup_;
  int64_t warmup_steps_;
  std::shared_ptr<const Schedule> then_;
};

// Builds a schedule from a CLI spec, `total_steps` being the whole run:
//   "constant" | "cosine" | "cosine:MIN" | "poly" | "poly:POWER" | "step:SIZE:GAMMA" |
//   "onecycle" | "onecycle:PCT" | "linear" (poly power 1)  — optionally prefixed by
//   "warmup:W+" (e.g. "warmup:500+cosine"); the warmed-up schedule then spans total_steps - W.
// Throws tg::Error naming the spec and the accepted forms.
std::shared_ptr<const Schedule> parse_schedule(const std::string& spec, int64_t total_steps);

}  // namespace tg::optim
