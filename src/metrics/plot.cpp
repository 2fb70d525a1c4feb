// The four plot kinds of metrics/plot.h, drawn on metrics/canvas.h with the shared frame of
// metrics/plot_frame.h. Drawing order: grid, data (clipped to the plot area), legend, then axes and text.
#include "metrics/plot.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "metrics/plot_frame.h"

namespace nablagfn {
namespace plot_detail {

// Smallest and largest finite value seen.
struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  bool empty() const { return !(lo <= hi); }
};

void check_plot_size(const PlotOptions& options) {
  require(options.width >= 160 && options.height >= 120 && options.width <= 8192 && options.height <= 8192,
          "plot size " + std::to_string(options.width) + "x" + std::to_string(options.height) + " is out of range",
          "use between 160x120 and 8192x8192 pixels");
}

void check_same_length(size_t a, size_t b, const std::string& what) {
  require(a == b, what + ": " + std::to_string(a) + " vs " + std::to_string(b) + " values",
          "give every point all of its coordinates");
}

// Numeric axis over range (or [0, 1] when empty), log10 when log.
Axis plot_value_axis(const Range& range, bool log, int max_ticks, double pad) {
  if (range.empty()) return linear_axis(0, 1, max_ticks, 0, 0);
  return log ? log_axis(range.lo, range.hi, max_ticks, pad) : linear_axis(range.lo, range.hi, max_ticks, pad, pad);
}

// Every finite y must be positive on a log axis.
void check_log_values(const std::vector<double>& ys, const std::string& series_name) {
  for (double y : ys)
    require(!(std::isfinite(y) && y <= 0),
            "series '" + series_name + "' has y = " + format_tick(y, std::fabs(y)) + ", which a log axis cannot show",
            "plot it with log_y off");
}

bool plot_finite(double x, double y) { return std::isfinite(x) && std::isfinite(y); }

// Band between lo_ys and hi_ys along xs, shaded column by column; points with a non-finite value break it.
void draw_band(Canvas& canvas, const Frame& frame, const std::vector<double>& xs, const std::vector<double>& lo_ys,
               const std::vector<double>& hi_ys, Rgb colour) {
  // On a log axis a lower edge at or below 0 goes to the bottom of the plot.
  auto row_of = [&](double y) { return frame.y.log && y <= 0 ? frame.y1 + 1.0 : frame.py(y); };
  for (size_t i = 0; i + 1 < xs.size(); ++i) {
    if (!plot_finite(xs[i], hi_ys[i]) || !plot_finite(xs[i + 1], hi_ys[i + 1]) || std::isnan(lo_ys[i]) ||
        std::isnan(lo_ys[i + 1]))
      continue;
    const double xa = frame.px(xs[i]), xb = frame.px(xs[i + 1]);
    const int ca = static_cast<int>(std::lround(std::min(xa, xb))),
              cb = static_cast<int>(std::lround(std::max(xa, xb)));
    const bool last = i + 2 == xs.size();
    for (int c = ca; c < cb + (last ? 1 : 0); ++c) {
      const double t = cb == ca ? 0.0 : static_cast<double>(c - ca) / (cb - ca);
      const double ta = xa <= xb ? t : 1 - t;
      const double top = frame.py(hi_ys[i]) + ta * (frame.py(hi_ys[i + 1]) - frame.py(hi_ys[i]));
      const double bottom = row_of(lo_ys[i]) + ta * (row_of(lo_ys[i + 1]) - row_of(lo_ys[i]));
      canvas.fill_rect(c, static_cast<int>(std::lround(top)), c + 1, static_cast<int>(std::lround(bottom)) + 1, colour,
                       0.2f);
    }
  }
}

// Polyline through the finite points, broken at non-finite ones.
void draw_polyline(Canvas& canvas, const Frame& frame, const std::vector<double>& xs, const std::vector<double>& ys,
                   Rgb colour, int thickness) {
  for (size_t i = 0; i + 1 < xs.size(); ++i) {
    if (!plot_finite(xs[i], ys[i]) || !plot_finite(xs[i + 1], ys[i + 1])) continue;
    canvas.line(frame.px(xs[i]), frame.py(ys[i]), frame.px(xs[i + 1]), frame.py(ys[i + 1]), colour, thickness);
  }
}

// Colour of level t in [0, 1] of the density map: near-white through light to deep blue.
Rgb density_colour(double t) {
  static const Rgb kStops[] = {{250, 251, 253}, {214, 228, 243}, {158, 199, 226},
                               {90, 153, 203},  {33, 101, 168},  {12, 55, 115}};
  const int n = static_cast<int>(sizeof(kStops) / sizeof(kStops[0])) - 1;
  const double s = std::clamp(t, 0.0, 1.0) * n;
  const int i = std::min(n - 1, static_cast<int>(s));
  const double f = s - i;
  auto mix = [f](uint8_t a, uint8_t b) { return static_cast<uint8_t>(std::lround(a + f * (b - a))); };
  return {mix(kStops[i].r, kStops[i + 1].r), mix(kStops[i].g, kStops[i + 1].g), mix(kStops[i].b, kStops[i + 1].b)};
}

// Bilinear interpolation of the grid at (x, y) inside its box.
double density_at(const DensityGrid& grid, double x, double y) {
  const double gx = (x - grid.x_min) / (grid.x_max - grid.x_min) * (grid.nx - 1);
  const double gy = (y - grid.y_min) / (grid.y_max - grid.y_min) * (grid.ny - 1);
  const int i = std::clamp(static_cast<int>(std::floor(gx)), 0, grid.nx - 2);
  const int j = std::clamp(static_cast<int>(std::floor(gy)), 0, grid.ny - 2);
  const double tx = std::clamp(gx - i, 0.0, 1.0), ty = std::clamp(gy - j, 0.0, 1.0);
  auto v = [&](int a, int b) { return static_cast<double>(grid.values[static_cast<size_t>(b) * grid.nx + a]); };
  return (1 - ty) * ((1 - tx) * v(i, j) + tx * v(i + 1, j)) + ty * ((1 - tx) * v(i, j + 1) + tx * v(i + 1, j + 1));
}

// Shrinks the plot area along one axis so that a data unit has the same length on both, centred.
void equalise_aspect(Frame& frame) {
  const double units_x = frame.x.hi - frame.x.lo, units_y = frame.y.hi - frame.y.lo;
  const double per_px = std::max(units_x / frame.width(), units_y / frame.height());
  const int w = static_cast<int>(std::lround(units_x / per_px)), h = static_cast<int>(std::lround(units_y / per_px));
  frame.x0 += (frame.width() - w) / 2, frame.x1 = frame.x0 + w;
  frame.y0 += (frame.height() - h) / 2, frame.y1 = frame.y0 + h;
}

// Filled bands of the density with lines where the band changes, inside the frame.
void draw_density(Canvas& canvas, const Frame& frame, const DensityGrid& grid, int n_levels, double v_min,
                  double v_max) {
  const int w = frame.width(), h = frame.height();
  std::vector<int> level(static_cast<size_t>(w) * h, -1);  // -1: non-finite density, left blank
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c) {
      const double x = grid.x_min + (c + 0.5) / w * (grid.x_max - grid.x_min);
      const double y = grid.y_max - (r + 0.5) / h * (grid.y_max - grid.y_min);
      const double v = density_at(grid, x, y);
      if (!std::isfinite(v)) continue;
      const double t = v_max > v_min ? (v - v_min) / (v_max - v_min) : 0.0;
      level[static_cast<size_t>(r) * w + c] = std::clamp(static_cast<int>(t * n_levels), 0, n_levels - 1);
    }
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c) {
      const int l = level[static_cast<size_t>(r) * w + c];
      if (l < 0) continue;
      canvas.blend(frame.x0 + c, frame.y0 + r, density_colour(static_cast<double>(l) / (n_levels - 1)));
      const bool edge = (c + 1 < w && level[static_cast<size_t>(r) * w + c + 1] != l) ||
                        (r + 1 < h && level[static_cast<size_t>(r + 1) * w + c] != l);
      if (edge) canvas.blend(frame.x0 + c, frame.y0 + r, Rgb{20, 40, 80}, 0.45f);
    }
}

