// The heatmap PNG: a valid PNG of the image's size whose pixels decode back exactly, cell colours and text.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "engine/eval/heatmap.hpp"

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb_image.h>
#pragma GCC diagnostic pop

namespace ckv::test {
namespace {

bool has_pixel(const Image& img, Rgb colour) {
  for (int y = 0; y < img.height(); ++y)
    for (int x = 0; x < img.width(); ++x)
      if (img.pixel(x, y) == colour) return true;
  return false;
}

TEST(Heatmap, WritesAValidPngOfTheImagesSizeAndPixels) {
  HeatmapSpec spec;
  spec.title = "SmolLM2 | snapkv | budget 64";
  spec.x_axis = "context length (tokens)";
  spec.y_axis = "depth";
  spec.x_labels = {"512", "1024", "2048"};
  spec.y_labels = {"0.10", "0.90"};
  spec.values = {1.0, 0.0, 0.5, std::nan(""), 0.25, 1.0};
  const Image img = render_heatmap(spec);
  EXPECT_GE(img.width(), 3 * kHeatmapCellWidth + Image::text_width("0.90"));
  EXPECT_GE(img.width(), Image::text_width(spec.title));
  EXPECT_GE(img.height(), 2 * kHeatmapCellHeight + 4 * Image::kGlyphHeight);
  for (double v : spec.values) EXPECT_TRUE(has_pixel(img, score_colour(v))) << v;

  const auto path = std::filesystem::temp_directory_path() / "ckv_heatmap_test.png";
  img.write_png(path);
  int w = 0, h = 0, channels = 0;
  unsigned char* rgb = stbi_load(path.string().c_str(), &w, &h, &channels, 3);
  ASSERT_NE(rgb, nullptr) << stbi_failure_reason();
  EXPECT_EQ(w, img.width());
  EXPECT_EQ(h, img.height());
  size_t mismatches = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const Rgb p = img.pixel(x, y);
      const unsigned char* q = rgb + (size_t(y) * w + x) * 3;
      mismatches += p[0] != q[0] || p[1] != q[1] || p[2] != q[2];
    }
  EXPECT_EQ(mismatches, 0u);
  stbi_image_free(rgb);
  std::filesystem::remove(path);
  EXPECT_THROW(img.write_png("/nonexistent/dir/x.png"), std::runtime_error);
}

TEST(Heatmap, ColoursTextAndBadShapes) {
  EXPECT_EQ(score_colour(0.0), (Rgb{215, 48, 39}));
  EXPECT_EQ(score_colour(1.0), (Rgb{26, 152, 80}));
  EXPECT_EQ(score_colour(std::nan("")), (Rgb{200, 200, 200}));
  EXPECT_GT(score_colour(1.0)[1], score_colour(0.0)[1]);
  Image img(40, 10, {255, 255, 255});
  EXPECT_EQ(img.draw_text(1, 1, "A1", {0, 0, 0}), Image::text_width("A1"));
  EXPECT_EQ(img.pixel(1 + 2, 1), (Rgb{0, 0, 0}));        // top bar of A: ".###."
  EXPECT_EQ(img.pixel(1, 1), (Rgb{255, 255, 255}));
  EXPECT_EQ(img.pixel(1, 1 + 3), (Rgb{0, 0, 0}));        // A's middle bar
  EXPECT_THROW(Image(0, 5, {0, 0, 0}), std::invalid_argument);
  HeatmapSpec bad;
  bad.x_labels = {"1"};
  bad.y_labels = {"a", "b"};
  bad.values = {1.0};
  EXPECT_THROW(render_heatmap(bad), std::invalid_argument);
}

}  // namespace
}  // namespace ckv::test
