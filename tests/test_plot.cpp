// Plots: each kind writes a PNG of the requested size with its data drawn in the plot area; axis ticks
// are "nice" and print compactly; the bitmap font renders every glyph it claims, each distinct.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/error.h"
#include "io/png.h"
#include "metrics/canvas.h"
#include "metrics/font.h"
#include "metrics/plot.h"
#include "metrics/plot_frame.h"

using namespace nablagfn;

namespace {
std::string plot_tmp(const std::string& name) { return ::testing::TempDir() + "/" + name; }

// Pixels of exactly colour c inside [x0, x1) x [y0, y1).
int plot_count_colour(const Image& image, Rgb c, int x0, int y0, int x1, int y1) {
  int n = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) {
      const uint8_t* p = image.at(x, y);
      n += p[0] == c.r && p[1] == c.g && p[2] == c.b ? 1 : 0;
    }
  return n;
}

// Pixels that are not white in the central half of the image (where the plot area always is).
int plot_count_centre_ink(const Image& image) {
  int n = 0;
  for (int y = image.height / 4; y < 3 * image.height / 4; ++y)
    for (int x = image.width / 4; x < 3 * image.width / 4; ++x) {
      const uint8_t* p = image.at(x, y);
      n += p[0] != 255 || p[1] != 255 || p[2] != 255 ? 1 : 0;
    }
  return n;
}

Image plot_read_checked(const std::string& path, int width, int height) {
  Image image = read_png(path);
  EXPECT_EQ(image.width, width);
  EXPECT_EQ(image.height, height);
  EXPECT_EQ(image.channels, 3);
  return image;
}

const Rgb kFirstColour = plot_detail::series_colour(0), kSecondColour = plot_detail::series_colour(1);
}  // namespace

TEST(PlotFont, EveryGlyphIsWellFormedAndDistinct) {
  const std::vector<char32_t> code_points = font_code_points();
  EXPECT_GE(code_points.size(), 95u + 13u);  // printable ASCII and the symbols
  for (char32_t c = 32; c < 127; ++c) EXPECT_NE(find_glyph(c), nullptr) << "ASCII " << static_cast<int>(c);
  std::set<std::string> bitmaps;
  for (char32_t c : code_points) {
    const char* const* rows = find_glyph(c);
    std::string bitmap;
    for (int r = 0; r < kGlyphHeight; ++r) {
      ASSERT_EQ(std::string(rows[r]).size(), static_cast<size_t>(kGlyphWidth)) << "glyph " << static_cast<int>(c);
      for (int x = 0; x < kGlyphWidth; ++x) ASSERT_TRUE(rows[r][x] == ' ' || rows[r][x] == '#');
      bitmap += rows[r];
    }
    EXPECT_EQ(bitmap.find('#') == std::string::npos, c == U' ') << "glyph " << static_cast<int>(c);
    EXPECT_TRUE(bitmaps.insert(bitmap).second) << "glyph " << static_cast<int>(c) << " repeats another";
  }
  EXPECT_EQ(find_glyph(0x4E2D), nullptr);
  EXPECT_NE(glyph_or_box(0x4E2D), nullptr);
}

TEST(PlotFont, RendersEveryGlyphInsideItsCell) {
  for (char32_t c : font_code_points()) {
    const int scale = 2;
    Canvas canvas(kGlyphAdvance * scale + 4, kGlyphHeight * scale + 4, Rgb{255, 255, 255});
    std::u32string one(1, c);
    std::string utf8;  // encode c as UTF-8 (up to 3 bytes for the BMP symbols here)
    if (c < 0x80) {
      utf8 = std::string(1, static_cast<char>(c));
    } else if (c < 0x800) {
      utf8 = {static_cast<char>(0xC0 | (c >> 6)), static_cast<char>(0x80 | (c & 0x3F))};
    } else {
      utf8 = {static_cast<char>(0xE0 | (c >> 12)), static_cast<char>(0x80 | ((c >> 6) & 0x3F)),
              static_cast<char>(0x80 | (c & 0x3F))};
    }
    ASSERT_EQ(decode_utf8(utf8), one);
    canvas.text(2, 2, utf8, Rgb{0, 0, 0}, scale);
    int expected = 0;
    for (int r = 0; r < kGlyphHeight; ++r)
      for (int x = 0; x < kGlyphWidth; ++x) expected += find_glyph(c)[r][x] == '#' ? scale * scale : 0;
    EXPECT_EQ(plot_count_colour(canvas.image(), Rgb{0, 0, 0}, 2, 2, 2 + kGlyphWidth * scale, 2 + kGlyphHeight * scale),
              expected)
        << "glyph " << static_cast<int>(c);
    EXPECT_EQ(plot_count_colour(canvas.image(), Rgb{0, 0, 0}, 0, 0, canvas.width(), canvas.height()), expected);
  }
}

