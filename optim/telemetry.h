// Trust-ratio telemetry: for every adapted tensor of a step, ||w||, ||u||, the raw and the applied
// (clipped) ratio; per-step summaries; JSONL and CSV writers for the training program.
#pragma once
#include <cstdint>
#include <fstream>
#include <iosfwd>
#include <string>
#include <vector>

namespace tg::optim {

// One adapted tensor in one step. LAMB family: u is the Adam direction (with the L2 term when the
// weight decay is inside the update), raw_ratio = ||w||/||u|| (1 when either is 0) and
// applied_ratio = clamp(raw_ratio, clip_min, clip_max). LARS: u_norm = ||g|| + wd*||w|| (the LARS
// denominator), raw_ratio = tc*||w||/(u_norm + eps), divided by lr under LARC clipping.
struct TrustRatioRecord {
  int64_t step = 0;  // 1-based step that produced it
  std::string name;
  double w_norm = 0.0;
  double u_norm = 0.0;
  double raw_ratio = 1.0;
  double applied_ratio = 1.0;
  bool clipped = false;  // applied_ratio != raw_ratio
};

// Order statistics of one step's records (all zero when there are none).
struct TrustRatioSummary {
  int64_t step = 0;
  size_t count = 0;
  double min = 0.0, median = 0.0, max = 0.0;              // of applied_ratio
  double raw_min = 0.0, raw_median = 0.0, raw_max = 0.0;  // of raw_ratio
  double clipped_fraction = 0.0;                          // clipped tensors / count
};

// Median is the mean of the two middle values for an even count (NumPy's convention); as in NumPy,
// min, median and max are NaN when any ratio of theirs is NaN (LARS / LARC: an Inf weight with
// weight decay > 0).
TrustRatioSummary summarize_trust_ratios(const std::vector<TrustRatioRecord>& records);

// One JSON object per line: {"step":3,"name":"conv1.weight","w_norm":..,"u_norm":..,
// "raw_ratio":..,"applied_ratio":..,"clipped":true}. Non-finite numbers are written as null.
void write_jsonl(std::ostream& out, const std::vector<TrustRatioRecord>& records);
void write_jsonl(std::ostream& out, const TrustRatioSummary& summary);

// CSV with the header step,name,w_norm,u_norm,raw_ratio,applied_ratio,clipped (clipped as 0/1).
void write_csv_header(std::ostream& out);
void write_csv(std::ostream& out, const std::vector<TrustRatioRecord>& records);
void write_summary_csv_header(std::ostream& out);
void write_csv(std::ostream& out, const TrustRatioSummary& summary);

// Appends records (or only summaries) to a file, one step at a time.
class TrustRatioLog {
 public:
  enum class Format { kJsonl, kCsv };
  // Throws tg::IOError naming the path when it cannot be opened. Truncates an existing file.
  TrustRatioLog(const std::string& path, Format format, bool summaries_only = false);
  void append(const std::vector<TrustRatioRecord>& records);  // writes records or their summary
  void flush();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  Format format_;
  bool summaries_only_;
  std::ofstream out_;
};

}  // namespace tg::optim
