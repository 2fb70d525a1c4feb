// Axes, layout, legend and palette shared by the plots; see metrics/plot_frame.h.
#include "metrics/plot_frame.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace nablagfn::plot_detail {

Rgb series_colour(size_t i) {
  static const Rgb kPalette[] = {{31, 119, 180}, {255, 127, 14},  {44, 160, 44},   {214, 39, 40},  {148, 103, 189},
                                 {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  return kPalette[i % (sizeof(kPalette) / sizeof(kPalette[0]))];
}

double Axis::display(double v) const { return log ? std::log10(v) : v; }

double Axis::fraction(double v) const { return (display(v) - lo) / (hi - lo); }

double Frame::px(double data_x) const { return x0 + x.fraction(data_x) * (width() - 1); }

double Frame::py(double data_y) const { return (y1 - 1) - y.fraction(data_y) * (height() - 1); }

// "1.5e+05" -> "1.5e5", "2e-07" -> "2e-7".
std::string plot_compact_exponent(std::string s) {
  const size_t e = s.find('e');
  if (e == std::string::npos) return s;
  std::string mantissa = s.substr(0, e), exponent = s.substr(e + 1);
  const bool negative = !exponent.empty() && exponent[0] == '-';
  if (!exponent.empty() && (exponent[0] == '+' || exponent[0] == '-')) exponent.erase(0, 1);
  exponent.erase(0, std::min(exponent.find_first_not_of('0'), exponent.size() - 1));
  return mantissa + "e" + (negative ? "-" : "") + exponent;
}

// The fewest digits that reproduce value to within resolution, fixed-point or scientific.
std::string plot_format(double value, double resolution, bool scientific) {
  if (std::fabs(value) <= resolution) return "0";
  char buffer[64];
  for (int digits = 0; digits <= 10; ++digits) {
    std::snprintf(buffer, sizeof(buffer), scientific ? "%.*e" : "%.*f", digits, value);
    if (std::fabs(std::strtod(buffer, nullptr) - value) <= resolution) break;
  }
  return plot_compact_exponent(buffer);
}

std::string format_value(double value, double resolution) {
  return plot_format(value, resolution, std::fabs(value) >= 1e5 || resolution < 1e-7);
}

std::string format_tick(double value, double step) {
  return plot_format(value, 1e-6 * step, std::max(std::fabs(value), step) >= 1e5 || step < 1e-5);
}

// Smallest of 1, 2, 2.5, 5 (x 10^k) at least raw.
double plot_nice_step(double raw) {
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0}) {
    if (m * power >= raw * (1 - 1e-9)) return m * power;
  }
  return 10 * power;
}

Axis linear_axis(double lo, double hi, int max_ticks, double pad_lo, double pad_hi) {
  if (!(hi > lo)) {
    const double widen = lo == 0 ? 1.0 : std::fabs(lo) * 0.1;
    lo -= widen, hi += widen;
  }
  const double span = hi - lo;
  Axis axis;
  axis.lo = lo - pad_lo * span, axis.hi = hi + pad_hi * span;
  // Ticks are whole multiples of step, so they print exactly and 0 is one when in range; a step that
  // leaves fewer than two ticks is halved.
  double step = plot_nice_step((axis.hi - axis.lo) / std::max(1, max_ticks - 1));
  for (int attempt = 0; attempt < 4 && axis.ticks.size() < 2; ++attempt, step = plot_nice_step(step / 2.1)) {
    axis.ticks.clear(), axis.labels.clear();
    for (double k = std::ceil(axis.lo / step - 1e-9); k * step <= axis.hi + 1e-9 * step; ++k) {
      const double tick = std::fabs(k) < 0.5 ? 0.0 : k * step;
      axis.ticks.push_back(tick);
      axis.labels.push_back(format_tick(tick, step));
    }
  }
  return axis;
}

