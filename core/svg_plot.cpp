#include "core/svg_plot.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <string_view>

#include "core/error.h"

namespace sf {
namespace {

// Tableau 10: distinct hues, the common default of plotting tools; series take them first, then hlines.
constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr size_t kMarkerMaxPoints = 40;  // sparse series get point markers so single samples stay visible
constexpr double kLegendRowH = 18;

std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // Control characters are not allowed in XML 1.0 at all; a space keeps the document well-formed.
        out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
    }
  }
  return out;
}

// Layout estimate only: ~0.6 em per glyph for sans-serif, counting UTF-8 code points rather than bytes.
double text_width(std::string_view s, double font_px = 12) {
  size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return static_cast<double>(n) * font_px * 0.6;
}

// Pixel coordinate: 0.1 px is finer than any screen. Clamping keeps absurd data (1e300) from printing hundreds of
// digits; the clip path hides it anyway and the visible slope changes by far less than a pixel.
std::string px(double v) {
  if (!std::isfinite(v)) v = 0;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", std::clamp(v, -1e7, 1e7));
  std::string s = buf;
  if (s.ends_with(".0")) s.resize(s.size() - 2);
  return s == "-0" ? "0" : s;
}

// A tick value with exactly the digits its step resolves (0.92, not 0.92000000000000004), and no exponent for
// ordinary magnitudes (1000, not 1e+03).
std::string tick_label(double v, double resolution) {
  if (v == 0 || std::abs(v) < resolution * 1e-6) return "0";
  const int mag = static_cast<int>(std::floor(std::log10(std::abs(v))));
  const int res = static_cast<int>(std::floor(std::log10(resolution) + 1e-9));
  const int digits = std::clamp(std::max(mag - res + 1, std::min(mag + 1, 7)), 1, 15);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

// Heckbert's "nice number": the 1/2/5 × 10^k step closest to splitting the span into target_count ticks.
double nice_step(double span, int target_count) {
  const double raw = span / std::max(1, target_count - 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

std::vector<double> multiples_in(double lo, double hi, double step) {
  const double first = std::ceil(lo / step - 1e-9), last = std::floor(hi / step + 1e-9);
  if (!(step > 0) || !std::isfinite(first) || !std::isfinite(last) || last - first > 1000) return {lo, hi};
  std::vector<double> out;
  for (double i = first; i <= last; i += 1) out.push_back(i * step + 0.0);  // + 0.0 turns -0 into 0
  return out;
}

struct Tick {
  double value, resolution;  // resolution: the smallest digit the label must show
};

std::vector<Tick> linear_ticks(double lo, double hi, int target_count) {
  const double step = nice_step(hi - lo, target_count);
  std::vector<Tick> out;
  for (const double v : multiples_in(lo, hi, step)) out.push_back({v, step});
  return out;
}

// Log axis: 1-2-5 ticks when they fit, else (thinned) powers of ten, else linear nice ticks for a range narrower
// than the 1-2-5 grid (e.g. 200..400).
std::vector<Tick> log_ticks(double lo, double hi, int target_count) {
  const double l0 = std::log10(lo), l1 = std::log10(hi);
  const int k0 = static_cast<int>(std::floor(l0)), k1 = static_cast<int>(std::ceil(l1));
  std::vector<Tick> fine;
  if (k1 - k0 <= target_count) {
    for (int k = k0; k <= k1; ++k) {
      const double p = std::pow(10.0, k);
      for (const double m : {1.0, 2.0, 5.0}) {
        if (m * p >= lo * (1 - 1e-9) && m * p <= hi * (1 + 1e-9)) fine.push_back({m * p, p});
      }
    }
  }
  if (fine.size() >= 3 && static_cast<int>(fine.size()) <= std::max(target_count, 3)) return fine;
  const int d0 = static_cast<int>(std::ceil(l0 - 1e-9)), d1 = static_cast<int>(std::floor(l1 + 1e-9));
  if (d1 > d0) {
    const int stride = std::max(1, static_cast<int>(std::ceil((d1 - d0 + 1.0) / std::max(2, target_count))));
    std::vector<Tick> out;
    for (int k = d0; k <= d1; ++k) {
      if (k % stride == 0) out.push_back({std::pow(10.0, k), std::pow(10.0, k)});
    }
    if (out.size() >= 2) return out;
  }
  return linear_ticks(lo, hi, target_count);
}

struct LegendEntry {
  std::string label, color;
  bool dashed, marker;
  double width;
};

void validate(const LinePlot& p) {
  if (p.width < 100 || p.height < 100) {
    fail_input("plot '" + p.title + "'", "width and height must be at least 100 px, got " + std::to_string(p.width) +
                                             "x" + std::to_string(p.height));
  }
  if (std::isinf(p.y_min) || std::isinf(p.y_max)) {
    fail_input("plot '" + p.title + "'", "y_min/y_max must be finite, or NaN for automatic");
  }
  if (p.y_min > p.y_max) fail_input("plot '" + p.title + "'", "y_min is above y_max");
  for (const PlotSeries& s : p.series) {
    if (s.x.size() != s.y.size()) {
      fail_input("plot series '" + s.label + "'",
                 "x has " + std::to_string(s.x.size()) + " values but y has " + std::to_string(s.y.size()));
    }
  }
}

// Which points are drawn, and the x axis's working coordinate u (log10(x) on a log axis).
struct Points {
  const LinePlot& p;
  bool drawable(double x, double y) const { return std::isfinite(x) && std::isfinite(y) && (!p.x_log || x > 0); }
  double u(double x) const { return p.x_log ? std::log10(x) : x; }
  bool drawable(const PlotSeries& s, size_t k) const { return drawable(s.x[k], s.y[k]); }
};

double pad(double v) { return v == 0 ? 1.0 : std::abs(v) * 0.1; }

// The u and y ranges shown. Ranges come from drawable points only, so a skipped NaN or a non-positive x on a
// log axis cannot stretch them.
struct Ranges {
  double ulo, uhi, ylo, yhi;
};

Ranges data_ranges(const LinePlot& p, const Points& pts) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  double ulo = kInf, uhi = -kInf, dlo = kInf, dhi = -kInf;
  for (const PlotSeries& s : p.series) {
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!pts.drawable(s, i)) continue;
      ulo = std::min(ulo, pts.u(s.x[i]));
      uhi = std::max(uhi, pts.u(s.x[i]));
      dlo = std::min(dlo, s.y[i]);
      dhi = std::max(dhi, s.y[i]);
    }
  }
  for (const PlotHLine& h : p.hlines) {
    if (!std::isfinite(h.y)) continue;
    dlo = std::min(dlo, h.y);
    dhi = std::max(dhi, h.y);
  }
  if (ulo > uhi) {
    ulo = 0, uhi = 1;  // no data: an empty 0..1 (or 1..10) frame
  } else if (ulo == uhi) {
    const double d = p.x_log ? 0.5 : pad(ulo);
    ulo -= d, uhi += d;
  }

  const bool auto_lo = std::isnan(p.y_min), auto_hi = std::isnan(p.y_max);
  double ylo = auto_lo ? dlo : p.y_min, yhi = auto_hi ? dhi : p.y_max;
  if (!std::isfinite(ylo) && !std::isfinite(yhi)) {
    ylo = 0, yhi = 1;
  } else if (!std::isfinite(ylo)) {
    ylo = yhi - 1;  // no data and only y_max given
  } else if (!std::isfinite(yhi)) {
    yhi = ylo + 1;
  }
  if (yhi <= ylo) {  // one value, or the data lies entirely beyond the one fixed bound
    if (auto_lo == auto_hi) {
      const double d = pad(ylo);  // both free (one value) or both fixed and equal: centre the value
      ylo -= d, yhi += d;
    } else if (auto_hi) {
      yhi = ylo + pad(ylo);
    } else {
      ylo = yhi - pad(yhi);
    }
  } else {
    const double margin = 0.05 * (yhi - ylo);
    if (auto_lo) ylo -= margin;
    if (auto_hi) yhi += margin;
  }
  return {ulo, uhi, ylo, yhi};
}

