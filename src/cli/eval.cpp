// nablagfn eval --runs A [B ...] --out DIR [--set key=value ...]
// Recomputes the evaluation metrics (reward_eval, diversity, prior_fid and the problem's own) of each run's
// pretrained model (epoch -1: the adapter as initialised) and of each of its checkpoints, with the run's own
// config.resolved.json (--set overrides apply to every run, e.g. eval.n_samples), then writes into DIR:
// eval.jsonl (one row per run and checkpoint), pareto_diversity.png and pareto_prior_fid.png (evaluation
// reward against diversity / prior drift, one curve per run, points labelled by epoch), report.html, and
// per run DIR/<name>/ the pictures its evaluator draws. --from-metrics recomputes nothing: it takes each
// run's own evaluation rows from its metrics.jsonl (every eval.every epochs, on the run's device and seeds),
// so runs trained elsewhere (a GPU host) compare without their checkpoints or models.
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "algorithms/checkpoint.h"
#include "cli/commands.h"
#include "cli/parse_args.h"
#include "config/config.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "io/atomic_file.h"
#include "io/fs_util.h"
#include "io/run_dir.h"
#include "metrics/plot.h"
#include "metrics/report.h"
#include "problems/factory.h"

namespace nablagfn::cli {

namespace {
// Evaluation rows of one run: epoch -1 (the adapter as initialised), then every checkpoint.
std::vector<nlohmann::json> evaluate_run(const std::string& run_root, const std::string& name,
                                         const std::vector<std::string>& sets, const RunDir& out) {
  const std::string config_path = join_path(run_root, RunDir::kConfigFile);
  require(path_exists(config_path), "'" + run_root + "' holds no " + RunDir::kConfigFile,
          "pass run directories written by `nablagfn train`");
  Config config = load_config(config_path);
  for (const auto& s : sets) apply_override(config, s);
  validate(config);
  if (config.model.kind == "toy2d") at::set_num_threads(1);
  seed_default_generators(config.run.seed);
  set_tf32_matmul(config.run.tf32);
  auto bundle = make_problem(config);
  Evaluator* evaluator = bundle->evaluator();
  require(evaluator != nullptr, "model.kind '" + config.model.kind + "' has no evaluator", "nothing to evaluate");
  const std::vector<CheckpointEntry> checkpoints = list_checkpoints(run_root);
  require(!checkpoints.empty(), "'" + run_root + "' holds no complete checkpoint",
          "train with train.save_every > 0, or let the run finish (the last epoch is always saved)");
  std::vector<nlohmann::json> rows;
  auto add_row = [&](int epoch, int updates) {
    nlohmann::json row = {{"run", name}, {"epoch", epoch}, {"updates", updates}};
    for (const auto& [k, v] : evaluator->evaluate(bundle->problem(), out, epoch, false)) row[k] = v;
    NABLAGFN_INFO("%s epoch %d: reward_eval %.4g diversity %.4g prior_fid %.4g", name.c_str(), epoch,
                  row.value("reward_eval", NAN), row.value("diversity", NAN), row.value("prior_fid", NAN));
    rows.push_back(row);
  };
  add_row(-1, 0);
  for (const auto& c : checkpoints) {
    load_checkpoint_adapter(c, *bundle->problem().denoiser);
    add_row(c.state.epoch, c.state.update);
  }
  return rows;
}

// The evaluation rows a run wrote while training (metrics.jsonl rows with a diversity), tagged with name.
std::vector<nlohmann::json> logged_rows(const ReportRun& run, const std::string& root) {
  require(!run.points.empty(), "'" + root + "' has no evaluation rows in its " + RunDir::kMetricsFile,
          "train with eval.every > 0, or drop --from-metrics to evaluate its checkpoints");
  std::vector<nlohmann::json> rows;
  for (nlohmann::json row : run.points) {
    row["run"] = run.name;
    rows.push_back(std::move(row));
  }
  return rows;
}

// Reward against key, one connected curve per run, points labelled by epoch.
void pareto_png(const std::string& path, const std::string& key, const std::string& x_label,
                const std::vector<std::pair<std::string, std::vector<nlohmann::json>>>& runs) {
  std::vector<ScatterSeries> series;
  for (const auto& [name, rows] : runs) {
    ScatterSeries s{name, {}, {}, {}, true};
    for (const auto& r : rows) {
      if (!r.contains(key) || !r.contains("reward_eval")) continue;
      s.xs.push_back(r[key].get<double>());
      s.ys.push_back(r["reward_eval"].get<double>());
      s.labels.push_back(std::to_string(r["epoch"].get<int>()));
    }
    if (!s.xs.empty()) series.push_back(s);
  }
  if (series.empty()) {
    NABLAGFN_INFO("%s not written: no evaluation has %s", path.c_str(), key.c_str());
    return;
  }
  scatter_plot(path, "evaluation reward vs " + key + " (labels: epoch)", x_label, "evaluation reward", series);
}
}  // namespace

int run_eval(const std::vector<std::string>& args) {
  CLI::App app("evaluate the checkpoints of runs and compare them (Pareto plots, report.html)", "nablagfn eval");
  std::vector<std::string> runs, sets;
  std::string out;
  bool from_metrics = false;
  app.add_option("--runs", runs, "run directories written by `nablagfn train`")->required();
  app.add_option("--out", out, "output directory (eval.jsonl, pareto_*.png, report.html)")->required();
  app.add_option("--set", sets, "override for every run's config, group.key=value (e.g. eval.n_samples=512)");
  app.add_flag("--from-metrics", from_metrics,
               "compare the evaluation rows each run logged in its metrics.jsonl; recompute nothing");
  if (const int code = parse_args(app, args); code >= 0) return code;
  require(!(from_metrics && !sets.empty()), "--set has no effect with --from-metrics (nothing is recomputed)",
          "drop --set, or drop --from-metrics to re-evaluate the checkpoints with the overrides");
  init_cpu_runtime();
  make_directories(out);
  std::vector<std::pair<std::string, std::vector<nlohmann::json>>> evaluated;
  std::vector<ReportRun> report;
  std::string jsonl;
  for (const auto& root : runs) {
    std::string name = std::filesystem::path(root).lexically_normal().filename().string();
    if (name.empty()) name = std::filesystem::path(root).lexically_normal().parent_path().filename().string();
    for (const auto& [taken, rows] : evaluated)
      if (taken == name) name += "_" + std::to_string(evaluated.size());
    ReportRun entry = read_run_for_report(root, name);
    std::vector<nlohmann::json> rows;
    if (from_metrics) {
      rows = logged_rows(entry, root);
    } else {
      RunDir pictures = RunDir::create(join_path(out, name), /*resume=*/true);
      rows = evaluate_run(root, name, sets, pictures);
      pictures.mark_complete();
    }
    for (const auto& r : rows) jsonl += r.dump() + "\n";
    entry.points = rows;
    report.push_back(entry);
    evaluated.emplace_back(name, std::move(rows));
  }
  write_file_atomic(join_path(out, "eval.jsonl"), jsonl);
  pareto_png(join_path(out, "pareto_diversity.png"), "diversity", "diversity (mean pairwise cosine distance)",
             evaluated);
  // The PNG font is ASCII: "Frechet".
  pareto_png(join_path(out, "pareto_prior_fid.png"), "prior_fid", "prior drift (prompt-averaged Frechet distance)",
             evaluated);
  write_report(join_path(out, "report.html"), "nablagfn eval: " + std::to_string(runs.size()) + " run(s)", report);
  std::printf(
      "%s %zu run(s); results in %s (eval.jsonl, pareto_diversity.png, pareto_prior_fid.png, "
      "report.html)\n",
      from_metrics ? "compared the logged evaluations of" : "evaluated", runs.size(), out.c_str());
  return 0;
}

}  // namespace nablagfn::cli