Axis log_axis(double lo, double hi, int max_ticks, double pad) {
  Axis axis;
  axis.log = true;
  double lo10 = std::log10(lo), hi10 = std::log10(hi);
  if (!(hi10 > lo10)) lo10 -= 0.5, hi10 += 0.5;
  const double span = hi10 - lo10;
  axis.lo = lo10 - pad * span, axis.hi = hi10 + pad * span;
  const int first = static_cast<int>(std::ceil(axis.lo - 1e-9)), last = static_cast<int>(std::floor(axis.hi + 1e-9));
  const int n_decades = last - first + 1;
  const int every = std::max(1, (n_decades + max_ticks - 1) / std::max(1, max_ticks));
  std::vector<double> candidates;
  for (int k = first; k <= last; k += every) candidates.push_back(std::pow(10.0, k));
  if (n_decades < 3) {  // short range: 2 and 5 between the decades
    candidates.clear();
    for (int k = first - 1; k <= last; ++k)
      for (double m : {1.0, 2.0, 5.0}) {
        const double v = m * std::pow(10.0, k);
        if (std::log10(v) >= axis.lo - 1e-9 && std::log10(v) <= axis.hi + 1e-9) candidates.push_back(v);
      }
  }
  if (candidates.size() < 2) {  // within a factor of ~2: plain linear ticks placed on the log axis
    Axis linear = linear_axis(std::pow(10.0, axis.lo), std::pow(10.0, axis.hi), max_ticks, 0, 0);
    for (size_t i = 0; i < linear.ticks.size(); ++i) {
      if (linear.ticks[i] <= 0) continue;
      axis.ticks.push_back(linear.ticks[i]);
      axis.labels.push_back(linear.labels[i]);
    }
    return axis;
  }
  for (double v : candidates) {
    const int k = static_cast<int>(std::floor(std::log10(v) + 1e-9));
    char buffer[32];
    if (k >= -3 && k <= 4)
      std::snprintf(buffer, sizeof(buffer), "%.*f", std::max(0, -k), v);
    else
      std::snprintf(buffer, sizeof(buffer), "%.0e", v);
    axis.ticks.push_back(v);
    axis.labels.push_back(plot_compact_exponent(buffer));
  }
  return axis;
}

TextMetrics text_metrics_for(int width, int height) {
  const int scale = width >= 480 && height >= 320 ? 2 : 1;
  return {scale, kGlyphHeight * scale};
}

int top_margin(const FrameSpec& spec, const TextMetrics& tm) {
  return spec.title.empty() ? 2 * tm.glyph / 3 + 8 : 12 + tm.glyph + 16;
}

int bottom_margin(const FrameSpec& spec, const TextMetrics& tm) {
  return tm.tick + 6 + spec.x_label_band + (spec.x_label.empty() ? 0 : 10 + tm.glyph) + 12;
}

int left_margin(const FrameSpec& spec, const TextMetrics& tm, const Axis& y) {
  int widest = 0;
  for (const std::string& label : y.labels) widest = std::max(widest, text_width(label, tm.scale));
  return 12 + (spec.y_label.empty() ? 0 : tm.glyph + 10) + widest + 6 + tm.tick;
}

void draw_grid(Canvas& canvas, const Frame& frame, bool vertical_lines) {
  for (double t : frame.y.ticks) {
    const int y = static_cast<int>(std::lround(frame.py(t)));
    canvas.fill_rect(frame.x0, y, frame.x1, y + 1, kGridColour);
  }
  if (!vertical_lines) return;
  for (double t : frame.x.ticks) {
    const int x = static_cast<int>(std::lround(frame.px(t)));
    canvas.fill_rect(x, frame.y0, x + 1, frame.y1, kGridColour);
  }
}

void draw_axes(Canvas& canvas, const Frame& frame, const FrameSpec& spec, const TextMetrics& tm, bool x_tick_labels) {
  canvas.reset_clip();
  canvas.outline_rect(frame.x0 - 1, frame.y0 - 1, frame.x1 + 1, frame.y1 + 1, kFrameColour);
  const int cap = kGlyphCapHeight * tm.scale;
  for (size_t i = 0; i < frame.y.ticks.size(); ++i) {
    const int y = static_cast<int>(std::lround(frame.py(frame.y.ticks[i])));
    canvas.fill_rect(frame.x0 - 1 - tm.tick, y, frame.x0 - 1, y + 1, kFrameColour);
    const std::string& label = frame.y.labels[i];
    canvas.text(frame.x0 - 1 - tm.tick - 6 - text_width(label, tm.scale), y - cap / 2, label, kInk, tm.scale);
  }
  for (size_t i = 0; i < frame.x.ticks.size(); ++i) {
    const int x = static_cast<int>(std::lround(frame.px(frame.x.ticks[i])));
    canvas.fill_rect(x, frame.y1 + 1, x + 1, frame.y1 + 1 + tm.tick, kFrameColour);
    if (!x_tick_labels) continue;
    const std::string& label = frame.x.labels[i];
    canvas.text(x - text_width(label, tm.scale) / 2, frame.y1 + 1 + tm.tick + 6, label, kInk, tm.scale);
  }
  if (!spec.x_label.empty()) {
    const int y = frame.y1 + 1 + tm.tick + 6 + spec.x_label_band + 10;
    canvas.text((frame.x0 + frame.x1 - text_width(spec.x_label, tm.scale)) / 2, y, spec.x_label, kInk, tm.scale);
  }
  if (!spec.y_label.empty()) {
    const int length = text_width(spec.y_label, tm.scale);
    canvas.text_up(12, std::max(0, (frame.y0 + frame.y1 - length) / 2), spec.y_label, kInk, tm.scale);
  }
  if (!spec.title.empty()) {
    // A title too wide for the canvas drops to the small font.
    const int scale = text_width(spec.title, tm.scale) + 1 <= canvas.width() - 16 ? tm.scale : 1;
    const int x = std::max(4, (canvas.width() - text_width(spec.title, scale)) / 2);
    canvas.text(x, 12 + (tm.scale - scale) * kGlyphHeight / 2, spec.title, kInk, scale, true);
  }
}

