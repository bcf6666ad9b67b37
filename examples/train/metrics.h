// Metrics files of a run: one JSON object per line (.jsonl) and the same rows as CSV, appended
// step by step; plus trimming both back to a step when a run resumes from a checkpoint.
#pragma once
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tg::train {

using Record = nlohmann::ordered_json;  // keys keep their insertion order (CSV column order)

class MetricsLog {
 public:
  // Opens <base>.jsonl and <base>.csv for appending (creating them). `columns` fixes the CSV
  // header, written only when the CSV file is empty; "step" should come first.
  MetricsLog(const std::string& base, std::vector<std::string> columns);
  void append(const Record& r);  // missing columns are empty cells; non-finite numbers -> null / empty
  void flush();
  const std::string& jsonl_path() const { return jsonl_path_; }
  const std::string& csv_path() const { return csv_path_; }

 private:
  std::string jsonl_path_, csv_path_;
  std::vector<std::string> columns_;
  std::ofstream jsonl_, csv_;
};

// Keeps only the rows whose "step" is <= `step` (JSONL: the "step" key; CSV: the first column,
// the header kept). Used on resume so rows logged after the checkpoint are not duplicated.
// Missing files are ignored.
void truncate_jsonl_after_step(const std::string& path, int64_t step);
void truncate_csv_after_step(const std::string& path, int64_t step);

// Reads every line of a JSONL file that parses as an object; bad lines are skipped.
std::vector<nlohmann::json> read_jsonl(const std::string& path);

}  // namespace tg::train