std::string palette(const std::string& c, size_t i) { return c.empty() ? kPalette[i % 10] : c; }

// Legend entries wrapped into rows that fit the width; series with few points get markers.
struct Legend {
  std::vector<LegendEntry> entries;
  std::vector<std::vector<size_t>> rows;
  std::vector<double> row_w;
  std::vector<bool> markers;  // per series
};

Legend layout_legend(const LinePlot& p, const Points& pts) {
  Legend l;
  l.markers.resize(p.series.size());
  for (size_t i = 0; i < p.series.size(); ++i) {
    const PlotSeries& s = p.series[i];
    size_t n = 0;
    for (size_t k = 0; k < s.x.size(); ++k) n += pts.drawable(s, k);
    l.markers[i] = n <= kMarkerMaxPoints;
    if (!s.label.empty()) l.entries.push_back({s.label, palette(s.color, i), false, l.markers[i], 0});
  }
  for (size_t i = 0; i < p.hlines.size(); ++i) {
    const PlotHLine& h = p.hlines[i];
    if (!h.label.empty()) l.entries.push_back({h.label, palette(h.color, p.series.size() + i), true, false, 0});
  }
  for (size_t i = 0; i < l.entries.size(); ++i) {
    l.entries[i].width = 30 + text_width(l.entries[i].label);
    if (l.rows.empty() || l.row_w.back() + 18 + l.entries[i].width > p.width - 20) {
      l.rows.emplace_back();
      l.row_w.push_back(-18);
    }
    l.rows.back().push_back(i);
    l.row_w.back() += 18 + l.entries[i].width;
  }
  return l;
}