// Colour bar labels show about three significant digits of the density's span.
double plot_colour_bar_resolution(double v_min, double v_max) {
  const double span = v_max > v_min ? v_max - v_min : std::max(std::fabs(v_max), 1e-30);
  return span / 200;
}

// Vertical colour bar right of the frame with the density's min and max.
void draw_colour_bar(Canvas& canvas, const Frame& frame, const TextMetrics& tm, int n_levels, double v_min,
                     double v_max) {
  const int x0 = frame.x1 + 14, x1 = x0 + 3 * tm.scale + 8, h = frame.height();
  for (int l = 0; l < n_levels; ++l) {
    const int top = frame.y1 - (l + 1) * h / n_levels, bottom = frame.y1 - l * h / n_levels;
    canvas.fill_rect(x0, top, x1, bottom, density_colour(static_cast<double>(l) / (n_levels - 1)));
  }
  canvas.outline_rect(x0 - 1, frame.y0 - 1, x1 + 1, frame.y1 + 1, kFrameColour);
  const double resolution = plot_colour_bar_resolution(v_min, v_max);
  canvas.text(x0, frame.y0 - tm.glyph - 2, format_value(v_max, resolution), kInk, tm.scale);
  canvas.text(x0, frame.y1 + 6, format_value(v_min, resolution), kInk, tm.scale);
}

}  // namespace plot_detail

