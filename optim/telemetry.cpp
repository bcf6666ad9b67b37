// Trust-ratio telemetry: summaries and the JSONL / CSV writers.
#include "optim/telemetry.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>

#include "engine/error.h"

namespace tg::optim {

namespace {

bool any_nan(const std::vector<double>& v) {
  return std::any_of(v.begin(), v.end(), [](double x) { return std::isnan(x); });
}

// min, median, max of v (non-empty); all three NaN when any value is NaN, as NumPy's np.min /
// np.median / np.max. (NaN compares false both ways: std::sort and min_element gave results that
// depended on the records' order, and sort's precondition was broken.)
void min_median_max(std::vector<double> v, double& lo, double& median, double& hi) {
  if (any_nan(v)) {
    lo = median = hi = std::nan("");
    return;
  }
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  lo = v.front();
  hi = v.back();
  median = n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Shortest text that reads back to the same double; JSON has no NaN/Inf, so those become null.
std::string num(double x, bool json) {
  if (!std::isfinite(x)) return json ? "null" : (std::isnan(x) ? "nan" : (x > 0 ? "inf" : "-inf"));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// CSV field: quoted only when it holds a separator, a quote or a newline.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += (c == '"') ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

TrustRatioSummary summarize_trust_ratios(const std::vector<TrustRatioRecord>& records) {
  TrustRatioSummary s;
  s.count = records.size();
  if (records.empty()) return s;
  std::vector<double> applied, raw;
  size_t clipped = 0;
  for (const auto& r : records) {
    applied.push_back(r.applied_ratio);
    raw.push_back(r.raw_ratio);
    clipped += r.clipped ? 1 : 0;
  }
  s.step = records.front().step;
  min_median_max(applied, s.min, s.median, s.max);
  min_median_max(raw, s.raw_min, s.raw_median, s.raw_max);
  s.clipped_fraction = static_cast<double>(clipped) / static_cast<double>(records.size());
  return s;
}

void write_jsonl(std::ostream& out, const std::vector<TrustRatioRecord>& records) {
  for (const auto& r : records) {
    out << "{\"step\":" << r.step << ",\"name\":" << json_string(r.name) << ",\"w_norm\":" << num(r.w_norm, true)
        << ",\"u_norm\":" << num(r.u_norm, true) << ",\"raw_ratio\":" << num(r.raw_ratio, true)
        << ",\"applied_ratio\":" << num(r.applied_ratio, true) << ",\"clipped\":" << (r.clipped ? "true" : "false")
        << "}\n";
  }
}

void write_jsonl(std::ostream& out, const TrustRatioSummary& s) {
  out << "{\"step\":" << s.step << ",\"count\":" << s.count << ",\"min\":" << num(s.min, true)
      << ",\"median\":" << num(s.median, true) << ",\"max\":" << num(s.max, true)
      << ",\"raw_min\":" << num(s.raw_min, true) << ",\"raw_median\":" << num(s.raw_median, true)
      << ",\"raw_max\":" << num(s.raw_max, true) << ",\"clipped_fraction\":" << num(s.clipped_fraction, true)
      << "}\n";
}

void write_csv_header(std::ostream& out) { out << "step,name,w_norm,u_norm,raw_ratio,applied_ratio,clipped\n"; }

void write_csv(std::ostream& out, const std::vector<TrustRatioRecord>& records) {
  for (const auto& r : records) {
    out << r.step << ',' << csv_field(r.name) << ',' << num(r.w_norm, false) << ',' << num(r.u_norm, false) << ','
        << num(r.raw_ratio, false) << ',' << num(r.applied_ratio, false) << ',' << (r.clipped ? 1 : 0) << '\n';
  }
}

void write_summary_csv_header(std::ostream& out) {
  out << "step,count,min,median,max,raw_min,raw_median,raw_max,clipped_fraction\n";
}

void write_csv(std::ostream& out, const TrustRatioSummary& s) {
  out << s.step << ',' << s.count << ',' << num(s.min, false) << ',' << num(s.median, false) << ','
      << num(s.max, false) << ',' << num(s.raw_min, false) << ',' << num(s.raw_median, false) << ','
      << num(s.raw_max, false) << ',' << num(s.clipped_fraction, false) << '\n';
}

TrustRatioLog::TrustRatioLog(const std::string& path, Format format, bool summaries_only)
    : path_(path), format_(format), summaries_only_(summaries_only), out_(path, std::ios::out | std::ios::trunc) {
  if (!out_) throw IOError("TrustRatioLog: cannot open '" + path + "' for writing");
  if (format_ == Format::kCsv) {
    if (summaries_only_) {
      write_summary_csv_header(out_);
    } else {
      write_csv_header(out_);
    }
  }
}

void TrustRatioLog::append(const std::vector<TrustRatioRecord>& records) {
  if (summaries_only_) {
    if (records.empty()) return;
    const TrustRatioSummary s = summarize_trust_ratios(records);
    format_ == Format::kJsonl ? write_jsonl(out_, s) : write_csv(out_, s);
  } else {
    format_ == Format::kJsonl ? write_jsonl(out_, records) : write_csv(out_, records);
  }
  if (!out_) throw IOError("TrustRatioLog: write to '" + path_ + "' failed");
}

void TrustRatioLog::flush() {
  out_.flush();
  if (!out_) throw IOError("TrustRatioLog: flush of '" + path_ + "' failed");
}

}  // namespace tg::optim
