// Learning-rate schedules (closed forms, see schedule.h), and the CLI spec parser.
#include "optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <sstream>
#include <vector>

#include "engine/error.h"

namespace tg::optim {

double ConstantSchedule::factor(int64_t) const { return 1.0; }
std::string ConstantSchedule::describe() const { return "constant"; }

LinearWarmup::LinearWarmup(int64_t warmup_steps, double start_factor) : warmup_(warmup_steps), start_(start_factor) {
  TG_CHECK(warmup_steps >= 0, "LinearWarmup: warmup_steps must be >= 0, got " << warmup_steps);
  TG_CHECK(start_factor >= 0.0 && start_factor <= 1.0, "LinearWarmup: start_factor must be in [0, 1], got " << start_factor);
}

double LinearWarmup::factor(int64_t t) const {
  if (warmup_ == 0 || t >= warmup_) return 1.0;
  // factor = start + (1 - start) * t / W
  return start_ + (1.0 - start_) * static_cast<double>(std::max<int64_t>(t, 0)) / static_cast<double>(warmup_);
}

std::string LinearWarmup::describe() const {
  std::ostringstream s;
  s << "linear_warmup(steps=" << warmup_ << ", start=" << start_ << ")";
  return s.str();
}

CosineSchedule::CosineSchedule(int64_t total_steps, double min_factor) : total_(total_steps), min_(min_factor) {
  TG_CHECK(total_steps >= 1, "CosineSchedule: total_steps must be >= 1, got " << total_steps);
  // NaN fails the comparisons, so it is refused too.
  TG_CHECK(min_factor >= 0.0 && min_factor <= 1.0, "CosineSchedule: min_factor must be in [0, 1], got " << min_factor);
}

double CosineSchedule::factor(int64_t t) const {
  if (t >= total_) return min_;
  // factor = min + (1 - min) * (1 + cos(pi t / T)) / 2
  const double p = static_cast<double>(std::max<int64_t>(t, 0)) / static_cast<double>(total_);
  return min_ + (1.0 - min_) * 0.5 * (1.0 + std::cos(std::numbers::pi * p));
}

std::string CosineSchedule::describe() const {
  std::ostringstream s;
  s << "cosine(total=" << total_ << ", min=" << min_ << ")";
  return s.str();
}

PolynomialSchedule::PolynomialSchedule(int64_t total_steps, double power, double end_factor)
    : total_(total_steps), power_(power), end_(end_factor) {
  TG_CHECK(total_steps >= 1, "PolynomialSchedule: total_steps must be >= 1, got " << total_steps);
  TG_CHECK(std::isfinite(power) && power > 0.0, "PolynomialSchedule: power must be finite and > 0, got " << power);
  TG_CHECK(end_factor >= 0.0 && end_factor <= 1.0, "PolynomialSchedule: end_factor must be in [0, 1], got " << end_factor);
}

double PolynomialSchedule::factor(int64_t t) const {
  // factor = end + (1 - end) * (1 - min(t, T) / T)^power
  const double p = static_cast<double>(std::clamp<int64_t>(t, 0, total_)) / static_cast<double>(total_);
  return end_ + (1.0 - end_) * std::pow(1.0 - p, power_);
}

std::string PolynomialSchedule::describe() const {
  std::ostringstream s;
  s << "poly(total=" << total_ << ", power=" << power_ << ", end=" << end_ << ")";
  return s.str();
}

StepSchedule::StepSchedule(int64_t step_size, double gamma) : step_size_(step_size), gamma_(gamma) {
  TG_CHECK(step_size >= 1, "StepSchedule: step_size must be >= 1, got " << step_size);
  // A decay: gamma > 1 grows the lr geometrically (1e300 reaches Inf in two steps).
  TG_CHECK(gamma > 0.0 && gamma <= 1.0, "StepSchedule: gamma must be in (0, 1], got " << gamma);
}

double StepSchedule::factor(int64_t t) const {
  // factor = gamma ^ floor(t / step_size)
  return std::pow(gamma_, static_cast<double>(std::max<int64_t>(t, 0) / step_size_));
}

std::string StepSchedule::describe() const {
  std::ostringstream s;
  s << "step(size=" << step_size_ << ", gamma=" << gamma_ << ")";
  return s.str();
}

OneCycleSchedule::OneCycleSchedule(int64_t total_steps, double pct_start, double div_factor, double final_div_factor,
                                   Anneal anneal)
    : total_(total_steps), pct_start_(pct_start), initial_(1.0 / div_factor), final_(1.0 / div_factor / final_div_factor),
      anneal_(anneal) {
  TG_CHECK(total_steps >= 2, "OneCycleSchedule: total_steps must be >= 2, got " << total_steps);
  TG_CHECK(pct_start > 0.0 && pct_start < 1.0, "OneCycleSchedule: pct_start must be in (0, 1), got " << pct_start);
  TG_CHECK(std::isfinite(div_factor) && div_factor > 0.0 && std::isfinite(final_div_factor) && final_div_factor > 0.0,
           "OneCycleSchedule: div_factor and final_div_factor must be finite and > 0, got " << div_factor << " and "
                                                                                            << final_div_factor);
  const double peak = pct_start * static_cast<double>(total_steps) - 1.0;
  TG_CHECK(peak > 0.0 && peak < static_cast<double>(total_steps - 1),
           "OneCycleSchedule: pct_start * total_steps - 1 = " << peak << " must lie strictly inside (0, "
                                                              << total_steps - 1 << ")");
}

double OneCycleSchedule::factor(int64_t t) const {
  auto anneal = [this](double start, double end, double p) {
    return anneal_ == Anneal::kCos ? end + (start - end) * 0.5 * (1.0 + std::cos(std::numbers::pi * p))
                                   : start + (end - start) * p;
  };
  const double peak = pct_start_ * static_cast<double>(total_) - 1.0;  // end of phase 1 (torch's end_step)
  const double last = static_cast<double>(total_ - 1);
  const double s = static_cast<double>(std::clamp<int64_t>(t, 0, total_ - 1));
  if (s <= peak) return anneal(initial_, 1.0, s / peak);
  return anneal(1.0, final_, (s - peak) / (last - peak));
}

std::string OneCycleSchedule::describe() const {
  std::ostringstream s;
  s << "onecycle(total=" << total_ << ", pct_start=" << pct_start_ << ", initial=" << initial_ << ", final=" << final_
    << ", " << (anneal_ == Anneal::kCos ? "cos" : "linear") << ")";
  return s.str();
}

WarmupThen::WarmupThen(int64_t warmup_steps, double start_factor, std::shared_ptr<const Schedule> then)
    : warmup_(warmup_steps, start_factor), warmup_steps_(warmup_steps), then_(std::move(then)) {
  TG_CHECK(then_ != nullptr, "WarmupThen: the schedule after warmup is null");
}

double WarmupThen::factor(int64_t t) const {
  return t < warmup_steps_ ? warmup_.factor(t) : then_->factor(t - warmup_steps_);
}

std::string WarmupThen::describe() const { return warmup_.describe() + " + " + then_->describe(); }

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) parts.push_back(cur);
  if (!s.empty() && s.back() == sep) parts.emplace_back();
  return parts;
}

