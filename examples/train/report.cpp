// render_report_html: run files -> series -> inline SVG charts + summary tables (see report.h).
#include "examples/train/report.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "engine/error.h"
#include "examples/train/output_files.h"
#include "examples/train/metrics.h"
#include "examples/train/svg_chart.h"

namespace tg::train {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

double field_num(const json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_number()) return std::nan("");
  return j[key].get<double>();
}

json read_json_file(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return json::object();
  try {
    json j;
    in >> j;
    return j;
  } catch (const std::exception&) {
    return json::object();
  }
}

// Series y = key over x = "step" (or another x key) of the records that have both.
Series series_of(const std::vector<json>& recs, const char* x_key, const char* y_key, const std::string& name,
                 double scale = 1.0) {
  Series s;
  s.name = name;
  for (const auto& r : recs) {
    const double x = field_num(r, x_key), y = field_num(r, y_key);
    if (std::isfinite(x) && std::isfinite(y)) {
      s.x.push_back(x);
      s.y.push_back(y * scale);
    }
  }
  return s;
}

// Exponential moving average, bias-corrected like TensorBoard's smoothing.
Series smoothed(const Series& in, double beta, const std::string& name) {
  Series s = in;
  s.name = name;
  double m = 0;
  for (size_t i = 0; i < s.y.size(); ++i) {
    m = beta * m + (1 - beta) * in.y[i];
    s.y[i] = m / (1 - std::pow(beta, static_cast<double>(i + 1)));
  }
  return s;
}

std::string fmt_value(double v, const char* f = "%.4g") {
  if (!std::isfinite(v)) return "n/a";
  char buf[48];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

std::string fmt_pct(const json& j, const char* key) {
  const double v = field_num(j, key);
  return std::isfinite(v) && v >= 0 ? fmt_value(100 * v, "%.2f%%") : "n/a";
}

constexpr const char* kCss = R"(
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1000px;color:#222}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0} td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f6f6f6} .kv td:first-child{font-family:monospace;color:#555} .muted{color:#777;font-size:13px}
.big{font-size:20px;font-weight:bold} svg.chart{display:block;margin:10px 0;border:1px solid #eee}
.cards{display:flex;gap:16px;flex-wrap:wrap} .card{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:150px}
)";

// Verifies in the browser that every chart laid out with a non-empty box and drawn lines, and
// records the count on <body data-charts-rendered="N"> (read back by the headless render test).
constexpr const char* kSelfCheck = R"(
(function(){var n=0,svgs=document.querySelectorAll('svg.chart');
for(var i=0;i<svgs.length;i++){var b=svgs[i].getBoundingClientRect();
 if(b.width>0&&b.height>0&&svgs[i].querySelectorAll('polyline,text.empty').length>0)n++;}
document.body.setAttribute('data-charts-rendered',String(n));
document.body.setAttribute('data-charts-total',String(svgs.length));})();
)";

}  // namespace

std::vector<std::string> report_chart_ids() {
  return {"chart-loss", "chart-accuracy", "chart-lr", "chart-grad-norm", "chart-trust-raw", "chart-trust-applied",
          "chart-trust-summary", "chart-clipped"};
}

RunData read_run(const std::string& run_dir) {
  const fs::path d(run_dir);
  RunData r;
  r.name = d.filename().string();
  if (r.name.empty()) r.name = d.parent_path().filename().string();
  r.config = read_json_file(d / "config.json");
  r.summary = read_json_file(d / "summary.json");
  r.steps = read_jsonl((d / "metrics_steps.jsonl").string());
  r.epochs = read_jsonl((d / "metrics_epochs.jsonl").string());
  r.trust = read_jsonl((d / "trust_ratios.jsonl").string());
  return r;
}

