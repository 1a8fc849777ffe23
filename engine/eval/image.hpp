// A small RGB image with rectangle fills and text in a built-in 5x7 bitmap font, written as PNG (stb_image_write).
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

namespace ckv {

using Rgb = std::array<uint8_t, 3>;

class Image {
 public:
  Image(int width, int height, Rgb background);
  int width() const { return width_; }
  int height() const { return height_; }
  Rgb pixel(int x, int y) const;

  void fill_rect(int x, int y, int w, int h, Rgb colour);  // clipped to the image
  // Text in the 5x7 font (letters drawn as capitals; characters without a glyph as a box), `scale` pixels per
  // font pixel, top-left at (x, y). Returns the width drawn.
  int draw_text(int x, int y, std::string_view text, Rgb colour, int scale = 1);
  static int text_width(std::string_view text, int scale = 1);
  static constexpr int kGlyphHeight = 7;

  // Throws std::runtime_error naming the file when it cannot be written.
  void write_png(const std::filesystem::path& path) const;

 private:
  int width_, height_;
  std::vector<uint8_t> rgb_;
};

}  // namespace ckv