double to_number(const std::string& text, const std::string& spec) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw Error("parse_schedule: '" + text + "' in '" + spec + "' is not a number");
}

// A step count (warmup, step size): to_number, then refused unless finite and within int64's range,
// since converting anything else to int64_t is undefined (fuzz_config found "step:2e85:0.1").
int64_t to_steps(const std::string& text, const std::string& spec) {
  const double v = to_number(text, spec);
  if (!(std::isfinite(v) && std::fabs(v) < 9.2e18))
    throw Error("parse_schedule: '" + text + "' in '" + spec + "' is not a usable number of steps");
  return static_cast<int64_t>(v);
}

constexpr const char* kForms =
    "constant | cosine[:MIN] | poly[:POWER] | linear | step:SIZE:GAMMA | onecycle[:PCT], optionally prefixed by "
    "warmup:W+";

}  // namespace

std::shared_ptr<const Schedule> parse_schedule(const std::string& spec, int64_t total_steps) {
  TG_CHECK(total_steps >= 1, "parse_schedule: total_steps must be >= 1, got " << total_steps);
  std::string body = spec;
  int64_t warmup = 0;
  if (body.rfind("warmup:", 0) == 0) {
    const size_t plus = body.find('+');
    TG_CHECK(plus != std::string::npos, "parse_schedule: '" << spec << "' has warmup but no '+SCHEDULE'; forms: " << kForms);
    warmup = to_steps(body.substr(7, plus - 7), spec);
    TG_CHECK(warmup >= 0 && warmup < total_steps,
             "parse_schedule: warmup " << warmup << " must be in [0, total_steps=" << total_steps << ")");
    body = body.substr(plus + 1);
  }
  const int64_t rest = total_steps - warmup;
  const std::vector<std::string> p = split(body, ':');
  const std::string kind = p.empty() ? "" : p[0];
  std::shared_ptr<const Schedule> s;
  if (kind == "constant" && p.size() == 1) {
    s = std::make_shared<ConstantSchedule>();
  } else if (kind == "cosine" && p.size() <= 2) {
    s = std::make_shared<CosineSchedule>(rest, p.size() == 2 ? to_number(p[1], spec) : 0.0);
  } else if (kind == "poly" && p.size() <= 2) {
    s = std::make_shared<PolynomialSchedule>(rest, p.size() == 2 ? to_number(p[1], spec) : 2.0);
  } else if (kind == "linear" && p.size() == 1) {
    s = std::make_shared<PolynomialSchedule>(rest, 1.0);
  } else if (kind == "step" && p.size() == 3) {
    s = std::make_shared<StepSchedule>(to_steps(p[1], spec), to_number(p[2], spec));
  } else if (kind == "onecycle" && p.size() <= 2) {
    s = std::make_shared<OneCycleSchedule>(rest, p.size() == 2 ? to_number(p[1], spec) : 0.3);
  } else {
    throw Error("parse_schedule: unknown schedule '" + spec + "'; forms: " + kForms);
  }
  if (warmup > 0) return std::make_shared<WarmupThen>(warmup, 0.0, s);
  return s;
}

}  // namespace tg::optim
