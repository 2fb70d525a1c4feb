#pragma once
// The parts every plot of metrics/plot.h shares: axes with "nice" ticks (1, 2, 2.5, 5 x 10^k, or decades
// on a log axis), the layout of title / tick labels / axis labels around the plot area, the legend, and
// the colour palette. Internal to the metrics library.
#include <algorithm>
#include <string>
#include <vector>

#include "metrics/canvas.h"
#include "metrics/font.h"

namespace nablagfn::plot_detail {

constexpr Rgb kBackground{255, 255, 255};
constexpr Rgb kInk{34, 34, 34};          // text
constexpr Rgb kFrameColour{90, 90, 90};  // axes box and ticks
constexpr Rgb kGridColour{233, 233, 233};

// The i-th series colour: ten distinct hues, then repeating.
Rgb series_colour(size_t i);

// One axis: the shown range [lo, hi] in display units (log10 of the data on a log axis) and its ticks.
struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  std::vector<double> ticks;  // data units
  std::vector<std::string> labels;
  double display(double v) const;   // data -> display units
  double fraction(double v) const;  // data -> 0 at lo, 1 at hi
};

// Shortest decimal within resolution of value ("1.5e5" style from 1e5 up or for resolutions below 1e-7).
std::string format_value(double value, double resolution);
// Tick label of a multiple of step, exact to a millionth of step ("2e-7" style for steps below 1e-5).
std::string format_tick(double value, double step);
// [lo, hi] widened by pad_lo / pad_hi of its span (a point range is widened first), about max_ticks ticks.
Axis linear_axis(double lo, double hi, int max_ticks, double pad_lo, double pad_hi);
// The same in log10 units (lo > 0): ticks at decades, with 2 and 5 between them on short ranges.
Axis log_axis(double lo, double hi, int max_ticks, double pad);

// The plot area [x0, x1) x [y0, y1) of a canvas and its two axes.
struct Frame {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  Axis x, y;
  double px(double data_x) const;  // data -> canvas pixel column (fractional)
  double py(double data_y) const;  // data -> canvas pixel row (fractional, up is smaller)
  int width() const { return x1 - x0; }
  int height() const { return y1 - y0; }
};

// Text sizes of a plot: scale multiplies the font, glyph = its cell height in pixels.
struct TextMetrics {
  int scale;
  int glyph;
  int tick = 5;  // tick length
};
TextMetrics text_metrics_for(int width, int height);

// What a caller knows before laying out: labels and how the x axis is labelled.
struct FrameSpec {
  std::string title, x_label, y_label;
  // Height of the band under the plot area holding x tick labels: glyph height for numeric ticks,
  // more for upright category names.
  int x_label_band = 0;
  // Minimum right margin (e.g. room for a colour bar).
  int right_margin = 20;
};

// Light grid lines at the ticks, inside the plot area.
void draw_grid(Canvas& canvas, const Frame& frame, bool vertical_lines);
// Title, axis box, ticks with labels (x tick labels unless x_tick_labels is false), axis labels.
void draw_axes(Canvas& canvas, const Frame& frame, const FrameSpec& spec, const TextMetrics& tm, bool x_tick_labels);
// "no data" in the middle of the plot area.
void draw_no_data(Canvas& canvas, const Frame& frame, const TextMetrics& tm);

enum class LegendKind { Line, Marker, Cross, Box };
struct LegendEntry {
  std::string name;
  Rgb colour;
  LegendKind kind;
};
// Legend box in the corner of the plot area covering the least ink drawn so far; nothing when no entry
// has a name.
void draw_legend(Canvas& canvas, const Frame& frame, const std::vector<LegendEntry>& entries, const TextMetrics& tm);
// A cross marker: white halo, then the colour.
void draw_cross(Canvas& canvas, double x, double y, int arm, Rgb colour, int thickness);

// Margins around the plot area for spec's labels (the left one also for y's tick labels).
int left_margin(const FrameSpec& spec, const TextMetrics& tm, const Axis& y);
int bottom_margin(const FrameSpec& spec, const TextMetrics& tm);
int top_margin(const FrameSpec& spec, const TextMetrics& tm);

// Builds the frame of a width x height canvas: first the y axis (make_y(max_ticks) -> Axis, the number
// of ticks fitting the plot height), then the left margin that its tick labels need, then the x axis
// (make_x(max_ticks)) for the remaining width.
template <typename MakeX, typename MakeY>
Frame layout_frame(int width, int height, const FrameSpec& spec, const TextMetrics& tm, MakeX make_x, MakeY make_y) {
  Frame frame;
  frame.y0 = top_margin(spec, tm);
  frame.y1 = height - bottom_margin(spec, tm);
  frame.y = make_y(std::max(3, frame.height() / (3 * tm.glyph)));
  frame.x0 = left_margin(spec, tm, frame.y);
  frame.x1 = width - spec.right_margin;
  // Fewer x ticks while their labels would crowd each other.
  for (int max_ticks = std::max(2, frame.width() / (5 * tm.glyph));; --max_ticks) {
    frame.x = make_x(max_ticks);
    int widest = 0;
    for (const std::string& label : frame.x.labels) widest = std::max(widest, text_width(label, tm.scale));
    const int spacing =
        frame.x.ticks.size() > 1 ? frame.width() / static_cast<int>(frame.x.ticks.size() - 1) : widest * 2;
    if (max_ticks <= 2 || spacing >= widest + 2 * tm.glyph) break;
  }
  // The last x tick label is centred on the right edge: keep it on the canvas.
  if (!frame.x.labels.empty())
    frame.x1 = std::min(frame.x1, width - text_width(frame.x.labels.back(), tm.scale) / 2 - 4);
  return frame;
}

}  // namespace nablagfn::plot_detail