// The plot area in pixels, its ticks and labels, and the data → pixel mapping.
struct Frame {
  double top, left, plot_w, plot_h, below_axis;
  Ranges r;
  std::vector<Tick> xticks, yticks;
  std::vector<std::string> xlabels, ylabels;
  double X(double u) const { return left + (u - r.ulo) / (r.uhi - r.ulo) * plot_w; }
  double Y(double y) const { return top + plot_h - (y - r.ylo) / (r.yhi - r.ylo) * plot_h; }
};

Frame layout_frame(const LinePlot& p, const Points& pts, const Ranges& r, size_t legend_rows) {
  Frame f;
  f.r = r;
  f.top = p.title.empty() ? 16 : 40;
  f.below_axis = 24 + (p.x_label.empty() ? 0 : 20);
  const double bottom = f.below_axis + (legend_rows == 0 ? 0 : 6 + kLegendRowH * static_cast<double>(legend_rows)) + 8;
  f.plot_h = std::max(20.0, p.height - f.top - bottom);
  f.yticks = linear_ticks(r.ylo, r.yhi, std::clamp(static_cast<int>(f.plot_h / 40), 2, 10));
  double ylabel_w = 0;
  for (const Tick& t : f.yticks) {
    f.ylabels.push_back(tick_label(t.value, t.resolution));
    ylabel_w = std::max(ylabel_w, text_width(f.ylabels.back()));
  }
  f.left = 10 + (p.y_label.empty() ? 0 : 22) + ylabel_w + 10;
  f.plot_w = std::max(20.0, p.width - f.left - 30);

  // Fewer x ticks until neighbouring labels no longer overlap (positions are uneven on a log axis).
  for (int target = std::clamp(static_cast<int>(f.plot_w / 70), 2, 12); target >= 2; --target) {
    const double lo = p.x_log ? std::pow(10.0, r.ulo) : r.ulo, hi = p.x_log ? std::pow(10.0, r.uhi) : r.uhi;
    f.xticks = p.x_log ? log_ticks(lo, hi, target) : linear_ticks(lo, hi, target);
    f.xlabels.clear();
    bool fits = true;
    for (size_t i = 0; i < f.xticks.size(); ++i) {
      f.xlabels.push_back(tick_label(f.xticks[i].value, f.xticks[i].resolution));
      if (i == 0) continue;
      const double gap = f.X(pts.u(f.xticks[i].value)) - f.X(pts.u(f.xticks[i - 1].value));
      fits = fits && gap >= (text_width(f.xlabels[i]) + text_width(f.xlabels[i - 1])) / 2 + 8;
    }
    if (fits) break;
  }
  return f;
}

