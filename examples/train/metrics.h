// Metrics files of a run: one JSON object per line (.jsonl) and the same rows as CSV, appended
// step by step (buffered, written with checked writes at each flush); plus trimming both back to
// a checkpoint's position when a run resumes, so a resumed run's logs equal an uninterrupted run's.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "examples/train/output_files.h"

namespace tg::train {

using Record = nlohmann::ordered_json;  // keys keep their insertion order (CSV column order)

class MetricsLog {
 public:
  // Opens <base>.jsonl and <base>.csv for appending (creating them). `columns` fixes the CSV
  // header, written only when the CSV file is empty; a CSV that exists keeps its own header's
  // columns (a run resumed by a newer version). "step" should come first. `faults`: test hook.
  MetricsLog(const std::string& base, std::vector<std::string> columns, WriteFaults* faults = nullptr);
  void append(const Record& r);  // missing columns are empty cells; non-finite numbers -> null / empty
  void flush();                  // throws IOError naming the file that could not be written
  const std::string& jsonl_path() const { return jsonl_->path(); }
  const std::string& csv_path() const { return csv_->path(); }

 private:
  std::vector<std::string> columns_;
  std::unique_ptr<AppendFile> jsonl_, csv_;
};

// Keeps only the complete rows whose `key` is <= `limit` (JSONL: that key of each object; CSV:
// column `column`, the header kept). A last line without its newline (torn by a kill) and lines
// that do not parse are dropped. Used on resume so rows logged after the checkpoint are not
// duplicated. Missing files are ignored; the rewrite is atomic.
void truncate_jsonl_after(const std::string& path, const std::string& key, int64_t limit);
void truncate_csv_after(const std::string& path, size_t column, int64_t limit);

// Reads every line of a JSONL file that parses as an object; bad lines are skipped.
std::vector<nlohmann::json> read_jsonl(const std::string& path);

}  // namespace tg::train