TEST(PlotFont, DecodesUtf8AndMeasuresText) {
  EXPECT_EQ(decode_utf8("\xE2\x88\x87-DB \xCE\xB2"), std::u32string(U"\u2207-DB \u03B2"));
  EXPECT_EQ(decode_utf8("a\xFF"
                        "b"),
            std::u32string(U"a\uFFFDb"));
  EXPECT_EQ(decode_utf8("\xE2\x88"), std::u32string(U"\uFFFD\uFFFD"));  // truncated sequence
  EXPECT_EQ(text_width("", 2), 0);
  EXPECT_EQ(text_width("ab", 1), 2 * kGlyphAdvance - 1);
  EXPECT_EQ(text_width("\xCE\xB2=1", 3), (3 * kGlyphAdvance - 1) * 3);
}

TEST(PlotAxis, TicksAreNiceAndPrintCompactly) {
  const plot_detail::Axis unit = plot_detail::linear_axis(0, 1, 6, 0, 0);
  EXPECT_EQ(unit.labels, (std::vector<std::string>{"0", "0.2", "0.4", "0.6", "0.8", "1"}));
  const plot_detail::Axis quarter = plot_detail::linear_axis(-0.5, 0.5, 5, 0, 0);
  EXPECT_EQ(quarter.labels, (std::vector<std::string>{"-0.5", "-0.25", "0", "0.25", "0.5"}));
  EXPECT_EQ(plot_detail::format_tick(150000, 50000), "1.5e5");
  EXPECT_EQ(plot_detail::format_tick(2e-7, 1e-7), "2e-7");
  EXPECT_EQ(plot_detail::format_tick(1e-17, 0.1), "0");
  const plot_detail::Axis flat = plot_detail::linear_axis(3, 3, 5, 0, 0);  // one value: widened around it
  EXPECT_LT(flat.lo, 3);
  EXPECT_GT(flat.hi, 3);
  const plot_detail::Axis decades = plot_detail::log_axis(1e-3, 10, 8, 0);
  EXPECT_EQ(decades.labels, (std::vector<std::string>{"0.001", "0.01", "0.1", "1", "10"}));
  EXPECT_NEAR(decades.fraction(0.1), 0.5, 1e-12);
  EXPECT_EQ(plot_detail::log_axis(1e-9, 1e-6, 8, 0).labels.front(), "1e-9");
}

TEST(Plot, LinePlotDrawsCurvesAndBands) {
  std::vector<double> xs, ys, sds, ys2;
  for (int i = 0; i <= 50; ++i) {
    xs.push_back(i);
    ys.push_back(1 - std::exp(-i / 10.0));
    sds.push_back(0.1);
    ys2.push_back(0.5 + 0.3 * std::sin(i / 5.0));
  }
  ys2[20] = NAN;  // breaks the second line
  const std::string path = plot_tmp("plot_line.png");
  line_plot(path, "reward during training", "epoch", "reward",
            {{"\xE2\x88\x87-DB", xs, ys, sds}, {"ReFL", xs, ys2, {}}});
  const Image image = plot_read_checked(path, 800, 560);
  EXPECT_GT(plot_count_colour(image, kFirstColour, 0, 0, image.width, image.height), 300);
  EXPECT_GT(plot_count_colour(image, kSecondColour, 0, 0, image.width, image.height), 300);
  EXPECT_GT(plot_count_centre_ink(image), 2000);  // the shaded band

  PlotOptions log_options;
  log_options.log_y = true;
  log_options.width = 400, log_options.height = 300;
  const std::string log_path = plot_tmp("plot_line_log.png");
  line_plot(log_path, "loss", "update", "loss", {{"loss", {1, 2, 3}, {1e-3, 1e-2, 5}, {}}}, log_options);
  plot_read_checked(log_path, 400, 300);
}

TEST(Plot, LinePlotWithoutDataStillDrawsAxes) {
  const std::string path = plot_tmp("plot_line_empty.png");
  line_plot(path, "nothing yet", "epoch", "reward", {});
  plot_read_checked(path, 800, 560);
  line_plot(path, "", "", "", {{"one point", {3}, {0.5}, {}}});
  const Image image = plot_read_checked(path, 800, 560);
  EXPECT_GT(plot_count_colour(image, kFirstColour, 0, 0, image.width, image.height), 10);
}

