// nablagfn pretrain --config FILE [--set key=value ...] [--out DIR]
// Trains the embedded Fashion-MNIST model from the Debian dataset (problems/fashion_pretrain.h) and
// writes a model folder that model.kind=fashion loads; copy it to assets/fashion to ship it.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "cli/parse_args.h"
#include "config/config.h"
#include "core/device.h"
#include "core/log.h"
#include "io/run_dir.h"
#include "problems/fashion_pretrain.h"

namespace nablagfn::cli {

int run_pretrain(const std::vector<std::string>& args) {
  CLI::App app("pretrain the embedded Fashion-MNIST text-to-image model and its classifier", "nablagfn pretrain");
  std::string path, out;
  std::vector<std::string> sets;
  app.add_option("--config", path, "experiment file (JSONC), e.g. configs/fashion_pretrain.jsonc")->required();
  app.add_option("--set", sets, "override, group.key=value (repeatable, applied last)");
  app.add_option("--out", out, "output folder (overrides run.out)");
  if (const int code = parse_args(app, args); code >= 0) return code;
  init_cpu_runtime();
  Config config = load_config(path);
  for (const auto& s : sets) apply_override(config, s);
  if (!out.empty()) config.run.out = out;
  validate(config);
  seed_default_generators(config.run.seed);
  set_tf32_matmul(config.run.tf32);
  RunDir run = RunDir::create(config.run.out, false);
  run.write_text(RunDir::kConfigFile, to_json(config));
  NABLAGFN_INFO("pretraining into %s", run.root().c_str());
  pretrain_fashion(config, run);
  run.mark_complete();
  std::printf("model folder: %s (model.path for model.kind=fashion)\n", run.root().c_str());
  return 0;
}

}  // namespace nablagfn::cli
