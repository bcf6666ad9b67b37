// Dot-and-whisker charts as standalone inline SVG: one column per category, one coloured point per
// series within it, a vertical whisker from lo to hi (mean +- sd, or a confidence interval), and an
// optional reference line (y = 0 for differences). Used by the study's reports.
#pragma once
#include <string>
#include <vector>

namespace tg::study {

struct IntervalPoint {
  std::string category;  // x position (columns in first-seen order)
  std::string series;    // colour and legend entry (in first-seen order)
  double y = 0, lo = 0, hi = 0;
  std::string note;      // hover text appended to the value
};

struct IntervalChartSpec {
  std::string id, title, y_label;
  bool zero_line = false;
  int width = 760, height = 340;
};

std::string render_interval_chart(const IntervalChartSpec& spec, const std::vector<IntervalPoint>& points);

}  // namespace tg::study