void line_plot(const std::string& path, const std::string& title, const std::string& x_label,
               const std::string& y_label, const std::vector<LineSeries>& series, const PlotOptions& options) {
  using namespace plot_detail;
  check_plot_size(options);
  Range x_range, y_range;
  for (const LineSeries& s : series) {
    check_same_length(s.xs.size(), s.ys.size(), "line series '" + s.name + "' xs and ys");
    if (!s.y_std.empty()) check_same_length(s.ys.size(), s.y_std.size(), "line series '" + s.name + "' ys and y_std");
    if (options.log_y) check_log_values(s.ys, s.name);
    for (size_t i = 0; i < s.xs.size(); ++i) {
      if (!plot_finite(s.xs[i], s.ys[i])) continue;
      x_range.add(s.xs[i]);
      y_range.add(s.ys[i]);
      const double sd = s.y_std.empty() ? 0.0 : s.y_std[i];
      if (std::isfinite(sd) && !options.log_y) y_range.add(s.ys[i] - sd);
      if (std::isfinite(sd)) y_range.add(s.ys[i] + sd);
    }
  }
  const TextMetrics tm = text_metrics_for(options.width, options.height);
  const FrameSpec spec{title, x_label, y_label, tm.glyph};
  const Frame frame = layout_frame(
      options.width, options.height, spec, tm, [&](int n) { return plot_value_axis(x_range, false, n, 0.03); },
      [&](int n) { return plot_value_axis(y_range, options.log_y, n, 0.05); });
  Canvas canvas(options.width, options.height, kBackground);
  draw_grid(canvas, frame, true);
  canvas.set_clip(frame.x0, frame.y0, frame.x1, frame.y1);
  std::vector<LegendEntry> legend;
  for (size_t k = 0; k < series.size(); ++k) {
    const LineSeries& s = series[k];
    if (s.y_std.empty()) continue;
    std::vector<double> lo(s.ys.size()), hi(s.ys.size());
    for (size_t i = 0; i < s.ys.size(); ++i) lo[i] = s.ys[i] - s.y_std[i], hi[i] = s.ys[i] + s.y_std[i];
    draw_band(canvas, frame, s.xs, lo, hi, series_colour(k));
  }
  for (size_t k = 0; k < series.size(); ++k) {
    const LineSeries& s = series[k];
    draw_polyline(canvas, frame, s.xs, s.ys, series_colour(k), tm.scale);
    if (s.xs.size() <= 40)
      for (size_t i = 0; i < s.xs.size(); ++i)
        if (plot_finite(s.xs[i], s.ys[i]))
          canvas.disk(frame.px(s.xs[i]), frame.py(s.ys[i]), 1.5 * tm.scale + 0.5, series_colour(k));
    legend.push_back({s.name, series_colour(k), LegendKind::Line});
  }
  canvas.reset_clip();
  if (y_range.empty()) draw_no_data(canvas, frame, tm);
  draw_legend(canvas, frame, legend, tm);
  draw_axes(canvas, frame, spec, tm, true);
  write_png(path, canvas.image());
}

