// nablagfn export --run DIR [--lora-format diffusers|peft|kohya] [--merge-lora] [--out DIR]
// Writes the LoRA of a run's newest checkpoint in the layout another tool loads (models/lora_export.h):
// diffusers (pytorch_lora_weights.safetensors, what `pipe.load_lora_weights(dir)` reads; `train` already
// writes it into the run folder at the end), peft (adapter_model.safetensors + adapter_config.json) or
// kohya (lora_kohya.safetensors for the A1111 / Forge WebUIs and ComfyUI); with --merge-lora also
// OUT/unet/, a diffusers UNet folder with the LoRA folded into its weights (config.json +
// diffusion_pytorch_model.safetensors), to drop into a copy of the base model folder.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "algorithms/checkpoint.h"
#include "cli/commands.h"
#include "cli/parse_args.h"
#include "config/config.h"
#include "core/error.h"
#include "io/atomic_file.h"
#include "io/fs_util.h"
#include "io/run_dir.h"
#include "io/tensor_io.h"
#include "models/lora_export.h"
#include "models/unet2d_condition.h"

namespace nablagfn::cli {

int run_export(const std::vector<std::string>& args) {
  CLI::App app("write a run's LoRA for other tools", "nablagfn export");
  std::string run_path, out, format = "diffusers";
  bool merge = false;
  app.add_option("--run", run_path, "run folder of `nablagfn train` (its newest checkpoint is exported)")->required();
  app.add_option("--lora-format", format, "diffusers, peft or kohya (A1111 / ComfyUI)");
  app.add_flag("--merge-lora", merge, "also write OUT/unet/: the base UNet with the LoRA folded in");
  app.add_option("--out", out, "output folder (default: RUN/export)");
  if (const int code = parse_args(app, args); code >= 0) return code;
  const LoRAFormat lora_format = parse_lora_format(format);
  const RunDir run = RunDir::open(run_path);
  const Config config = load_config(run.path(RunDir::kConfigFile));
  require(config.model.kind == "sd", "run '" + run_path + "' trained model.kind " + config.model.kind + ", not sd",
          "only Stable Diffusion runs have a LoRA to export");
  const std::string checkpoint = latest_checkpoint_dir(run);
  require(!checkpoint.empty(), "run '" + run_path + "' has no complete checkpoint",
          "train at least one epoch (checkpoints/epoch_NNNN with state.json)");
  if (out.empty()) out = run.path("export");

  const TensorMap adapter = load_safetensors(join_path(checkpoint, "adapter.safetensors"));  // peft names
  const NamedTensors peft(adapter.begin(), adapter.end());
  LoRAConfig lora;
  lora.rank = config.model.lora_rank;
  lora.alpha = config.model.lora_alpha;
  lora.init = config.model.lora_init;
  write_lora(out, peft, lora, lora_format);
  std::printf("wrote %s\n", join_path(out, lora_file_name(lora_format)).c_str());

  if (merge) {
    const std::string base = join_path(config.model.path, "unet");
    const std::string weights = find_unet_weights(base);
    const std::string unet_out = join_path(out, "unet");
    make_directories(unet_out);
    write_file_atomic(join_path(unet_out, "config.json"), read_file(join_path(base, "config.json")));
    save_safetensors(join_path(unet_out, "diffusion_pytorch_model.safetensors"),
                     merge_lora(load_safetensors(weights), adapter, lora.alpha / static_cast<double>(lora.rank)),
                     {{"format", "pt"}});
    std::printf("wrote %s (%s with the LoRA merged)\n", unet_out.c_str(), base.c_str());
  }
  std::printf("from %s\n", checkpoint.c_str());
  return 0;
}

}  // namespace nablagfn::cli
