// MetricsLog (JSONL + CSV appenders) and the resume-time trimming of metrics files.
#include "examples/train/metrics.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/error.h"

namespace tg::train {

namespace fs = std::filesystem;

namespace {

std::string csv_cell(const Record& v) {
  if (v.is_null()) return "";
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d)) return "";
    std::ostringstream s;
    s.precision(9);
    s << d;
    return s.str();
  }
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return q + "\"";
  }
  if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
  return v.dump();
}

// Rewrites `path` keeping the complete lines for which keep(line, index) is true.
template <class Keep>
void filter_lines(const std::string& path, Keep keep) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return;
  std::ifstream in(path, std::ios::binary);
  std::ostringstream all;
  all << in.rdbuf();
  const std::string text = all.str();
  std::string kept;
  size_t begin = 0, index = 0;
  for (size_t nl = text.find('\n'); nl != std::string::npos; begin = nl + 1, nl = text.find('\n', begin)) {
    const std::string line = text.substr(begin, nl - begin);  // the torn tail after the last '\n' never gets here
    if (keep(line, index++)) kept += line + "\n";
  }
  if (kept != text) write_file_atomic(path, kept);
}

// The n-th comma-separated cell of a CSV line (our numeric columns hold no quoted commas).
std::string csv_field(const std::string& line, size_t n) {
  size_t begin = 0;
  for (size_t i = 0; i < n; ++i) {
    begin = line.find(',', begin);
    if (begin == std::string::npos) return "";
    ++begin;
  }
  return line.substr(begin, line.find(',', begin) - begin);
}

}  // namespace

MetricsLog::MetricsLog(const std::string& base, std::vector<std::string> columns, WriteFaults* faults)
    : columns_(std::move(columns)),
      jsonl_(std::make_unique<AppendFile>(base + ".jsonl", faults)),
      csv_(std::make_unique<AppendFile>(base + ".csv", faults)) {
  if (csv_->empty_on_disk()) {
    std::string header;
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (i > 0) header += ',';
      header += columns_[i];
    }
    csv_->append(header + "\n");
    return;
  }
  // A resumed run keeps the columns its file was started with (a run begun by an older version
  // may lack newer ones, which then go to the JSONL only), so every row matches the header.
  std::ifstream in(base + ".csv");
  std::string header;
  if (std::getline(in, header) && !header.empty()) {
    std::vector<std::string> existing;
    std::istringstream cells(header);
    for (std::string cell; std::getline(cells, cell, ',');) existing.push_back(cell);
    columns_ = std::move(existing);
  }
}

void MetricsLog::append(const Record& r) {
  jsonl_->append(r.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n");
  std::string row;
  for (size_t i = 0; i < columns_.size(); ++i) {
    auto it = r.find(columns_[i]);
    if (i > 0) row += ',';
    if (it != r.end()) row += csv_cell(*it);
  }
  csv_->append(row + "\n");
}

void MetricsLog::flush() {
  jsonl_->flush();
  csv_->flush();
}

void truncate_jsonl_after(const std::string& path, const std::string& key, int64_t limit) {
  filter_lines(path, [&](const std::string& line, size_t) {
    try {
      const auto j = nlohmann::json::parse(line);
      return j.is_object() && j.contains(key) && j[key].is_number() && j[key].get<double>() <= static_cast<double>(limit);
    } catch (const std::exception&) {
      return false;
    }
  });
}

void truncate_csv_after(const std::string& path, size_t column, int64_t limit) {
  filter_lines(path, [&](const std::string& line, size_t index) {
    if (index == 0) return true;  // header
    try {
      size_t used = 0;
      const std::string cell = csv_field(line, column);
      const double v = std::stod(cell, &used);
      return used == cell.size() && v <= static_cast<double>(limit);
    } catch (const std::exception&) {
      return false;
    }
  });
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      auto j = nlohmann::json::parse(line);
      if (j.is_object()) out.push_back(std::move(j));
    } catch (const std::exception&) {
    }
  }
  return out;
}

}  // namespace tg::train
