#include "metrics/curves.h"

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "io/run_dir.h"
#include "metrics/plot.h"

namespace nablagfn {

namespace {
bool is_loss_key(const std::string& k) { return k == "loss" || k.rfind("l_", 0) == 0; }
bool is_bookkeeping(const std::string& k) {
  return k == "epoch" || k == "updates" || k == "seconds" || k.rfind("mass_", 0) == 0 || k == "reward_std";
}
}  // namespace

void plot_training_curves(const std::string& metrics_path, const std::string& plots_dir) {
  std::vector<nlohmann::json> records = MetricsLog::read_all(metrics_path);
  if (records.empty()) return;
  // key -> (epochs, values); reward_std rides along with reward_mean as a band.
  std::map<std::string, LineSeries> series;
  for (const auto& r : records) {
    if (!r.contains("epoch")) continue;
    const double epoch = r["epoch"].get<double>();
    for (auto it = r.begin(); it != r.end(); ++it) {
      if (!it->is_number() || is_bookkeeping(it.key())) continue;
      LineSeries& s = series[it.key()];
      s.name = it.key();
      s.xs.push_back(epoch);
      s.ys.push_back(it->get<double>());
      if (it.key() == "reward_mean") s.y_std.push_back(r.value("reward_std", 0.0));
    }
  }
  std::vector<LineSeries> rewards, losses;
  for (auto& [key, s] : series) {
    if (key == "reward_mean" || key == "reward_eval") {
      rewards.push_back(s);
    } else if (is_loss_key(key)) {
      bool positive = true;
      for (double y : s.ys) positive = positive && (!std::isfinite(y) || y > 0);
      if (positive) losses.push_back(s);
    } else {
      line_plot(plots_dir + "/" + key + ".png", key, "epoch", key, {s});
    }
  }
  if (!rewards.empty()) line_plot(plots_dir + "/reward.png", "reward", "epoch", "reward", rewards);
  if (!losses.empty()) {
    PlotOptions log_scale;
    log_scale.log_y = true;
    line_plot(plots_dir + "/loss.png", "loss terms", "epoch", "loss", losses, log_scale);
  }
}

}  // namespace nablagfn
