// MetricsLog (JSONL + CSV appenders) and the resume-time trimming of metrics files.
#include "examples/train/metrics.h"

#include <cmath>
#include <filesystem>
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

// Rewrites `path` keeping the lines for which keep(line, index) is true.
template <class Keep>
void filter_lines(const std::string& path, Keep keep) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return;
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  size_t index = 0;
  while (std::getline(in, line)) {
    if (keep(line, index++)) lines.push_back(line);
  }
  in.close();
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) throw IOError("cannot rewrite metrics file '" + path + "'");
    for (const auto& l : lines) out << l << "\n";
  }
  fs::rename(tmp, path, ec);
  if (ec) throw IOError("cannot replace metrics file '" + path + "': " + ec.message());
}

}  // namespace

MetricsLog::MetricsLog(const std::string& base, std::vector<std::string> columns)
    : jsonl_path_(base + ".jsonl"), csv_path_(base + ".csv"), columns_(std::move(columns)) {
  std::error_code ec;
  const bool csv_empty = !fs::exists(csv_path_, ec) || fs::file_size(csv_path_, ec) == 0;
  jsonl_.open(jsonl_path_, std::ios::app);
  csv_.open(csv_path_, std::ios::app);
  if (!jsonl_ || !csv_) throw IOError("cannot open metrics file '" + (jsonl_ ? csv_path_ : jsonl_path_) + "' for writing");
  if (csv_empty) {
    for (size_t i = 0; i < columns_.size(); ++i) csv_ << (i ? "," : "") << columns_[i];
    csv_ << "\n";
  }
}

void MetricsLog::append(const Record& r) {
  jsonl_ << r.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  for (size_t i = 0; i < columns_.size(); ++i) {
    auto it = r.find(columns_[i]);
    csv_ << (i ? "," : "") << (it == r.end() ? std::string() : csv_cell(*it));
  }
  csv_ << "\n";
}

void MetricsLog::flush() {
  jsonl_.flush();
  csv_.flush();
}

void truncate_jsonl_after_step(const std::string& path, int64_t step) {
  filter_lines(path, [step](const std::string& line, size_t) {
    try {
      const auto j = nlohmann::json::parse(line);
      return !(j.contains("step") && j["step"].is_number() && j["step"].get<int64_t>() > step);
    } catch (const std::exception&) {
      return false;  // a torn last line from a crash
    }
  });
}

void truncate_csv_after_step(const std::string& path, int64_t step) {
  filter_lines(path, [step](const std::string& line, size_t index) {
    if (index == 0) return true;  // header
    try {
      return std::stoll(line.substr(0, line.find(','))) <= step;
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
