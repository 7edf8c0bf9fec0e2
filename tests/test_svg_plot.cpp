#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/svg_plot.h"

namespace sf {
namespace {

// Enough of an XML check for our own output: every tag closes in order, and attributes hold no raw '<' or '>'.
bool well_formed(const std::string& s, std::string* why) {
  std::vector<std::string> stack;
  for (size_t i = s.find('<'); i != std::string::npos; i = s.find('<', i)) {
    const size_t end = s.find('>', i);
    if (end == std::string::npos) return *why = "unterminated tag", false;
    const std::string tag = s.substr(i + 1, end - i - 1);
    if (tag.find('<') != std::string::npos) return *why = "'<' inside tag " + tag, false;
    if (tag.starts_with("/")) {
      if (stack.empty() || stack.back() != tag.substr(1)) return *why = "unbalanced </" + tag.substr(1) + ">", false;
      stack.pop_back();
    } else if (!tag.ends_with("/")) {
      stack.push_back(tag.substr(0, tag.find_first_of(" \n")));
    }
    i = end;
  }
  if (!stack.empty()) return *why = "unclosed <" + stack.back() + ">", false;
  return true;
}

void expect_document(const std::string& svg) {
  EXPECT_TRUE(svg.starts_with("<svg")) << svg.substr(0, 80);
  EXPECT_TRUE(svg.ends_with("</svg>\n") || svg.ends_with("</svg>"));
  std::string why;
  EXPECT_TRUE(well_formed(svg, &why)) << why;
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t i = s.find(what); i != std::string::npos; i = s.find(what, i + 1)) ++n;
  return n;
}

size_t longest_digit_run(const std::string& s) {
  size_t best = 0, run = 0;
  for (const char c : s) best = std::max(best, run = std::isdigit(static_cast<unsigned char>(c)) ? run + 1 : 0);
  return best;
}

// The numeric value of attribute `name` in the first element that starts with `element`.
double attr(const std::string& svg, const std::string& element, const std::string& name) {
  const size_t at = svg.find(element);
  if (at == std::string::npos) return NAN;
  const size_t value = svg.find(" " + name + "=\"", at);
  return value == std::string::npos ? NAN : std::stod(svg.substr(value + name.size() + 3));
}

void expect_ticks(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << "tick " << i;
}

LinePlot accuracy_plot() {
  LinePlot p;
  p.title = "SNN accuracy vs simulation time";
  p.x_label = "simulation time (ms)";
  p.y_label = "test accuracy";
  PlotSeries snn{"SNN", {}, {}, ""};
  for (int t = 0; t <= 1000; t += 10) {
    snn.x.push_back(t);
    snn.y.push_back(0.98 - 0.88 * std::exp(-t / 150.0));
  }
  p.series.push_back(snn);
  p.hlines.push_back({"ANN", 0.983, ""});
  return p;
}

TEST(SvgPlotTest, NiceTicksUseOneTwoFiveSteps) {
  expect_ticks(nice_ticks(0.9, 1.0, 5), {0.9, 0.92, 0.94, 0.96, 0.98, 1.0});
  expect_ticks(nice_ticks(0, 1000, 6), {0, 200, 400, 600, 800, 1000});
  expect_ticks(nice_ticks(-1, 1, 5), {-1, -0.5, 0, 0.5, 1});
  expect_ticks(nice_ticks(0.13, 0.97, 5), {0.2, 0.4, 0.6, 0.8});
  expect_ticks(nice_ticks(1000, 0, 6), {0, 200, 400, 600, 800, 1000});  // reversed bounds
  EXPECT_FALSE(std::signbit(nice_ticks(-1, 1, 5)[2]));                  // 0, not -0
  expect_ticks(nice_ticks(3, 3, 5), {3});
  EXPECT_TRUE(nice_ticks(NAN, 1, 5).empty());
  EXPECT_TRUE(nice_ticks(0, INFINITY, 5).empty());
}

TEST(SvgPlotTest, DocumentHasTitleLabelsLegendAndTicks) {
  const std::string svg = render_svg(accuracy_plot());
  expect_document(svg);
  EXPECT_NE(svg.find(">SNN accuracy vs simulation time</text>"), std::string::npos);
  EXPECT_NE(svg.find(">simulation time (ms)</text>"), std::string::npos);
  EXPECT_NE(svg.find(">test accuracy</text>"), std::string::npos);
  EXPECT_NE(svg.find(">SNN</text>"), std::string::npos);
  EXPECT_NE(svg.find(">ANN</text>"), std::string::npos);
  EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos);  // the ANN reference line
  EXPECT_NE(svg.find("clip-path=\"url(#sf-plot-area)\""), std::string::npos);
  EXPECT_EQ(count(svg, "<polyline"), 1u);
  EXPECT_NE(svg.find(">1000</text>"), std::string::npos);  // x ticks end at the data's last time
  EXPECT_NE(svg.find(">0.5</text>"), std::string::npos);
  EXPECT_LE(longest_digit_run(svg), 6u) << "17-digit noise in the output";
}

TEST(SvgPlotTest, FixedYRangeGivesNiceTickLabels) {
  LinePlot p;
  p.y_min = 0.9, p.y_max = 1.0;
  p.height = 300;  // few ticks fit: step 0.02
  p.series.push_back({"acc", {0, 1, 2}, {0.91, 0.95, 0.99}, ""});
  const std::string svg = render_svg(p);
  expect_document(svg);
  for (const char* label : {">0.9</text>", ">0.92</text>", ">0.94</text>", ">0.96</text>", ">0.98</text>", ">1</text>"})
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  EXPECT_EQ(svg.find("0.9200000"), std::string::npos);
}