void scatter_density_plot(const std::string& path, const std::string& title, const std::vector<float>& points_xy,
                          const DensityGrid& density, const std::vector<float>& markers_xy,
                          const PlotOptions& options) {
  using namespace plot_detail;
  check_plot_size(options);
  require(density.nx >= 2 && density.ny >= 2 && density.values.size() == static_cast<size_t>(density.nx) * density.ny,
          "density grid of " + std::to_string(density.nx) + "x" + std::to_string(density.ny) + " holds " +
              std::to_string(density.values.size()) + " values",
          "give nx * ny >= 4 values, values[j * nx + i] at (x_i, y_j)");
  require(density.x_max > density.x_min && density.y_max > density.y_min, "density grid box is empty",
          "x_max must exceed x_min and y_max exceed y_min");
  require(points_xy.size() % 2 == 0 && markers_xy.size() % 2 == 0, "points and markers must be [N, 2] (x, y) pairs",
          "pass x0, y0, x1, y1, ... row-major");
  Range values;
  for (float v : density.values) values.add(v);
  const double v_min = values.empty() ? 0.0 : values.lo, v_max = values.empty() ? 0.0 : values.hi;
  constexpr int kLevels = 10;

  const TextMetrics tm = text_metrics_for(options.width, options.height);
  FrameSpec spec{title, "", "", tm.glyph};
  const double resolution = plot_colour_bar_resolution(v_min, v_max);
  spec.right_margin = 14 + 3 * tm.scale + 8 +
                      std::max(text_width(format_value(v_max, resolution), tm.scale),
                               text_width(format_value(v_min, resolution), tm.scale));
  Frame frame = layout_frame(
      options.width, options.height, spec, tm,
      [&](int n) { return linear_axis(density.x_min, density.x_max, n, 0, 0); },
      [&](int n) { return linear_axis(density.y_min, density.y_max, n, 0, 0); });
  equalise_aspect(frame);
  Canvas canvas(options.width, options.height, kBackground);
  draw_density(canvas, frame, density, kLevels, v_min, v_max);
  canvas.set_clip(frame.x0, frame.y0, frame.x1, frame.y1);
  const Rgb point_colour{230, 85, 13};
  const size_t n_points = points_xy.size() / 2;
  const double radius = (n_points <= 300 ? 2.0 : 1.25) * tm.scale;
  for (size_t i = 0; i < n_points; ++i) {
    const double x = points_xy[2 * i], y = points_xy[2 * i + 1];
    if (!plot_finite(x, y) || x < density.x_min || x > density.x_max || y < density.y_min || y > density.y_max)
      continue;
    canvas.disk(frame.px(x), frame.py(y), radius, point_colour, 0.7f);
  }
  for (size_t i = 0; i < markers_xy.size() / 2; ++i)
    if (plot_finite(markers_xy[2 * i], markers_xy[2 * i + 1]))
      draw_cross(canvas, frame.px(markers_xy[2 * i]), frame.py(markers_xy[2 * i + 1]), 4 * tm.scale, kInk, tm.scale);
  canvas.reset_clip();
  std::vector<LegendEntry> legend = {{options.points_name, point_colour, LegendKind::Marker}};
  if (!markers_xy.empty()) legend.push_back({options.markers_name, kInk, LegendKind::Cross});
  draw_legend(canvas, frame, legend, tm);
  draw_colour_bar(canvas, frame, tm, kLevels, v_min, v_max);
  draw_axes(canvas, frame, spec, tm, true);
  write_png(path, canvas.image());
}

void bar_plot(const std::string& path, const std::string& title, const std::vector<std::string>& categories,
              const std::vector<BarGroup>& groups, const std::string& y_label, const PlotOptions& options) {
  using namespace plot_detail;
  check_plot_size(options);
  Range range;
  range.add(0.0);
  for (const BarGroup& g : groups) {
    check_same_length(g.values.size(), categories.size(), "bar group '" + g.name + "' values and categories");
    for (double v : g.values) range.add(v);
  }
  const TextMetrics tm = text_metrics_for(options.width, options.height);
  // Category names go upright when the widest would not fit its slot (slot estimated from the canvas).
  int widest = 0;
  for (const std::string& c : categories) widest = std::max(widest, text_width(c, tm.scale));
  const int n_categories = std::max<int>(1, static_cast<int>(categories.size()));
  const bool upright = widest > 0.9 * (options.width - 8 * tm.glyph) / n_categories;
  const FrameSpec spec{title, "", y_label, upright ? std::min(widest, options.height / 3) : tm.glyph};
  const Frame frame = layout_frame(
      options.width, options.height, spec, tm, [](int) { return linear_axis(0, 1, 2, 0, 0); },
      [&](int n) { return linear_axis(range.lo, range.hi, n, range.lo < 0 ? 0.05 : 0.0, 0.08); });
  Canvas canvas(options.width, options.height, kBackground);
  draw_grid(canvas, frame, false);
  canvas.set_clip(frame.x0, frame.y0, frame.x1, frame.y1);
  const double slot = static_cast<double>(frame.width()) / n_categories;
  const double bar = 0.8 * slot / std::max<size_t>(1, groups.size());
  const double zero = frame.py(0.0);
  std::vector<LegendEntry> legend;
  for (size_t g = 0; g < groups.size(); ++g) {
    for (size_t c = 0; c < categories.size(); ++c) {
      const double v = groups[g].values[c];
      if (!std::isfinite(v)) continue;
      const int left = static_cast<int>(std::lround(frame.x0 + c * slot + 0.1 * slot + g * bar));
      const int right = static_cast<int>(std::lround(frame.x0 + c * slot + 0.1 * slot + (g + 1) * bar)) - 1;
      const int top = static_cast<int>(std::lround(std::min(zero, frame.py(v))));
      const int bottom = static_cast<int>(std::lround(std::max(zero, frame.py(v))));
      canvas.fill_rect(left, top, std::max(left + 1, right), bottom + 1, series_colour(g));
    }
    legend.push_back({groups[g].name, series_colour(g), LegendKind::Box});
  }
  if (range.lo < 0)
    canvas.fill_rect(frame.x0, static_cast<int>(std::lround(zero)), frame.x1, static_cast<int>(std::lround(zero)) + 1,
                     kFrameColour);
  canvas.reset_clip();
  const int label_y = frame.y1 + 1 + tm.tick + 6;
  for (size_t c = 0; c < categories.size(); ++c) {
    const int centre = static_cast<int>(std::lround(frame.x0 + (c + 0.5) * slot));
    canvas.fill_rect(centre, frame.y1 + 1, centre + 1, frame.y1 + 1 + tm.tick, kFrameColour);
    if (upright)
      canvas.text_up(centre - tm.glyph / 2, label_y + spec.x_label_band - text_width(categories[c], tm.scale),
                     categories[c], kInk, tm.scale);
    else
      canvas.text(centre - text_width(categories[c], tm.scale) / 2, label_y, categories[c], kInk, tm.scale);
  }
  draw_legend(canvas, frame, legend, tm);
  Frame axes_only = frame;
  axes_only.x.ticks.clear();  // the category ticks were drawn above
  draw_axes(canvas, axes_only, spec, tm, false);
  write_png(path, canvas.image());
}

