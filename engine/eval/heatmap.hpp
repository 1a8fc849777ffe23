// A labelled heatmap (e.g. NIAH score over context length x needle depth) drawn into an Image.
#pragma once
#include <string>
#include <vector>

#include "engine/eval/image.hpp"

namespace ckv {

struct HeatmapSpec {
  std::string title;
  std::string x_axis, y_axis;
  std::vector<std::string> x_labels, y_labels;
  std::vector<double> values;  // [y][x] row-major, in [0, 1]; NaN: no value (grey)
};

// Red (0) through yellow to green (1).
Rgb score_colour(double value);
// Cells of kHeatmapCellWidth x kHeatmapCellHeight pixels, the value printed in each, axis labels, the title on
// top and a colour legend. Throws std::invalid_argument when values does not match the labels.
Image render_heatmap(const HeatmapSpec& spec);
constexpr int kHeatmapCellWidth = 44, kHeatmapCellHeight = 22;

}  // namespace ckv
