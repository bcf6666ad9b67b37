// Line charts as standalone inline SVG (no scripts, no external resources): axes with "nice"
// 1-2-5 ticks, linear or log10 y, polylines with hover titles, a legend. Used by the HTML report
// and the trust-clipping study.
#pragma once
#include <string>
#include <vector>

namespace tg::train {

struct Series {
  std::string name;
  std::vector<double> x, y;  // same length; non-finite points (and y <= 0 on a log axis) are skipped
  std::string color;         // CSS colour; empty: taken from the palette by index
  bool dashed = false;
  bool markers = false;      // draw a dot on each point (sparse series such as per-epoch values)
  double width = 1.6;
  double opacity = 1.0;
};

struct ChartSpec {
  std::string id;            // the <svg id>, e.g. "chart-loss"
  std::string title;         // shown above the plot and as the SVG <title>
  std::string x_label, y_label;
  bool log_y = false;
  int width = 760, height = 320;
  bool legend = true;
  int max_legend = 18;       // entries shown; the rest summarised as "+N more"
  std::string empty_note = "no data";  // drawn when no series has a point
};

// The palette colour of series i (12 distinguishable colours, cycled).
std::string palette_color(size_t i);

// Escapes &, <, >, " and ' for XML text and attributes.
std::string xml_escape(const std::string& s);

// "Nice" tick values covering [lo, hi] (about `target` of them) on a linear axis.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

// The SVG element (class="chart"). Series with many points are thinned to at most ~1500 points.
std::string render_line_chart(const ChartSpec& spec, const std::vector<Series>& series);

}  // namespace tg::train
