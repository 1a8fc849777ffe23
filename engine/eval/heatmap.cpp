#include "heatmap.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace ckv {

namespace {

constexpr Rgb kWhite{255, 255, 255}, kInk{20, 20, 20}, kGrey{200, 200, 200};
constexpr int kPad = 8, kLine = Image::kGlyphHeight + 6;

uint8_t mix(uint8_t a, uint8_t b, double t) { return uint8_t(std::lround(a + (double(b) - a) * t)); }

std::string value_text(double v) {
  if (std::isnan(v)) return "-";
  if (v == 0.0 || v == 1.0) return v == 0.0 ? "0" : "1";
  char text[16];
  std::snprintf(text, sizeof text, "%.2f", v);
  return text;
}

}  // namespace

Rgb score_colour(double v) {
  if (std::isnan(v)) return kGrey;
  v = std::clamp(v, 0.0, 1.0);
  constexpr Rgb red{215, 48, 39}, yellow{254, 224, 139}, green{26, 152, 80};
  if (v < 0.5) return {mix(red[0], yellow[0], 2 * v), mix(red[1], yellow[1], 2 * v), mix(red[2], yellow[2], 2 * v)};
  const double t = 2 * v - 1;
  return {mix(yellow[0], green[0], t), mix(yellow[1], green[1], t), mix(yellow[2], green[2], t)};
}

Image render_heatmap(const HeatmapSpec& spec) {
  const int nx = int(spec.x_labels.size()), ny = int(spec.y_labels.size());
  if (nx == 0 || ny == 0 || spec.values.size() != size_t(nx) * ny)
    throw std::invalid_argument("heatmap: " + std::to_string(spec.values.size()) + " values for " +
                                std::to_string(nx) + " x " + std::to_string(ny) + " labels");
  int label_w = Image::text_width(spec.y_axis);
  for (const auto& l : spec.y_labels) label_w = std::max(label_w, Image::text_width(l));
  const int grid_x = kPad + label_w + kPad, grid_y = kPad + 2 * kLine + kLine;
  const int grid_w = nx * kHeatmapCellWidth, grid_h = ny * kHeatmapCellHeight;
  const int legend_w = 16 + kPad + Image::text_width("1");
  const int width = std::max(grid_x + grid_w + 2 * kPad + legend_w, Image::text_width(spec.title) + 2 * kPad);
  const int height = grid_y + grid_h + 2 * kLine + kPad;
  Image img(width, height, kWhite);

  img.draw_text(kPad, kPad, spec.title, kInk);
  img.draw_text(kPad, grid_y - kLine, spec.y_axis, kInk);
  for (int y = 0; y < ny; ++y) {
    const int cy = grid_y + y * kHeatmapCellHeight;
    img.draw_text(grid_x - kPad - Image::text_width(spec.y_labels[y]), cy + (kHeatmapCellHeight - 7) / 2,
                  spec.y_labels[y], kInk);
    for (int x = 0; x < nx; ++x) {
      const double v = spec.values[size_t(y) * nx + x];
      const int cx = grid_x + x * kHeatmapCellWidth;
      img.fill_rect(cx, cy, kHeatmapCellWidth - 1, kHeatmapCellHeight - 1, score_colour(v));
      const std::string text = value_text(v);
      img.draw_text(cx + (kHeatmapCellWidth - Image::text_width(text)) / 2, cy + (kHeatmapCellHeight - 7) / 2, text,
                    kInk);
    }
  }
  for (int x = 0; x < nx; ++x)
    img.draw_text(grid_x + x * kHeatmapCellWidth + (kHeatmapCellWidth - Image::text_width(spec.x_labels[x])) / 2,
                  grid_y + grid_h + 4, spec.x_labels[x], kInk);
  img.draw_text(grid_x + (grid_w - Image::text_width(spec.x_axis)) / 2, grid_y + grid_h + 4 + kLine, spec.x_axis,
                kInk);

  // Legend: a vertical colour bar from 1 (top) to 0 (bottom).
  const int lx = grid_x + grid_w + 2 * kPad;
  for (int i = 0; i < grid_h; ++i)
    img.fill_rect(lx, grid_y + i, 16, 1, score_colour(1.0 - double(i) / std::max(grid_h - 1, 1)));
  img.draw_text(lx + 16 + 4, grid_y, "1", kInk);
  img.draw_text(lx + 16 + 4, grid_y + grid_h - 7, "0", kInk);
  return img;
}

}  // namespace ckv
