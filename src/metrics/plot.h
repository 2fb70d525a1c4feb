#pragma once
// PNG plots for run directories and reports, drawn by our own rasteriser (metrics/canvas.h) so no plotting
// program is needed at run time: training curves, 2-D sample scatter over a density, grouped bars, and
// labelled scatter (Pareto) plots. Every plot has a title, axes with numeric ticks, and a legend.
// Non-finite values are not drawn (a line breaks there). The output is written atomically.
#include <string>
#include <vector>

namespace nablagfn {

struct PlotOptions {
  int width = 800;  // pixels; text is drawn at twice the font size from 480 x 320 up, else at font size
  int height = 560;
  // line_plot and scatter_plot: logarithmic y axis. Every finite y must be > 0 (Error otherwise); a band
  // reaching 0 or below is drawn down to the bottom of the axis.
  bool log_y = false;
  // scatter_density_plot: legend names of the points and of the markers.
  std::string points_name = "samples";
  std::string markers_name = "modes";
};

// One curve: ys[i] at xs[i] (same length); y_std, if not empty, shades the band ys ± y_std.
struct LineSeries {
  std::string name;
  std::vector<double> xs, ys;
  std::vector<double> y_std;
};

// Curves against a shared x axis (e.g. reward_mean per epoch for several algorithms), distinct colours,
// a marker on every point when a series has at most 40 of them.
void line_plot(const std::string& path, const std::string& title, const std::string& x_label,
               const std::string& y_label, const std::vector<LineSeries>& series, const PlotOptions& options = {});

// A density on a regular grid: values[j * nx + i] at (x_i, y_j), x_i = x_min + i (x_max - x_min) / (nx - 1),
// y_j likewise (numpy's meshgrid 'xy' order; nx, ny >= 2).
struct DensityGrid {
  int nx = 0, ny = 0;
  double x_min = 0, x_max = 1, y_min = 0, y_max = 1;
  std::vector<float> values;
};

// Samples points_xy = [N, 2] row-major (x0, y0, x1, y1, ...) over the density drawn as filled contour bands
// (10 equal steps from its min to its max) with contour lines, equal x and y scales, and optional markers
// (e.g. mode means, [M, 2] row-major) drawn as crosses. Points outside the grid's box are not drawn.
void scatter_density_plot(const std::string& path, const std::string& title, const std::vector<float>& points_xy,
                          const DensityGrid& density, const std::vector<float>& markers_xy = {},
                          const PlotOptions& options = {});

// One value per category, drawn as one bar colour.
struct BarGroup {
  std::string name;
  std::vector<double> values;
};

// Grouped bars: for each category, one bar per group side by side (e.g. per-mode mass of the samples
// beside the exact mass). Each group has one value per category. Long category names are drawn upright.
void bar_plot(const std::string& path, const std::string& title, const std::vector<std::string>& categories,
              const std::vector<BarGroup>& groups, const std::string& y_label = "", const PlotOptions& options = {});

// Points (xs[i], ys[i]); labels, if not empty, one per point, are written beside them (e.g. the β or the
// epoch of each point); connect joins the points in order (a frontier or a trajectory over training).
struct ScatterSeries {
  std::string name;
  std::vector<double> xs, ys;
  std::vector<std::string> labels;
  bool connect = false;
};

// Labelled scatter plot, e.g. reward against diversity per method (a Pareto plot).
void scatter_plot(const std::string& path, const std::string& title, const std::string& x_label,
                  const std::string& y_label, const std::vector<ScatterSeries>& series,
                  const PlotOptions& options = {});

}  // namespace nablagfn