TEST(Plot, ScatterDensityPlotDrawsDensityPointsAndMarkers) {
  DensityGrid grid;
  grid.nx = 41, grid.ny = 31, grid.x_min = -4, grid.x_max = 4, grid.y_min = -3, grid.y_max = 3;
  const float modes[] = {-2, -1, 2, 1};
  for (int j = 0; j < grid.ny; ++j)
    for (int i = 0; i < grid.nx; ++i) {
      const double x = grid.x_min + i * 8.0 / 40, y = grid.y_min + j * 6.0 / 30;
      double p = 0;
      for (int m = 0; m < 2; ++m)
        p += std::exp(-0.5 *
                      ((x - modes[2 * m]) * (x - modes[2 * m]) + (y - modes[2 * m + 1]) * (y - modes[2 * m + 1])));
      grid.values.push_back(static_cast<float>(p));
    }
  std::vector<float> points;
  for (int k = 0; k < 200; ++k) {
    const int m = k % 2;
    points.push_back(modes[2 * m] + 0.8f * std::sin(k * 1.7f));
    points.push_back(modes[2 * m + 1] + 0.8f * std::cos(k * 2.3f));
  }
  points.push_back(100.0f), points.push_back(0.0f);  // outside the box: not drawn
  const std::string path = plot_tmp("plot_density.png");
  scatter_density_plot(path, "samples over the target density", points, grid, {-2, -1, 2, 1});
  const Image image = plot_read_checked(path, 800, 560);
  EXPECT_GT(plot_count_colour(image, Rgb{250, 251, 253}, 0, 0, image.width, image.height), 1000);  // lowest band
  EXPECT_GT(plot_count_centre_ink(image), 50000);
  EXPECT_THROW(scatter_density_plot(path, "", {1.0f}, grid), Error);
  grid.values.pop_back();
  EXPECT_THROW(scatter_density_plot(path, "", points, grid), Error);
}

TEST(Plot, BarPlotDrawsGroupedBars) {
  const std::string path = plot_tmp("plot_bar.png");
  bar_plot(path, "mass per mode", {"mode 0", "mode 1", "mode 2", "mode 3"},
           {{"samples", {0.3, 0.2, 0.4, 0.1}}, {"exact", {0.25, 0.25, 0.25, 0.25}}}, "mass");
  const Image image = plot_read_checked(path, 800, 560);
  EXPECT_GT(plot_count_colour(image, kFirstColour, 0, 0, image.width, image.height), 5000);
  EXPECT_GT(plot_count_colour(image, kSecondColour, 0, 0, image.width, image.height), 5000);
  PlotOptions small;
  small.width = 320, small.height = 240;
  bar_plot(path, "negative and long names", {"T-shirt/top", "Trouser", "Pullover", "Ankle boot"},
           {{"", {-0.5, 1, 2, -1}}}, "", small);
  const Image small_image = plot_read_checked(path, 320, 240);
  EXPECT_GT(plot_count_colour(small_image, kFirstColour, 0, 0, small_image.width, small_image.height), 500);
  EXPECT_THROW(bar_plot(path, "", {"a", "b"}, {{"g", {1}}}), Error);
}

TEST(Plot, ScatterPlotDrawsLabelledPoints) {
  const std::string path = plot_tmp("plot_scatter.png");
  scatter_plot(
      path, "reward vs diversity", "diversity", "reward",
      {{"\xE2\x88\x87-DB", {0.8, 0.7, 0.55}, {0.3, 0.5, 0.7}, {"\xCE\xB2=1", "\xCE\xB2=10", "\xCE\xB2=100"}, true},
       {"DRaFT", {0.4, 0.2}, {0.6, 0.9}, {}, false}});
  const Image image = plot_read_checked(path, 800, 560);
  EXPECT_GT(plot_count_colour(image, kFirstColour, 0, 0, image.width, image.height), 300);
  EXPECT_GT(plot_count_colour(image, kSecondColour, 0, 0, image.width, image.height), 100);
  PlotOptions log_options;
  log_options.log_y = true;
  EXPECT_THROW(scatter_plot(path, "", "", "", {{"bad", {1, 2}, {1, -1}, {}, false}}, log_options), Error);
  EXPECT_THROW(scatter_plot(path, "", "", "", {{"bad", {1, 2}, {1}, {}, false}}), Error);
  PlotOptions tiny;
  tiny.width = 10;
  EXPECT_THROW(scatter_plot(path, "", "", "", {}, tiny), Error);
}
