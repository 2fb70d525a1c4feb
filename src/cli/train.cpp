// nablagfn train --config FILE [--set key=value ...] [--out DIR] [--resume [--allow-config-change]]
// Everything that can fail on bad input (config, model files, algorithm/reward compatibility) is checked
// before the run directory is created; a run that stops early keeps its INCOMPLETE marker.
// Several processes: `torchrun --no-python --nproc-per-node N nablagfn train ...` (core/distributed.h);
// rank 0 writes the run directory, a rank that fails stops the others.
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <chrono>
#include <optional>

#include "algorithms/algorithm.h"
#include "algorithms/data_parallel.h"
#include "algorithms/trainer.h"
#include "algorithms/vram_budget.h"
#include "cli/commands.h"
#include "cli/parse_args.h"
#include "config/config.h"
#include "config/config_diff.h"
#include "core/device.h"
#include "core/distributed.h"
#include "core/log.h"
#include "io/run_dir.h"
#include "metrics/report.h"
#include "problems/component_names.h"
#include "problems/factory.h"

namespace nablagfn::cli {

int run_train(const std::vector<std::string>& args) {
  CLI::App app("finetune a diffusion model on a reward", "nablagfn train");
  std::string path, out;
  std::vector<std::string> sets;
  bool resume = false, allow_config_change = false;
  double vram_budget = 0.0;
  app.add_option("--config", path, "experiment file (JSONC): only what differs from `nablagfn config --defaults`")
      ->required();
  app.add_option("--set", sets, "override, group.key=value (repeatable, applied last)");
  app.add_option("--out", out, "run directory (overrides run.out)");
  app.add_flag("--resume", resume, "continue the run in --out from its latest checkpoint");
  app.add_option("--vram-budget", vram_budget,
                 "GPU memory to fit, GiB: picks the micro-batch split and reward chunking (train.vram_budget_gib)");
  app.add_flag("--allow-config-change", allow_config_change,
               "with --resume: continue although the configuration differs from the run's config.resolved.json");
  if (const int code = parse_args(app, args); code >= 0) return code;
  init_cpu_runtime();
  Config config = load_config(path);
  for (const auto& s : sets) apply_override(config, s);
  if (!out.empty()) config.run.out = out;
  if (vram_budget > 0) config.train.vram_budget_gib = vram_budget;
  const LaunchEnv env = read_launch_env();
  // One GPU per process: cuda:LOCAL_RANK.
  if (env.world_size > 1 && (config.run.device == "cuda" || (config.run.device == "auto" && parse_device("auto").is_cuda())))
    config.run.device = "cuda:" + std::to_string(env.local_rank);
  validate(config);
  check_component_names(config);
  plan_shards(config, env.world_size, env.rank);  // a global batch that does not split over the processes
  const std::string previous = config.run.out + "/" + RunDir::kConfigFile;
  if (resume && std::filesystem::exists(previous)) check_resume_config(config, previous, allow_config_change);
  // The toy's tensors are tiny: a second intra-op thread only spin-waits (2x slower on a loaded 2-core machine).
  if (config.model.kind == "toy2d") at::set_num_threads(1);
  if (env.rank != 0) log_set_level(LogLevel::Warn);
  auto comm = Collectives::join(env, parse_device(config.run.device), std::chrono::seconds(config.run.dist_timeout));
  TrainSummary summary;
  std::string root;
  try {
    seed_default_generators(config.run.seed);
    set_tf32_matmul(config.run.tf32);
    auto bundle = make_problem(config);
    apply_vram_budget(config, bundle->problem());
    auto algorithm = algorithm_registry().create(config.algorithm.name, bundle->problem(), config);
    std::optional<RunDir> run;
    if (comm->is_main()) {
      run.emplace(RunDir::create(config.run.out, resume));
      run->write_text(RunDir::kConfigFile, to_json(config));
      NABLAGFN_INFO("run directory: %s (%d processes, collectives: %s)", run->root().c_str(), env.world_size,
                    distributed_backends().c_str());
    }
    comm->barrier(false);  // the folder exists before any other rank looks into it
    if (!comm->is_main()) run.emplace(RunDir::attach(config.run.out, resume));
    summary = train(bundle->problem(), *algorithm, config, *run, bundle->evaluator(), comm.get());
    comm->barrier(true);
    if (comm->is_main()) {
      write_report(run->path("report.html"), "nablagfn train: " + config.algorithm.name + " on " + config.model.kind,
                   {read_run_for_report(run->root(), config.algorithm.name)});
      run->mark_complete();
    }
    root = run->root();
  } catch (const std::exception& e) {
    comm->abort(e.what());
    throw;
  }
  if (!comm->is_main()) return 0;
  std::string line = "done: " + std::to_string(summary.epochs_done) + " epochs, " +
                     std::to_string(summary.updates) + " updates";
  for (const char* key : {"reward_eval", "diversity", "prior_fid", "class_agreement", "tv_modes", "off_mass"}) {
    auto it = summary.final_metrics.find(key);
    if (it != summary.final_metrics.end()) line += ", " + std::string(key) + " " + std::to_string(it->second);
  }
  std::printf("%s\nresults in %s\n", line.c_str(), root.c_str());
  return 0;
}

}  // namespace nablagfn::cli
