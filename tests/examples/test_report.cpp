// The HTML report: chart geometry helpers, the report of a real (tiny) run holding every chart and
// nothing fetched from the network, and a render in headless Chromium checking the charts laid out.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "engine/parallel.h"
#include "examples/train/report.h"
#include "examples/train/svg_chart.h"
#include "examples/train/trainer.h"
#include "train_test_util.h"

using namespace tg;
using namespace tg::train;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Trains the tiny synthetic problem for 6 steps into `run_dir` (report included).
void tiny_run(const std::string& run_dir) {
  const int saved_threads = get_num_threads();
  set_num_threads(1);  // small ops: one thread is fastest (and immune to an oversubscribed machine)
  TrainConfig c;
  c.dataset = "synthetic";
  c.optimizer = "lambc";
  c.batch_size = 16;
  c.epochs = 2;
  c.max_steps = 6;
  c.eval_every = 1;
  c.eval_batch_size = 32;
  c.workers = 0;
  c.progress = "none";
  c.telemetry_interval = 1;
  resolve_defaults(c);
  data::DatasetSplits s;
  s.train = test::synthetic_images(48, 8, 4, 1);
  s.test = test::synthetic_images(32, 8, 4, 2);
  TrainerOptions o;
  o.quiet = true;
  Trainer t(c, std::move(s), RunPaths{run_dir, ""}, o);
  t.run();
  set_num_threads(saved_threads);
}

std::string find_chromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}) {
    const std::string cmd = std::string("command -v ") + name + " > /dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return name;
  }
  return "";
}

}  // namespace

TEST_CASE("nice_ticks: 1-2-5 steps covering the range") {
  const std::vector<double> t = nice_ticks(0.0, 1.0, 5);
  REQUIRE(t.size() == 6);
  for (size_t i = 0; i < t.size(); ++i) CHECK(t[i] == doctest::Approx(0.2 * static_cast<double>(i)));
  const std::vector<double> u = nice_ticks(3.0, 97.0, 5);
  CHECK(u.front() == doctest::Approx(20.0));
  CHECK(u.back() == doctest::Approx(80.0));
  CHECK(u[1] - u[0] == doctest::Approx(20.0));
}

TEST_CASE("render_line_chart: id, title, one polyline per series, escaping, empty note") {
  Series a{"loss <train>", {1, 2, 3}, {3, 2, 1}, ""};  // "": the palette's colour
  Series b{"acc", {1, 2, 3}, {0.1, 0.5, 0.9}, ""};
  const std::string svg = render_line_chart({"chart-x", "My \"chart\"", "step", "value"}, {a, b});
  CHECK(svg.find("id=\"chart-x\"") != std::string::npos);
  CHECK(svg.find("<title id=\"chart-x-title\">My &quot;chart&quot;</title>") != std::string::npos);
  CHECK(svg.find("loss &lt;train&gt;") != std::string::npos);
  size_t lines = 0;
  for (size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1)) ++lines;
  CHECK(lines == 2);
  // A log axis drops non-positive points; no usable point gives the note instead of lines.
  Series z{"zero", {1, 2}, {0, -1}, ""};
  ChartSpec spec{"chart-z", "Z", "step", "v", true};
  spec.empty_note = "nothing here";
  const std::string e = render_line_chart(spec, {z});
  CHECK(e.find("<polyline") == std::string::npos);
  CHECK(e.find("nothing here") != std::string::npos);
}

TEST_CASE("the report of a run has every chart, the results, and fetches nothing") {
  test::ScratchDir dir("report");
  tiny_run(dir.str());
  const std::string html = read_file(dir.file("report.html"));
  REQUIRE(!html.empty());
  for (const auto& id : report_chart_ids()) {
    INFO(id);
    CHECK(html.find("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"" + id + "\"") != std::string::npos);
  }
  CHECK(html.find("<title id=\"chart-trust-applied-title\">Applied (clipped) trust ratio per layer</title>") !=
        std::string::npos);
  CHECK(html.find("data-series=\"0.weight\"") != std::string::npos);  // a per-layer trust-ratio line
  // Self-contained: no external resources (the SVG namespace URI is not a fetch).
  std::string stripped = std::regex_replace(html, std::regex("xmlns=\"http://www.w3.org/2000/svg\""), "");
  CHECK(stripped.find("http://") == std::string::npos);
  CHECK(stripped.find("https://") == std::string::npos);
  CHECK(stripped.find(" src=") == std::string::npos);
  CHECK(stripped.find("<link") == std::string::npos);
}

TEST_CASE("the report renders in headless Chromium with every chart laid out") {
  const std::string browser = find_chromium();
  if (browser.empty()) {
    MESSAGE("skipped: no chromium in PATH (install Debian's `chromium`, e.g. scripts/setup.sh --with-browser)");
    return;
  }
  test::ScratchDir dir("render");
  tiny_run(dir.str());
  const std::string profile = dir.file("profile"), dom = dir.file("dom.html"), log = dir.file("chromium.log");
  const std::string cmd = "timeout 60 " + browser +
                          " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking"
                          " --disable-component-update --no-first-run --user-data-dir=" + profile +
                          " --dump-dom file://" + dir.file("report.html") + " > " + dom + " 2> " + log;
  const int rc = std::system(cmd.c_str());
  INFO("chromium log: " << read_file(log));
  REQUIRE(rc == 0);
  const std::string out = read_file(dom);
  const size_t n = report_chart_ids().size();
  // The inline self-check counted every svg.chart with a non-empty layout box and drawn content.
  CHECK(out.find("data-charts-rendered=\"" + std::to_string(n) + "\"") != std::string::npos);
  CHECK(out.find("data-charts-total=\"" + std::to_string(n) + "\"") != std::string::npos);
  for (const auto& id : report_chart_ids()) {
    INFO(id);
    CHECK(out.find("id=\"" + id + "\"") != std::string::npos);
    CHECK(out.find("<title id=\"" + id + "-title\">") != std::string::npos);
  }
}
