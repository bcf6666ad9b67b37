// The run report: one self-contained HTML file (inline SVG, inline CSS, a few lines of inline
// script that only self-check the rendering; nothing fetched) built from a run directory's files.
// Charts (svg ids): chart-loss, chart-accuracy, chart-lr, chart-trust-raw, chart-trust-applied,
// chart-trust-summary, chart-clipped.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tg::train {

// What the report draws; read_run() fills it from config.json, summary.json, metrics_steps.jsonl,
// metrics_epochs.jsonl and trust_ratios.jsonl (each optional).
struct RunData {
  std::string name;
  nlohmann::json config = nlohmann::json::object();
  nlohmann::json summary = nlohmann::json::object();
  std::vector<nlohmann::json> steps, epochs, trust;
};

RunData read_run(const std::string& run_dir);

// The ids of the charts every report contains, in page order.
std::vector<std::string> report_chart_ids();

std::string render_report_html(const RunData& run);

// Writes <run_dir>/report.html (atomically) and returns its path.
std::string write_report(const std::string& run_dir);

}  // namespace tg::train
