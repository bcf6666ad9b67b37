// render_line_chart: data ranges -> ticks -> pixel mapping -> SVG text (see svg_chart.h).
#include "examples/train/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace tg::train {

namespace {

constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                                    "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#637939"};
constexpr size_t kMaxPoints = 1500;

std::string px_str(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

std::string tick_label(double v) {
  char buf[32];
  const double a = std::fabs(v);
  if (a != 0 && (a < 1e-3 || a >= 1e5)) {
    std::snprintf(buf, sizeof(buf), "%.0e", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%g", v);
  }
  return buf;
}

bool usable(double x, double y, bool log_y) { return std::isfinite(x) && std::isfinite(y) && (!log_y || y > 0); }

}  // namespace

std::string palette_color(size_t i) { return kPalette[i % (sizeof(kPalette) / sizeof(kPalette[0]))]; }

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += ch;
    }
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) return {lo};
  // step = 1, 2 or 5 times a power of ten, the smallest giving at most ~target intervals.
  const double raw = (hi - lo) / std::max(target, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step)
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}

std::string render_line_chart(const ChartSpec& spec, const std::vector<Series>& series) {
  const int W = spec.width, H = spec.height;
  const int legend_w = spec.legend ? 210 : 0;
  const double left = 64, right = W - legend_w - 16, top = 34, bottom = H - 44;

  // Data ranges over every usable point.
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  size_t points = 0;
  for (const auto& s : series) {
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!usable(s.x[i], s.y[i], spec.log_y)) continue;
      const double y = spec.log_y ? std::log10(s.y[i]) : s.y[i];
      x0 = std::min(x0, s.x[i]);
      x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, y);
      y1 = std::max(y1, y);
      ++points;
    }
  }

  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"" << xml_escape(spec.id) << "\" width=\"" << W
    << "\" height=\"" << H << "\" viewBox=\"0 0 " << W << " " << H << "\" role=\"img\" aria-labelledby=\""
    << xml_escape(spec.id) << "-title\">\n";
  o << "<title id=\"" << xml_escape(spec.id) << "-title\">" << xml_escape(spec.title) << "</title>\n";
  o << "<rect x=\"0\" y=\"0\" width=\"" << W << "\" height=\"" << H << "\" fill=\"#ffffff\"/>\n";
  o << "<text x=\"" << left << "\" y=\"20\" font-size=\"14\" font-weight=\"bold\" fill=\"#222\">" << xml_escape(spec.title)
    << "</text>\n";
  if (points == 0) {
    o << "<text class=\"empty\" x=\"" << px_str((left + right) / 2) << "\" y=\"" << px_str((top + bottom) / 2)
      << "\" text-anchor=\"middle\" font-size=\"13\" fill=\"#888\">" << xml_escape(spec.empty_note) << "</text>\n</svg>\n";
    return o.str();
  }
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) {  // a flat line: a band around it (from 0 when it is at 0, e.g. "nothing clipped")
    if (!spec.log_y && y0 == 0) {
      y1 = 1;
    } else {
      y0 -= spec.log_y ? 0.5 : std::fabs(y0) * 0.1;
      y1 += spec.log_y ? 0.5 : std::fabs(y1) * 0.1;
    }
  }
  // Ticks; the axes span the outermost ticks so lines never leave the plot.
  std::vector<double> yt;
  if (spec.log_y) {
    for (double p = std::floor(y0); p <= std::ceil(y1) + 1e-9; p += 1) yt.push_back(p);
    if (yt.size() > 9) {  // many decades: every other one
      std::vector<double> thin;
      for (size_t i = 0; i < yt.size(); i += 2) thin.push_back(yt[i]);
      yt = thin;
    }
  } else {
    yt = nice_ticks(y0, y1, 5);
    if (yt.size() >= 2) {  // widen to whole tick steps so the top and bottom of the data get a label
      const double step = yt[1] - yt[0];
      yt = nice_ticks(std::floor(y0 / step + 1e-9) * step, std::ceil(y1 / step - 1e-9) * step, 5);
    }
  }
  y0 = std::min(y0, yt.front());
  y1 = std::max(y1, yt.back());
  const std::vector<double> xt = nice_ticks(x0, x1, 6);
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * (right - left); };
  auto py = [&](double y) { return bottom - (y - y0) / (y1 - y0) * (bottom - top); };

  // Grid, ticks, labels.
  o << "<g class=\"axes\" font-size=\"11\" fill=\"#444\">\n";
  for (double t : yt) {
    if (t < y0 - 1e-12 || t > y1 + 1e-12) continue;
    const std::string y = px_str(py(t));
    o << "<line x1=\"" << left << "\" y1=\"" << y << "\" x2=\"" << right << "\" y2=\"" << y << "\" stroke=\"#e5e5e5\"/>";
    o << "<text x=\"" << left - 6 << "\" y=\"" << y << "\" dy=\"4\" text-anchor=\"end\">"
      << xml_escape(spec.log_y ? tick_label(std::pow(10.0, t)) : tick_label(t)) << "</text>\n";
  }
  for (double t : xt) {
    if (t < x0 - 1e-12 || t > x1 + 1e-12) continue;
    const std::string x = px_str(px(t));
    o << "<line x1=\"" << x << "\" y1=\"" << top << "\" x2=\"" << x << "\" y2=\"" << bottom << "\" stroke=\"#f0f0f0\"/>";
    o << "<text x=\"" << x << "\" y=\"" << bottom + 16 << "\" text-anchor=\"middle\">" << xml_escape(tick_label(t)) << "</text>\n";
  }
  o << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << right - left << "\" height=\"" << bottom - top
    << "\" fill=\"none\" stroke=\"#999\"/>\n";
  o << "<text x=\"" << px_str((left + right) / 2) << "\" y=\"" << H - 8 << "\" text-anchor=\"middle\">" << xml_escape(spec.x_label)
    << "</text>\n";
  o << "<text transform=\"translate(14," << px_str((top + bottom) / 2) << ") rotate(-90)\" text-anchor=\"middle\">"
    << xml_escape(spec.y_label + (spec.log_y ? " (log scale)" : "")) << "</text>\n</g>\n";

  // Series.
  o << "<g class=\"series\" fill=\"none\">\n";
  for (size_t si = 0; si < series.size(); ++si) {
    const Series& s = series[si];
    const std::string color = s.color.empty() ? palette_color(si) : s.color;
    const size_t n = std::min(s.x.size(), s.y.size());
    const size_t stride = n > kMaxPoints ? (n + kMaxPoints - 1) / kMaxPoints : 1;
    std::ostringstream pts;
    size_t drawn = 0;
    for (size_t i = 0; i < n; i += stride) {
      const size_t j = (i + stride >= n) ? n - 1 : i;  // always keep the last point
      if (!usable(s.x[j], s.y[j], spec.log_y)) continue;
      const double y = spec.log_y ? std::log10(s.y[j]) : s.y[j];
      pts << (drawn ? " " : "") << px_str(px(s.x[j])) << "," << px_str(py(y));
      ++drawn;
    }
    if (drawn == 0) continue;
    o << "<polyline class=\"line\" data-series=\"" << xml_escape(s.name) << "\" points=\"" << pts.str() << "\" stroke=\""
      << color << "\" stroke-width=\"" << s.width << "\"" << (s.dashed ? " stroke-dasharray=\"5,3\"" : "")
      << (s.opacity < 1 ? " stroke-opacity=\"" + std::to_string(s.opacity).substr(0, 4) + "\"" : "") << "><title>"
      << xml_escape(s.name) << "</title></polyline>\n";
    if (s.markers) {
      for (size_t i = 0; i < n; ++i) {
        if (!usable(s.x[i], s.y[i], spec.log_y)) continue;
        const double y = spec.log_y ? std::log10(s.y[i]) : s.y[i];
        o << "<circle cx=\"" << px_str(px(s.x[i])) << "\" cy=\"" << px_str(py(y)) << "\" r=\"3\" fill=\"" << color << "\"><title>"
          << xml_escape(s.name) << ": " << tick_label(s.y[i]) << " at " << tick_label(s.x[i]) << "</title></circle>\n";
      }
    }
  }
  o << "</g>\n";

  // Legend.
  if (spec.legend) {
    o << "<g class=\"legend\" font-size=\"11\" fill=\"#333\">\n";
    const double lx = right + 12;
    int shown = 0;
    for (size_t si = 0; si < series.size() && shown < spec.max_legend; ++si, ++shown) {
      const double ly = top + 8 + 14.0 * shown;
      const std::string color = series[si].color.empty() ? palette_color(si) : series[si].color;
      o << "<line x1=\"" << px_str(lx) << "\" y1=\"" << px_str(ly) << "\" x2=\"" << px_str(lx + 16) << "\" y2=\"" << px_str(ly)
        << "\" stroke=\"" << color << "\" stroke-width=\"2.5\"" << (series[si].dashed ? " stroke-dasharray=\"5,3\"" : "")
        << "/><text x=\"" << px_str(lx + 20) << "\" y=\"" << px_str(ly + 4) << "\">" << xml_escape(series[si].name.substr(0, 34))
        << "</text>\n";
    }
    if (series.size() > static_cast<size_t>(spec.max_legend)) {
      o << "<text x=\"" << px_str(lx) << "\" y=\"" << px_str(top + 12 + 14.0 * shown) << "\" fill=\"#777\">+"
        << series.size() - static_cast<size_t>(spec.max_legend) << " more (hover a line)</text>\n";
    }
    o << "</g>\n";
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace tg::train