TEST(SvgPlotTest, EscapesText) {
  LinePlot p;
  p.title = "a<b & \"c\" 'd'>";
  p.x_label = "x\x01y";
  p.series.push_back({"<script>", {0, 1}, {0, 1}, "red\" onload=\"x"});
  const std::string svg = render_svg(p);
  expect_document(svg);
  EXPECT_NE(svg.find("a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"), std::string::npos);
  EXPECT_NE(svg.find("&lt;script&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("<script>"), std::string::npos);
  EXPECT_EQ(svg.find("onload=\""), std::string::npos);
  EXPECT_EQ(svg.find('\x01'), std::string::npos);
}

TEST(SvgPlotTest, NonFinitePointsAreSkippedAndBreakTheLine) {
  LinePlot p;
  p.series.push_back({"s", {0, 1, 2, 3, INFINITY, 5, 6}, {0.1, 0.2, NAN, 0.4, 0.5, 0.6, 0.7}, ""});
  const std::string svg = render_svg(p);
  expect_document(svg);
  for (const char* bad : {"nan", "NaN", "inf", "Inf"}) EXPECT_EQ(svg.find(bad), std::string::npos) << bad;
  EXPECT_EQ(count(svg, "<polyline"), 2u);  // 0-1 and 5-6; point 3 stands alone
  EXPECT_NE(svg.find("<circle"), std::string::npos);
}

TEST(SvgPlotTest, EmptyAndSinglePointPlotsRender) {
  LinePlot empty;
  empty.title = "nothing yet";
  expect_document(render_svg(empty));

  LinePlot p;
  p.series.push_back({"none", {}, {}, ""});
  p.series.push_back({"one", {5}, {0.7}, ""});
  p.series.push_back({"all nan", {1, 2}, {NAN, NAN}, ""});
  const std::string svg = render_svg(p);
  expect_document(svg);
  EXPECT_EQ(count(svg, "<polyline"), 0u);
  EXPECT_NE(svg.find("<circle"), std::string::npos);  // the single point is still visible
  EXPECT_NE(svg.find(">one</text>"), std::string::npos);
  EXPECT_NE(svg.find(">5</text>"), std::string::npos);  // degenerate x range padded around 5
  const std::string area = "<clipPath id=\"sf-plot-area\"><rect";
  EXPECT_NEAR(attr(svg, "<circle", "cx"), attr(svg, area, "x") + attr(svg, area, "width") / 2, 0.1);
  EXPECT_NEAR(attr(svg, "<circle", "cy"), attr(svg, area, "y") + attr(svg, area, "height") / 2, 0.1);

  LinePlot flat;  // only a reference line: the y range is padded around it
  flat.hlines.push_back({"ANN", 0.98, ""});
  expect_document(render_svg(flat));
}

TEST(SvgPlotTest, LogXAxisUsesPowersOfTenAndSkipsNonPositiveX) {
  LinePlot p;
  p.x_log = true;
  PlotSeries s{"loss", {-1, 0}, {9, 9}, "#000"};
  for (double x = 1; x <= 1e4; x *= 1.5) s.x.push_back(x), s.y.push_back(1 / x);
  p.series.push_back(s);
  const std::string svg = render_svg(p);
  expect_document(svg);
  for (const char* label : {">1</text>", ">10</text>", ">100</text>", ">1000</text>"})
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  EXPECT_EQ(svg.find(">9</text>"), std::string::npos);  // y = 9 belongs to the skipped x <= 0 points
  EXPECT_EQ(count(svg, "<polyline"), 1u);

  LinePlot narrow;  // less than a decade: linear ticks inside it
  narrow.x_log = true;
  narrow.series.push_back({"n", {200, 300, 400}, {1, 2, 3}, ""});
  const std::string nsvg = render_svg(narrow);
  expect_document(nsvg);
  EXPECT_NE(nsvg.find(">300</text>"), std::string::npos);
}

TEST(SvgPlotTest, ExtremeValuesStayCompact) {
  LinePlot p;
  p.y_min = 0, p.y_max = 1;
  p.series.push_back({"wild", {0, 1, 2}, {0.5, 1e300, -1e300}, ""});
  const std::string svg = render_svg(p);
  expect_document(svg);
  EXPECT_LE(longest_digit_run(svg), 8u);
}

TEST(SvgPlotTest, RejectsInvalidInput) {
  const auto kind_of = [](const LinePlot& p) {
    try {
      render_svg(p);
    } catch (const Error& e) {
      return e.kind();
    }
    return ErrorKind::Internal;
  };
  LinePlot tiny;
  tiny.width = 50;
  EXPECT_EQ(kind_of(tiny), ErrorKind::BadInput);
  LinePlot mismatched;
  mismatched.series.push_back({"s", {1, 2, 3}, {1, 2}, ""});
  EXPECT_EQ(kind_of(mismatched), ErrorKind::BadInput);
  LinePlot inverted;
  inverted.y_min = 1, inverted.y_max = 0;
  EXPECT_EQ(kind_of(inverted), ErrorKind::BadInput);
}

}  // namespace
}  // namespace sf