std::string render_report_html(const RunData& run) {
  const std::string opt = run.config.value("optimizer", std::string("?"));
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>trustgrad run " << xml_escape(run.name)
    << "</title>\n<style>" << kCss << "</style></head>\n<body>\n";
  h << "<h1>trustgrad training report: " << xml_escape(run.name) << "</h1>\n";
  h << "<p class=\"muted\">" << xml_escape(run.config.value("dataset", std::string("?"))) << " &middot; model "
    << xml_escape(run.config.value("model", std::string("?"))) << " &middot; optimizer " << xml_escape(opt)
    << " &middot; self-contained file: inline SVG, nothing is fetched.</p>\n";

  // ---- summary cards ----
  const json& s = run.summary;
  h << "<div class=\"cards\">";
  h << "<div class=\"card\">final test accuracy<div class=\"big\" id=\"final-acc\">" << fmt_pct(s, "final_test_acc") << "</div></div>";
  h << "<div class=\"card\">best test accuracy<div class=\"big\">" << fmt_pct(s, "best_test_acc") << "</div>epoch "
    << fmt_value(field_num(s, "best_epoch"), "%.0f") << "</div>";
  h << "<div class=\"card\">wall time<div class=\"big\">" << fmt_value(field_num(s, "wall_s"), "%.1f") << " s</div>"
    << fmt_value(field_num(s, "steps"), "%.0f") << " steps</div>";
  h << "<div class=\"card\">throughput<div class=\"big\">" << fmt_value(field_num(s, "images_per_s"), "%.0f") << " img/s</div>"
    << fmt_value(field_num(s, "threads"), "%.0f") << " threads</div>";
  if (s.value("interrupted", false)) h << "<div class=\"card\">status<div class=\"big\">interrupted</div>resume with --resume</div>";
  h << "</div>\n";

  // ---- loss, accuracy, lr ----
  h << "<h2>Loss and accuracy</h2>\n";
  {
    Series raw = series_of(run.steps, "step", "loss", "train loss (per step)");
    raw.opacity = 0.3;
    raw.width = 1;
    raw.color = "#1f77b4";
    Series ema = smoothed(raw, 0.9, "train loss (EMA 0.9)");
    ema.opacity = 1;
    ema.width = 1.8;
    Series test = series_of(run.epochs, "step", "test_loss", "test loss (per epoch)");
    test.color = "#d62728";
    test.markers = true;
    h << render_line_chart({"chart-loss", "Loss", "step", "cross-entropy"}, {raw, ema, test});
  }
  {
    Series tr = smoothed(series_of(run.steps, "step", "acc", "", 100), 0.9, "train accuracy (per step, EMA 0.9)");
    tr.color = "#1f77b4";
    Series tre = series_of(run.epochs, "step", "train_acc", "train accuracy (epoch mean)", 100);
    tre.color = "#2ca02c";
    tre.markers = true;
    tre.dashed = true;
    Series te = series_of(run.epochs, "step", "test_acc", "test accuracy", 100);
    te.color = "#d62728";
    te.markers = true;
    h << render_line_chart({"chart-accuracy", "Accuracy", "step", "accuracy (%)"}, {tr, tre, te});
  }
  {
    Series lr = series_of(run.steps, "step", "lr", "learning rate");
    lr.color = "#9467bd";
    h << render_line_chart({"chart-lr", "Learning-rate schedule", "step", "lr"}, {lr});
  }
  {
    Series g = series_of(run.steps, "step", "grad_norm", "||G||");
    g.color = "#8c564b";
    ChartSpec spec{"chart-grad-norm", "Global gradient norm ||G|| (before --max-grad-norm's clip)", "step", "||G||", true};
    spec.empty_note = "no grad_norm in metrics_steps (a run of an older version)";
    h << render_line_chart(spec, {g});
  }

  // ---- trust ratios ----
  h << "<h2>Layer-wise trust ratios</h2>\n<p class=\"muted\">One line per parameter tensor (hover a line for its "
       "name). Raw ratio r = ||w|| / ||u||; applied ratio = the ratio after clipping, clamp(r, clip_min, clip_max), "
       "which scales the tensor's update.";
  if (run.config.contains("clip_max")) h << " Clip bounds: [" << xml_escape(run.config["clip_min"].dump()) << ", "
                                         << xml_escape(run.config["clip_max"].dump()) << "].";
  h << "</p>\n";
  std::map<std::string, std::pair<Series, Series>> layers;  // name -> (raw, applied)
  std::vector<std::string> order;
  for (const auto& r : run.trust) {
    if (!r.contains("name") || !r["name"].is_string()) continue;
    const std::string name = r["name"].get<std::string>();
    auto it = layers.find(name);
    if (it == layers.end()) {
      order.push_back(name);
      it = layers.emplace(name, std::make_pair(Series{}, Series{})).first;
      it->second.first.name = it->second.second.name = name;
    }
    const double step = field_num(r, "step"), raw = field_num(r, "raw_ratio"), app = field_num(r, "applied_ratio");
    it->second.first.x.push_back(step);
    it->second.first.y.push_back(raw);
    it->second.second.x.push_back(step);
    it->second.second.y.push_back(app);
  }
  std::vector<Series> raw_lines, app_lines;
  for (const auto& n : order) {
    raw_lines.push_back(layers[n].first);
    app_lines.push_back(layers[n].second);
  }
  const std::string note = "no trust-ratio telemetry (optimizer " + opt + " has no layer adaptation)";
  ChartSpec raw_spec{"chart-trust-raw", "Raw trust ratio per layer", "step", "||w|| / ||u||", true};
  raw_spec.empty_note = note;
  ChartSpec app_spec{"chart-trust-applied", "Applied (clipped) trust ratio per layer", "step", "applied ratio", true};
  app_spec.empty_note = note;
  h << render_line_chart(raw_spec, raw_lines) << render_line_chart(app_spec, app_lines);
  {
    Series rmed = series_of(run.steps, "step", "tr_raw_median", "raw median");
    rmed.color = "#1f77b4";
    Series rmin = series_of(run.steps, "step", "tr_raw_min", "raw min");
    rmin.color = "#1f77b4";
    rmin.dashed = true;
    rmin.width = 1;
    Series rmax = series_of(run.steps, "step", "tr_raw_max", "raw max");
    rmax.color = "#1f77b4";
    rmax.dashed = true;
    rmax.width = 1;
    Series amed = series_of(run.steps, "step", "tr_median", "applied median");
    amed.color = "#d62728";
    Series amax = series_of(run.steps, "step", "tr_max", "applied max");
    amax.color = "#d62728";
    amax.dashed = true;
    amax.width = 1;
    ChartSpec spec{"chart-trust-summary", "Trust ratios across layers: raw vs applied", "step", "ratio", true};
    spec.empty_note = note;
    h << render_line_chart(spec, {rmed, rmin, rmax, amed, amax});
    Series clipped = series_of(run.steps, "step", "clipped_fraction", "clipped fraction of layers", 100);
    clipped.color = "#ff7f0e";
    ChartSpec cspec{"chart-clipped", "Layers whose ratio was clipped", "step", "% of adapted tensors"};
    cspec.empty_note = note;
    h << render_line_chart(cspec, {clipped});
  }
  // Last recorded ratios per layer.
  if (!order.empty()) {
    h << "<h2>Last recorded ratios</h2>\n<table><tr><th>tensor</th><th>step</th><th>||w||</th><th>||u||</th>"
         "<th>raw</th><th>applied</th><th>clipped</th></tr>\n";
    std::map<std::string, json> last;
    for (const auto& r : run.trust)
      if (r.contains("name") && r["name"].is_string()) last[r["name"].get<std::string>()] = r;
    for (const auto& n : order) {
      const json& r = last[n];
      h << "<tr><td>" << xml_escape(n) << "</td><td>" << fmt_value(field_num(r, "step"), "%.0f") << "</td><td>" << fmt_value(field_num(r, "w_norm"))
        << "</td><td>" << fmt_value(field_num(r, "u_norm")) << "</td><td>" << fmt_value(field_num(r, "raw_ratio")) << "</td><td>"
        << fmt_value(field_num(r, "applied_ratio")) << "</td><td>" << (r.value("clipped", false) ? "yes" : "no") << "</td></tr>\n";
    }
    h << "</table>\n";
  }

  // ---- epochs and config ----
  if (!run.epochs.empty()) {
    h << "<h2>Epochs</h2>\n<table><tr><th>epoch</th><th>step</th><th>train loss</th><th>train acc</th><th>test loss</th>"
         "<th>test acc</th><th>lr</th><th>img/s</th><th>time (s)</th></tr>\n";
    for (const auto& e : run.epochs) {
      h << "<tr><td>" << fmt_value(field_num(e, "epoch"), "%.0f") << "</td><td>" << fmt_value(field_num(e, "step"), "%.0f") << "</td><td>"
        << fmt_value(field_num(e, "train_loss")) << "</td><td>" << fmt_pct(e, "train_acc") << "</td><td>" << fmt_value(field_num(e, "test_loss"))
        << "</td><td>" << fmt_pct(e, "test_acc") << "</td><td>" << fmt_value(field_num(e, "lr")) << "</td><td>"
        << fmt_value(field_num(e, "img_per_s"), "%.0f") << "</td><td>" << fmt_value(field_num(e, "time_s"), "%.1f") << "</td></tr>\n";
    }
    h << "</table>\n";
  }
  h << "<h2>Configuration</h2>\n<p class=\"muted\">config.json of the run; <code>train --config config.json</code> "
       "repeats it.</p>\n<table class=\"kv\">\n";
  for (auto it = run.config.begin(); it != run.config.end(); ++it)
    h << "<tr><td>" << xml_escape(it.key()) << "</td><td>" << xml_escape(it.value().is_string() ? it.value().get<std::string>()
                                                                                              : it.value().dump())
      << "</td></tr>\n";
  h << "</table>\n<script>" << kSelfCheck << "</script>\n</body></html>\n";
  return h.str();
}

std::string write_report(const std::string& run_dir) {
  const std::string html = render_report_html(read_run(run_dir));
  const fs::path p = fs::path(run_dir) / "report.html";
  write_file_atomic(p.string(), html);
  return p.string();
}

}  // namespace tg::train