std::string frame_rect(const Frame& f) {
  return "x=\"" + px(f.left) + "\" y=\"" + px(f.top) + "\" width=\"" + px(f.plot_w) + "\" height=\"" + px(f.plot_h) +
         "\"";
}

// Grid, axes with their ticks, tick labels and axis labels.
void emit_axes(std::string& o, const LinePlot& p, const Points& pts, const Frame& f) {
  const double top = f.top, left = f.left, plot_w = f.plot_w, plot_h = f.plot_h;
  o += "<g class=\"grid\" stroke=\"#e6e6e6\" stroke-width=\"1\">\n";
  for (const Tick& t : f.xticks) {
    const std::string x = px(f.X(pts.u(t.value)));
    o += "<line x1=\"" + x + "\" y1=\"" + px(top) + "\" x2=\"" + x + "\" y2=\"" + px(top + plot_h) + "\"/>\n";
  }
  for (const Tick& t : f.yticks) {
    const std::string y = px(f.Y(t.value));
    o += "<line x1=\"" + px(left) + "\" y1=\"" + y + "\" x2=\"" + px(left + plot_w) + "\" y2=\"" + y + "\"/>\n";
  }
  o += "</g>\n";

  o += "<g class=\"axes\" stroke=\"#444\" stroke-width=\"1\">\n<rect " + frame_rect(f) + " fill=\"none\"/>\n";
  for (const Tick& t : f.xticks) {
    const std::string x = px(f.X(pts.u(t.value)));
    o += "<line x1=\"" + x + "\" y1=\"" + px(top + plot_h) + "\" x2=\"" + x + "\" y2=\"" + px(top + plot_h + 4) +
         "\"/>\n";
  }
  for (const Tick& t : f.yticks) {
    const std::string y = px(f.Y(t.value));
    o += "<line x1=\"" + px(left - 4) + "\" y1=\"" + y + "\" x2=\"" + px(left) + "\" y2=\"" + y + "\"/>\n";
  }
  o += "</g>\n";

  o += "<g class=\"tick-labels\" fill=\"#333\">\n";
  for (size_t i = 0; i < f.xticks.size(); ++i) {
    o += "<text x=\"" + px(f.X(pts.u(f.xticks[i].value))) + "\" y=\"" + px(top + plot_h + 18) +
         "\" text-anchor=\"middle\">" + escape(f.xlabels[i]) + "</text>\n";
  }
  for (size_t i = 0; i < f.yticks.size(); ++i) {
    o += "<text x=\"" + px(left - 7) + "\" y=\"" + px(f.Y(f.yticks[i].value) + 4) + "\" text-anchor=\"end\">" +
         escape(f.ylabels[i]) + "</text>\n";
  }
  o += "</g>\n";
  if (!p.x_label.empty()) {
    o += "<text x=\"" + px(left + plot_w / 2) + "\" y=\"" + px(top + plot_h + 38) + "\" text-anchor=\"middle\">" +
         escape(p.x_label) + "</text>\n";
  }
  if (!p.y_label.empty()) {
    o += "<text transform=\"translate(22," + px(top + plot_h / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
         escape(p.y_label) + "</text>\n";
  }
}

// One series: polylines through runs of drawable points (a skipped point ends a run), and markers on sparse
// series and on isolated points.
void emit_series(std::string& o, const PlotSeries& s, const std::string& color, bool markers, const Points& pts,
                 const Frame& f) {
  o += "<g class=\"series\" fill=\"none\" stroke=\"" + color + "\" stroke-width=\"2\" stroke-linejoin=\"round\">\n";
  std::vector<std::string> run;
  std::string dots;
  const auto flush = [&] {
    if (run.size() >= 2) {
      o += "<polyline points=\"";
      for (size_t k = 0; k < run.size(); ++k) o += (k ? " " : "") + run[k];
      o += "\"/>\n";
    }
    run.clear();
  };
  for (size_t k = 0; k < s.x.size(); ++k) {
    if (!pts.drawable(s, k)) {
      flush();
      continue;
    }
    const std::string cx = px(f.X(pts.u(s.x[k]))), cy = px(f.Y(s.y[k]));
    run.push_back(cx + "," + cy);
    const bool isolated = (k == 0 || !pts.drawable(s, k - 1)) && (k + 1 == s.x.size() || !pts.drawable(s, k + 1));
    if (markers || isolated) {
      dots += "<circle cx=\"" + cx + "\" cy=\"" + cy + "\" r=\"2.5\" fill=\"" + color + "\" stroke=\"none\"/>\n";
    }
  }
  flush();
  o += dots + "</g>\n";
}

// Reference lines under the series, both clipped to the frame.
void emit_data(std::string& o, const LinePlot& p, const Points& pts, const Frame& f, const Legend& legend) {
  o += "<g class=\"data\" clip-path=\"url(#sf-plot-area)\">\n";
  for (size_t i = 0; i < p.hlines.size(); ++i) {
    const PlotHLine& hl = p.hlines[i];
    if (!std::isfinite(hl.y)) continue;
    const std::string y = px(f.Y(hl.y));
    o += "<line x1=\"" + px(f.left) + "\" y1=\"" + y + "\" x2=\"" + px(f.left + f.plot_w) + "\" y2=\"" + y +
         "\" stroke=\"" + escape(palette(hl.color, p.series.size() + i)) +
         "\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n";
  }
  for (size_t i = 0; i < p.series.size(); ++i)
    emit_series(o, p.series[i], escape(palette(p.series[i].color, i)), legend.markers[i], pts, f);
  o += "</g>\n";
}

void emit_legend(std::string& o, const LinePlot& p, const Frame& f, const Legend& l) {
  if (l.entries.empty()) return;
  o += "<g class=\"legend\">\n";
  for (size_t r = 0; r < l.rows.size(); ++r) {
    const double cy = f.top + f.plot_h + f.below_axis + 6 + kLegendRowH * (static_cast<double>(r) + 0.5);
    double x = std::max(10.0, (p.width - l.row_w[r]) / 2);
    for (const size_t i : l.rows[r]) {
      const LegendEntry& e = l.entries[i];
      const std::string color = escape(e.color);
      o += "<line x1=\"" + px(x) + "\" y1=\"" + px(cy) + "\" x2=\"" + px(x + 24) + "\" y2=\"" + px(cy) +
           "\" stroke=\"" + color + "\" stroke-width=\"2\"" + (e.dashed ? " stroke-dasharray=\"6 4\"" : "") + "/>\n";
      if (e.marker) o += "<circle cx=\"" + px(x + 12) + "\" cy=\"" + px(cy) + "\" r=\"2.5\" fill=\"" + color + "\"/>\n";
      o += "<text x=\"" + px(x + 30) + "\" y=\"" + px(cy + 4) + "\" fill=\"#222\">" + escape(e.label) + "</text>\n";
      x += e.width + 18;
    }
  }
  o += "</g>\n";
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target_count) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || !std::isfinite(hi - lo)) return {};
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) return {lo};
  return multiples_in(lo, hi, nice_step(hi - lo, target_count));
}

std::string render_svg(const LinePlot& p) {
  validate(p);
  const Points pts{p};
  // Legend rows are laid out first: their count decides the bottom margin, hence the plot height.
  const Legend legend = layout_legend(p, pts);
  const Frame f = layout_frame(p, pts, data_ranges(p, pts), legend.rows.size());

  std::string o;
  const std::string w = std::to_string(p.width), h = std::to_string(p.height);
  o += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + w + "\" height=\"" + h + "\" viewBox=\"0 0 " + w + " " +
       h + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  if (!p.title.empty()) o += "<title>" + escape(p.title) + "</title>\n";
  o += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o += "<defs><clipPath id=\"sf-plot-area\"><rect " + frame_rect(f) + "/></clipPath></defs>\n";
  if (!p.title.empty()) {
    o += "<text x=\"" + px(f.left + f.plot_w / 2) +
         "\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">" + escape(p.title) + "</text>\n";
  }
  emit_axes(o, p, pts, f);
  emit_data(o, p, pts, f, legend);
  emit_legend(o, p, f, legend);
  o += "</svg>\n";
  return o;
}

}  // namespace sf
