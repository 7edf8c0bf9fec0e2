// Line charts as standalone SVG documents (e.g. `spikeforge convert`'s accuracy_vs_time.svg). Hand-written on
// purpose: Debian packages no well-kept C++ SVG plotting library, and a readable chart (nice ticks, grid, legend,
// clipping) is a few hundred lines without a dependency; any browser opens the result.
#pragma once
#include <cmath>
#include <string>
#include <vector>

namespace sf {

struct PlotSeries {
  std::string label;         // legend text; "" = no legend entry
  std::vector<double> x, y;  // same length; NaN/Inf points are skipped and break the line
  std::string color;         // any SVG colour; "" = automatic palette
};

struct PlotHLine {  // dashed horizontal reference line across the whole plot
  std::string label;
  double y = 0;
  std::string color;  // "" = automatic palette
};

struct LinePlot {
  std::string title, x_label, y_label;
  std::vector<PlotSeries> series;
  std::vector<PlotHLine> hlines;
  double y_min = NAN, y_max = NAN;  // NAN = from data and hlines (with a small margin); x range always from data
  bool x_log = false;               // log10 x axis (positive x only; non-positive points skipped)
  int width = 720, height = 440;
};

// About `target_count` "nice" tick values (multiples of a 1, 2 or 5 × 10^k step) inside [lo, hi]. Empty when the
// range is not finite, {lo} when lo == hi.
std::vector<double> nice_ticks(double lo, double hi, int target_count);

// A complete standalone SVG document. Throws BadInput when width/height < 100, y_min/y_max is infinite or
// y_min > y_max, or a series' x and y differ in length.
std::string render_svg(const LinePlot& plot);

}  // namespace sf