void scatter_plot(const std::string& path, const std::string& title, const std::string& x_label,
                  const std::string& y_label, const std::vector<ScatterSeries>& series, const PlotOptions& options) {
  using namespace plot_detail;
  check_plot_size(options);
  Range x_range, y_range;
  for (const ScatterSeries& s : series) {
    check_same_length(s.xs.size(), s.ys.size(), "scatter series '" + s.name + "' xs and ys");
    if (!s.labels.empty())
      check_same_length(s.xs.size(), s.labels.size(), "scatter series '" + s.name + "' points and labels");
    if (options.log_y) check_log_values(s.ys, s.name);
    for (size_t i = 0; i < s.xs.size(); ++i)
      if (plot_finite(s.xs[i], s.ys[i])) x_range.add(s.xs[i]), y_range.add(s.ys[i]);
  }
  const TextMetrics tm = text_metrics_for(options.width, options.height);
  const FrameSpec spec{title, x_label, y_label, tm.glyph};
  const Frame frame = layout_frame(
      options.width, options.height, spec, tm, [&](int n) { return plot_value_axis(x_range, false, n, 0.08); },
      [&](int n) { return plot_value_axis(y_range, options.log_y, n, 0.08); });
  Canvas canvas(options.width, options.height, kBackground);
  draw_grid(canvas, frame, true);
  canvas.set_clip(frame.x0, frame.y0, frame.x1, frame.y1);
  const double radius = 2.5 * tm.scale + 0.5;
  std::vector<LegendEntry> legend;
  for (size_t k = 0; k < series.size(); ++k) {
    const ScatterSeries& s = series[k];
    if (s.connect) draw_polyline(canvas, frame, s.xs, s.ys, series_colour(k), tm.scale);
    for (size_t i = 0; i < s.xs.size(); ++i) {
      if (!plot_finite(s.xs[i], s.ys[i])) continue;
      canvas.disk(frame.px(s.xs[i]), frame.py(s.ys[i]), radius + 1.5, kBackground);
      canvas.disk(frame.px(s.xs[i]), frame.py(s.ys[i]), radius, series_colour(k));
    }
    legend.push_back({s.name, series_colour(k), LegendKind::Marker});
  }
  // Labels after all points, right of their point or left of it near the right edge.
  for (const ScatterSeries& s : series)
    for (size_t i = 0; i < s.labels.size(); ++i) {
      if (!plot_finite(s.xs[i], s.ys[i]) || s.labels[i].empty()) continue;
      const int w = text_width(s.labels[i], tm.scale);
      const double x = frame.px(s.xs[i]), y = frame.py(s.ys[i]);
      const int left =
          x + radius + 4 + w < frame.x1 ? static_cast<int>(x + radius + 4) : static_cast<int>(x - radius - 4 - w);
      canvas.text(left, static_cast<int>(y) - tm.glyph - 1, s.labels[i], kInk, tm.scale);
    }
  canvas.reset_clip();
  if (x_range.empty()) draw_no_data(canvas, frame, tm);
  draw_legend(canvas, frame, legend, tm);
  draw_axes(canvas, frame, spec, tm, true);
  write_png(path, canvas.image());
}

}  // namespace nablagfn
