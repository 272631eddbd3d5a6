// A minimal SVG line chart: categorical x axis, two y axes (left and right
// series), written by hand so the planner needs no plotting library.
#pragma once

#include <string>
#include <vector>

namespace tandem::plan {

struct SvgSeries {
  std::string name;
  std::vector<double> y;  // one per x label; NaN leaves a gap
  std::string color;
  bool right_axis = false;
};

struct SvgChart {
  std::string title;
  std::string x_label, y_left_label, y_right_label;
  std::vector<std::string> x_labels;
  std::vector<SvgSeries> series;
  std::vector<bool> highlight;  // per x: shaded when true (e.g. the SLO is met)
  std::string highlight_label;
};

std::string render_svg(const SvgChart& chart);

}  // namespace tandem::plan
