#pragma once
// A small RGB raster canvas for the plots in metrics/plot.h: clipped pixel blending, rectangles, thick
// lines, disks, and text in the metrics/font.h bitmap font. No anti-aliasing: plots aim at legibility.
#include <cstdint>
#include <string>

#include "io/png.h"

namespace nablagfn {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

class Canvas {
 public:
  Canvas(int width, int height, Rgb background);

  int width() const { return image_.width; }
  int height() const { return image_.height; }
  const Image& image() const { return image_; }  // 3 channels
  Rgb pixel(int x, int y) const;

  // Restricts drawing to [x0, x1) x [y0, y1) (within the canvas); reset_clip() lifts the restriction.
  void set_clip(int x0, int y0, int x1, int y1);
  void reset_clip();

  // Mixes colour into pixel (x, y) with opacity alpha in [0, 1]; pixels outside the clip are left alone.
  void blend(int x, int y, Rgb colour, float alpha = 1.0f);
  // Fills [x0, x1) x [y0, y1).
  void fill_rect(int x0, int y0, int x1, int y1, Rgb colour, float alpha = 1.0f);
  // 1-pixel border just inside [x0, x1) x [y0, y1).
  void outline_rect(int x0, int y0, int x1, int y1, Rgb colour);
  // Opaque segment drawn with a square pen `thickness` pixels wide, centred on the ideal line.
  void line(double x0, double y0, double x1, double y1, Rgb colour, int thickness = 1);
  // Pixels whose centres lie within radius of (cx, cy).
  void disk(double cx, double cy, double radius, Rgb colour, float alpha = 1.0f);

  // UTF-8 text, top-left of its first glyph cell at (x, y); glyphs are magnified by integer scale;
  // bold draws the text twice, one pixel apart. Height: kGlyphHeight * scale; width: text_width().
  void text(int x, int y, const std::string& text, Rgb colour, int scale, bool bold = false);
  // The same text rotated a quarter turn counter-clockwise (read bottom to top), bounding box
  // kGlyphHeight * scale wide and text_width() tall, top-left at (x, y).
  void text_up(int x, int y, const std::string& text, Rgb colour, int scale);

 private:
  Image image_;
  int clip_x0_ = 0, clip_y0_ = 0, clip_x1_ = 0, clip_y1_ = 0;
};

}  // namespace nablagfn
