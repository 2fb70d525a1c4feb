// Raster primitives of metrics/canvas.h.
#include "metrics/canvas.h"

#include <algorithm>
#include <cmath>

#include "metrics/font.h"

namespace nablagfn {

Canvas::Canvas(int width, int height, Rgb background) : image_(Image::filled(width, height, 3, 0)) {
  reset_clip();
  fill_rect(0, 0, width, height, background);
}

Rgb Canvas::pixel(int x, int y) const {
  const uint8_t* p = image_.at(x, y);
  return {p[0], p[1], p[2]};
}

void Canvas::set_clip(int x0, int y0, int x1, int y1) {
  clip_x0_ = std::max(0, x0), clip_y0_ = std::max(0, y0);
  clip_x1_ = std::min(width(), x1), clip_y1_ = std::min(height(), y1);
}

void Canvas::reset_clip() { set_clip(0, 0, width(), height()); }

void Canvas::blend(int x, int y, Rgb colour, float alpha) {
  if (x < clip_x0_ || x >= clip_x1_ || y < clip_y0_ || y >= clip_y1_) return;
  uint8_t* p = image_.at(x, y);
  const uint8_t src[3] = {colour.r, colour.g, colour.b};
  for (int c = 0; c < 3; ++c) p[c] = static_cast<uint8_t>(std::lround(p[c] + alpha * (src[c] - p[c])));
}

void Canvas::fill_rect(int x0, int y0, int x1, int y1, Rgb colour, float alpha) {
  for (int y = std::max(y0, clip_y0_); y < std::min(y1, clip_y1_); ++y)
    for (int x = std::max(x0, clip_x0_); x < std::min(x1, clip_x1_); ++x) blend(x, y, colour, alpha);
}

void Canvas::outline_rect(int x0, int y0, int x1, int y1, Rgb colour) {
  fill_rect(x0, y0, x1, y0 + 1, colour);
  fill_rect(x0, y1 - 1, x1, y1, colour);
  fill_rect(x0, y0, x0 + 1, y1, colour);
  fill_rect(x1 - 1, y0, x1, y1, colour);
}

void Canvas::line(double x0, double y0, double x1, double y1, Rgb colour, int thickness) {
  // Steps of at most one pixel along the longer axis; the pen's top-left sits thickness/2 before the point.
  const int n_steps = std::max(1, static_cast<int>(std::ceil(std::max(std::fabs(x1 - x0), std::fabs(y1 - y0)))));
  const int half = (thickness - 1) / 2;
  for (int i = 0; i <= n_steps; ++i) {
    const double t = static_cast<double>(i) / n_steps;
    const int x = static_cast<int>(std::lround(x0 + t * (x1 - x0))) - half;
    const int y = static_cast<int>(std::lround(y0 + t * (y1 - y0))) - half;
    fill_rect(x, y, x + thickness, y + thickness, colour);
  }
}

void Canvas::disk(double cx, double cy, double radius, Rgb colour, float alpha) {
  const int x_lo = static_cast<int>(std::floor(cx - radius)), x_hi = static_cast<int>(std::ceil(cx + radius));
  const int y_lo = static_cast<int>(std::floor(cy - radius)), y_hi = static_cast<int>(std::ceil(cy + radius));
  for (int y = y_lo; y <= y_hi; ++y)
    for (int x = x_lo; x <= x_hi; ++x) {
      const double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
      if (dx * dx + dy * dy <= radius * radius) blend(x, y, colour, alpha);
    }
}

void Canvas::text(int x, int y, const std::string& text, Rgb colour, int scale, bool bold) {
  int pen_x = x;
  for (char32_t code_point : decode_utf8(text)) {
    const char* const* rows = glyph_or_box(code_point);
    for (int gy = 0; gy < kGlyphHeight; ++gy)
      for (int gx = 0; gx < kGlyphWidth; ++gx) {
        if (rows[gy][gx] != '#') continue;
        const int px = pen_x + gx * scale, py = y + gy * scale;
        fill_rect(px, py, px + scale + (bold ? 1 : 0), py + scale, colour);
      }
    pen_x += kGlyphAdvance * scale;
  }
}

void Canvas::text_up(int x, int y, const std::string& text, Rgb colour, int scale) {
  // Text coordinates (u right, v down) map to (x + v, y + width - 1 - u) on the canvas.
  const int width = text_width(text, scale);
  int pen_u = 0;
  for (char32_t code_point : decode_utf8(text)) {
    const char* const* rows = glyph_or_box(code_point);
    for (int gy = 0; gy < kGlyphHeight; ++gy)
      for (int gx = 0; gx < kGlyphWidth; ++gx) {
        if (rows[gy][gx] != '#') continue;
        const int u = pen_u + gx * scale, v = gy * scale;
        fill_rect(x + v, y + width - u - scale, x + v + scale, y + width - u, colour);
      }
    pen_u += kGlyphAdvance * scale;
  }
}

}  // namespace nablagfn
