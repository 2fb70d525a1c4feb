#pragma once
// Stable Diffusion from a diffusers folder as the Problem that the trainer, the algorithms and
// `nablagfn sample` run (model.kind "sd"). Assembles what diffusers' StableDiffusionPipeline
// (pipelines/stable_diffusion/pipeline_stable_diffusion.py, v0.40) and the release's setup
// (train_nablagfn.py L100-L243) load: tokenizer + CLIP text encoder, the UNet with a LoRA adapter on
// to_q / to_k / to_v / to_out.0, the VAE decoder, the scheduler of scheduler/scheduler_config.json, the
// reward, the prompt set, the flow UNet g_φ of residual ∇-DB (spec §3.5) and the scalar flow F_ψ of
// DAG-DB / residual DB (spec §7.2).
// What changed: nothing is downloaded or converted (safetensors only, a missing part is an Error naming
// it); the sampler is the one sample.scheduler names, on the folder's noise schedule; the empty-prompt
// context is encoded once.
#include <memory>
#include <string>
#include <vector>

#include "algorithms/problem.h"
#include "algorithms/trainer.h"
#include "config/config.h"
#include "models/sd_denoiser.h"
#include "problems/eval_metrics.h"
#include "problems/factory.h"

namespace nablagfn {

struct StableDiffusion {
  Problem problem;
  std::shared_ptr<SDDenoiser> denoiser;  // problem.denoiser, typed (LoRA save / load)
};

// Error listing every missing part of a diffusers SD folder (model_index.json, unet/, vae/,
// text_encoder/, tokenizer/, scheduler/ and their files), with a hint.
void check_diffusers_folder(const std::string& path);

// model.dtype float32, bfloat16 or float16 (float16 only on CUDA) as a scalar type; Error otherwise.
at::ScalarType sd_dtype(ModelDType dtype, c10::Device device);

// sample.prompts: "simple_animals" (the release's 45 animal names), a .txt file (one prompt per line,
// blank lines skipped) or one literal prompt.
std::vector<std::string> load_prompt_set(const std::string& spec);

// The sampling pipeline of config.model / config.sample / config.run.device: denoiser (UNet + a fresh
// LoRA adapter), text encoder, uncond context, decoder, scheduler, latent shape, prompts. No reward
// (problem.reward is null) and no flow network: what `nablagfn sample` needs.
StableDiffusion make_sd_pipeline(const Config& config);
// The training problem: the pipeline plus reward.name from the reward registry, make_flow_net
// (UNetFlowNet of model.flow_block_out_channels / flow_layers_per_block, text width of the encoder) and
// make_scalar_flow_net (UNetScalarFlowNet of the same blocks, DAG-DB / residual DB).
StableDiffusion make_stable_diffusion(const Config& config);

// Evaluation of an SD policy: eval.n_samples samples for a fixed prompt list (the prompt set cycled), in
// chunks of sample.batch_size with seeds eval.seed + k (problems/eval_shards.h: shared among the processes
// of a data-parallel run, which gather rewards, features and the grid's images); reward_eval /
// reward_eval_std, diversity / prior_fid on the reward's CLIP image embedding when it has one
// (problems/eval_metrics.h), a grid of the first 64 in samples/epoch_NNNN.png (samples/pretrained.png for
// the pretrained model, epoch -1); at the end the LoRA in the diffusers layout
// (pytorch_lora_weights.safetensors) and, when under 64 MiB, final_samples.safetensors (latents, rewards)
// in the run directory.
class SDEvaluator : public Evaluator {
 public:
  SDEvaluator(std::shared_ptr<SDDenoiser> denoiser, const Config& config)
      : denoiser_(std::move(denoiser)), config_(config) {}
  std::map<std::string, double> evaluate(Problem& problem, const RunDir& run, int epoch, bool final) override;
  std::vector<std::pair<std::string, std::string>> images() const override { return images_; }
  bool share_with(Collectives* comm) override {
    comm_ = comm;
    return true;
  }

 private:
  struct Drawn {
    at::Tensor reward;    // [n]
    at::Tensor features;  // [n, F], undefined without problem.features
    at::Tensor latents;   // [n, C, h, w] float32, undefined unless asked for or past 64 MiB
    at::Tensor grid;      // [min(n, 64), 3, H, W] the first decoded images, undefined unless asked for
    std::vector<int64_t> prompt_index;
  };
  // The fixed evaluation set (everything on the CPU); grid and latents only when asked for.
  Drawn draw(Problem& problem, Adapter adapter, bool grid, bool latents) const;
  std::shared_ptr<SDDenoiser> denoiser_;
  const Config& config_;
  Collectives* comm_ = nullptr;
  PriorReference reference_;
  std::vector<std::pair<std::string, std::string>> images_;
};

// model.kind "sd" for problems/factory.cpp.
std::unique_ptr<ProblemBundle> make_sd_bundle(const Config& config);

}  // namespace nablagfn