void draw_no_data(Canvas& canvas, const Frame& frame, const TextMetrics& tm) {
  const std::string message = "no data";
  canvas.text((frame.x0 + frame.x1 - text_width(message, tm.scale)) / 2, (frame.y0 + frame.y1 - tm.glyph) / 2, message,
              kFrameColour, tm.scale);
}

void draw_cross(Canvas& canvas, double x, double y, int arm, Rgb colour, int thickness) {
  for (auto [pen, ink] : {std::pair<int, Rgb>{thickness + 2, kBackground}, std::pair<int, Rgb>{thickness, colour}}) {
    canvas.line(x - arm, y - arm, x + arm, y + arm, ink, pen);
    canvas.line(x - arm, y + arm, x + arm, y - arm, ink, pen);
  }
}

// Pixels of [x0, x1) x [y0, y1) with some dark ink: what a legend placed there would hide.
int plot_count_ink(const Canvas& canvas, int x0, int y0, int x1, int y1) {
  int n = 0;
  for (int y = std::max(0, y0); y < std::min(canvas.height(), y1); ++y)
    for (int x = std::max(0, x0); x < std::min(canvas.width(), x1); ++x) {
      const Rgb p = canvas.pixel(x, y);
      n += std::min({p.r, p.g, p.b}) < 200 ? 1 : 0;
    }
  return n;
}

void draw_legend(Canvas& canvas, const Frame& frame, const std::vector<LegendEntry>& entries, const TextMetrics& tm) {
  std::vector<const LegendEntry*> shown;
  int widest = 0;
  for (const LegendEntry& entry : entries) {
    if (entry.name.empty()) continue;
    shown.push_back(&entry);
    widest = std::max(widest, text_width(entry.name, tm.scale));
  }
  if (shown.empty()) return;
  const int row = tm.glyph + 6, swatch = 3 * tm.glyph / 2, inset = 8;
  const int box_w = 10 + swatch + 8 + widest + 10, box_h = 8 + static_cast<int>(shown.size()) * row;
  // Corners in order of preference: top right, top left, bottom right, bottom left.
  const int xs[] = {frame.x1 - inset - box_w, frame.x0 + inset, frame.x1 - inset - box_w, frame.x0 + inset};
  const int ys[] = {frame.y0 + inset, frame.y0 + inset, frame.y1 - inset - box_h, frame.y1 - inset - box_h};
  int best = 0, best_ink = std::numeric_limits<int>::max();
  for (int c = 0; c < 4; ++c) {
    const int ink = plot_count_ink(canvas, xs[c], ys[c], xs[c] + box_w, ys[c] + box_h);
    if (ink < best_ink) best = c, best_ink = ink;
  }
  const int x = xs[best], y = ys[best];
  canvas.set_clip(frame.x0, frame.y0, frame.x1, frame.y1);
  canvas.fill_rect(x, y, x + box_w, y + box_h, kBackground, 0.88f);
  canvas.outline_rect(x, y, x + box_w, y + box_h, Rgb{200, 200, 200});
  for (size_t i = 0; i < shown.size(); ++i) {
    const LegendEntry& entry = *shown[i];
    const int row_y = y + 6 + static_cast<int>(i) * row;
    const double mid_y = row_y + kGlyphCapHeight * tm.scale / 2.0, mid_x = x + 10 + swatch / 2.0;
    switch (entry.kind) {
      case LegendKind::Line:
        canvas.line(x + 10, mid_y, x + 10 + swatch, mid_y, entry.colour, tm.scale);
        break;
      case LegendKind::Marker:
        canvas.disk(mid_x, mid_y, 2.0 * tm.scale + 0.5, entry.colour);
        break;
      case LegendKind::Cross:
        draw_cross(canvas, mid_x, mid_y, 3 * tm.scale, entry.colour, tm.scale);
        break;
      case LegendKind::Box:
        canvas.fill_rect(x + 10, row_y, x + 10 + swatch, row_y + kGlyphCapHeight * tm.scale, entry.colour);
        break;
    }
    canvas.text(x + 10 + swatch + 8, row_y, entry.name, kInk, tm.scale);
  }
  canvas.reset_clip();
}

}  // namespace nablagfn::plot_detail
