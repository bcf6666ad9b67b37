// Dot-and-whisker SVG charts (see interval_chart.h).
#include "examples/trust_clipping_study/interval_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "examples/train/svg_chart.h"

namespace tg::study {

namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

size_t index_of(std::vector<std::string>& names, const std::string& s) {
  auto it = std::find(names.begin(), names.end(), s);
  if (it != names.end()) return static_cast<size_t>(it - names.begin());
  names.push_back(s);
  return names.size() - 1;
}

}  // namespace

std::string render_interval_chart(const IntervalChartSpec& spec, const std::vector<IntervalPoint>& points) {
  std::vector<std::string> cats, series;
  double lo = spec.zero_line ? 0 : INFINITY, hi = spec.zero_line ? 0 : -INFINITY;
  for (const auto& p : points) {
    index_of(cats, p.category);
    index_of(series, p.series);
    for (double v : {p.y, p.lo, p.hi})
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  std::ostringstream o;
  const int W = spec.width, H = spec.height, left = 64, right = 16, top = 34, bottom = 92;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"" << train::xml_escape(spec.id) << "\" width=\"" << W
    << "\" height=\"" << H << "\" viewBox=\"0 0 " << W << " " << H << "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  o << "<title>" << train::xml_escape(spec.title) << "</title>\n";
  o << "<text x=\"" << W / 2 << "\" y=\"18\" text-anchor=\"middle\" font-size=\"13\">" << train::xml_escape(spec.title) << "</text>\n";
  if (!std::isfinite(lo) || cats.empty()) {
    o << "<text x=\"" << W / 2 << "\" y=\"" << H / 2 << "\" text-anchor=\"middle\">no data</text>\n</svg>\n";
    return o.str();
  }
  if (hi - lo < 1e-9) lo -= 1, hi += 1;
  const std::vector<double> ticks = train::nice_ticks(lo, hi, 6);
  lo = std::min(lo, ticks.front());
  hi = std::max(hi, ticks.back());
  const double plot_w = W - left - right, plot_h = H - top - bottom;
  auto ypx = [&](double v) { return top + plot_h * (hi - v) / (hi - lo); };
  // y axis: ticks, grid lines, label
  for (double t : ticks) {
    o << "<line x1=\"" << left << "\" x2=\"" << W - right << "\" y1=\"" << num(ypx(t)) << "\" y2=\"" << num(ypx(t))
      << "\" stroke=\"#e0e0e0\"/>\n<text x=\"" << left - 6 << "\" y=\"" << num(ypx(t) + 4) << "\" text-anchor=\"end\">" << num(t)
      << "</text>\n";
  }
  if (spec.zero_line)
    o << "<line x1=\"" << left << "\" x2=\"" << W - right << "\" y1=\"" << num(ypx(0)) << "\" y2=\"" << num(ypx(0))
      << "\" stroke=\"#000\" stroke-dasharray=\"4 3\"/>\n";
  o << "<text transform=\"translate(14," << top + plot_h / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
    << train::xml_escape(spec.y_label) << "</text>\n";
  // columns: category labels, rotated to fit
  const double col_w = plot_w / static_cast<double>(cats.size());
  for (size_t c = 0; c < cats.size(); ++c) {
    const double x = left + col_w * (static_cast<double>(c) + 0.5);
    o << "<text transform=\"translate(" << num(x) << "," << H - bottom + 14 << ") rotate(20)\">" << train::xml_escape(cats[c])
      << "</text>\n";
  }
  // points and whiskers, series side by side within a column
  for (const auto& p : points) {
    const size_t c = index_of(cats, p.category), s = index_of(series, p.series);
    const double slot = col_w * 0.6 / static_cast<double>(series.size());
    const double x = left + col_w * (static_cast<double>(c) + 0.2) + slot * (static_cast<double>(s) + 0.5);
    const std::string color = train::palette_color(s);
    o << "<g><title>" << train::xml_escape(p.series + " @ " + p.category + ": " + num(p.y) + " [" + num(p.lo) + ", " + num(p.hi) + "]" +
                                           (p.note.empty() ? "" : " " + p.note))
      << "</title>";
    if (std::isfinite(p.lo) && std::isfinite(p.hi))
      o << "<line x1=\"" << num(x) << "\" x2=\"" << num(x) << "\" y1=\"" << num(ypx(p.lo)) << "\" y2=\"" << num(ypx(p.hi))
        << "\" stroke=\"" << color << "\" stroke-width=\"1.6\"/>";
    if (std::isfinite(p.y))
      o << "<circle cx=\"" << num(x) << "\" cy=\"" << num(ypx(p.y)) << "\" r=\"3.5\" fill=\"" << color << "\"/>";
    o << "</g>\n";
  }
  // legend
  for (size_t s = 0; s < series.size(); ++s) {
    const double x = left + 8 + 170.0 * static_cast<double>(s % 4), y = H - 14 - 14.0 * static_cast<double>(s / 4);
    o << "<circle cx=\"" << num(x) << "\" cy=\"" << num(y - 4) << "\" r=\"4\" fill=\"" << train::palette_color(s) << "\"/><text x=\""
      << num(x + 8) << "\" y=\"" << num(y) << "\">" << train::xml_escape(series[s]) << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace tg::study
