#pragma once
// Stable Diffusion from a diffusers folder as the Problem that the trainer, the algorithms and
// `nablagfn sample` run (model.kind "sd"). Assembles what diffusers' StableDiffusionPipeline
// (pipelines/stable_diffusion/pipeline_stable_diffusion.py, v0.40) and the release's setup
// (train_nablagfn.py L100-L243) load: tokenizer + CLIP text encoder, the UNet with a LoRA adapter on
// to_q / to_k / to_v / to_out.0, the VAE decoder, the scheduler of scheduler/scheduler_config.json, the
// reward, the prompt set, and the flow UNet g_φ of residual ∇-DB (spec §3.5).
// What changed: nothing is downloaded or converted (safetensors only, a missing part is an Error naming
// it); the sampler is the one sample.scheduler names, on the folder's noise schedule; the empty-prompt
// context is encoded once.
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>

#include "algorithms/problem.h"
#include "algorithms/trainer.h"
#include "config/config.h"
#include "models/sd_denoiser.h"
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
// The training problem: the pipeline plus reward.name from the reward registry and make_flow_net
// (UNetFlowNet of model.flow_block_out_channels / flow_layers_per_block, text width of the encoder).
StableDiffusion make_stable_diffusion(const Config& config);

// A generator for noise on device seeded with seed: a fresh CPU generator, or the device's default
// generator reseeded (CUDA tensors cannot draw from a CPU generator).
at::Generator make_noise_generator(c10::Device device, uint64_t seed);

// Evaluation of an SD policy: eval.n_samples samples from eval.seed for a fixed prompt list (the prompt
// set cycled), reward_eval / reward_eval_std, a grid of the first 64 in samples/epoch_NNNN.png; at the
// end the LoRA in the diffusers layout (pytorch_lora_weights.safetensors) and, when under 64 MiB,
// final_samples.safetensors (latents, rewards) in the run directory.
class SDEvaluator : public Evaluator {
 public:
  SDEvaluator(std::shared_ptr<SDDenoiser> denoiser, const Config& config)
      : denoiser_(std::move(denoiser)), config_(config) {}
  std::map<std::string, double> evaluate(Problem& problem, const RunDir& run, int epoch, bool final) override;

 private:
  std::shared_ptr<SDDenoiser> denoiser_;
  const Config& config_;
};

// model.kind "sd" for problems/factory.cpp.
std::unique_ptr<ProblemBundle> make_sd_bundle(const Config& config);

}  // namespace nablagfn
