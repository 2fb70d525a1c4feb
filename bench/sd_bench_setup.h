#pragma once
// The Stable Diffusion 1.5 sampling problem the benchmarks time: the full-size UNet from
// bench/configs/sd15/unet/config.json with deterministic random weights (torch::manual_seed(0)), bf16 on
// the GPU, a LoRA adapter (rank r, alpha = r, B drawn N(0, 0.01²) so the branch is not a no-op), DDIM-η
// from bench/configs/sd15/scheduler/scheduler_config.json, random prompt / empty-prompt hidden states in
// place of CLIP (the text encoder is not part of the timed sampling), CFG scale w.
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "algorithms/problem.h"
#include "models/pipeline_parts.h"
#include "models/sd_denoiser.h"
#include "models/unet2d_condition.h"
#include "schedulers/factory.h"
#include "schedulers/noise_schedule.h"

namespace nablagfn::bench {

// Returns fixed hidden states (one row per prompt, in order): the prompts' CLIP output stands in.
class FixedPromptEncoder : public PromptEncoder {
 public:
  explicit FixedPromptEncoder(at::Tensor hidden) : hidden_(std::move(hidden)) {}
  at::Tensor encode(const std::vector<std::string>& prompts) override {
    TORCH_CHECK(static_cast<int64_t>(prompts.size()) == hidden_.size(0), "FixedPromptEncoder: ", prompts.size(),
                " prompts for ", hidden_.size(0), " rows");
    return hidden_;
  }

 private:
  at::Tensor hidden_;
};

struct SDBenchOptions {
  std::string config_dir;  // holds unet/config.json and scheduler/scheduler_config.json
  int64_t n_trajectories = 16;
  int n_steps = 50;
  double eta = 1.0;
  double guidance_scale = 5.0;
  int lora_rank = 8;
  int device_index = 0;  // cuda:N
};

struct SDBench {
  std::shared_ptr<SDDenoiser> denoiser;
  Problem problem;
  std::vector<std::string> prompts;
  at::Tensor cond;  // [N, 77, 768] bf16
  at::Tensor x0;    // [N, 4, 64, 64] bf16 (contiguous)
};

inline SDBench make_sd_bench(const SDBenchOptions& o) {
  const c10::Device device(c10::kCUDA, static_cast<c10::DeviceIndex>(o.device_index));
  torch::manual_seed(0);
  UNet2DConditionModel unet(load_unet_config(o.config_dir + "/unet/config.json"));
  unet->to(device, torch::kBFloat16);
  unet->eval();
  LoRAConfig lora;
  lora.rank = o.lora_rank;
  lora.alpha = static_cast<double>(o.lora_rank);
  SDBench b;
  b.denoiser = std::make_shared<SDDenoiser>(unet, lora);
  {
    torch::NoGradGuard no_grad;
    for (auto& kv : b.denoiser->lora().named_parameters()) {
      if (kv.first.find("lora_B") != std::string::npos) kv.second.normal_(0.0, 0.01);
    }
  }
  const SchedulerFileConfig sched_file = read_scheduler_config(o.config_dir + "/scheduler/scheduler_config.json");
  SampleConfig sample;
  sample.scheduler = "ddim";
  sample.n_steps = o.n_steps;
  sample.eta = o.eta;
  sample.guidance_scale = o.guidance_scale;
  const UNetConfig& uc = unet->config();
  const int64_t L = 77, D = uc.cross_attention_dim[0], H = uc.sample_size;
  auto bf16 = torch::TensorOptions().dtype(torch::kBFloat16).device(device);
  b.cond = torch::randn({o.n_trajectories, L, D}, bf16);
  b.x0 = torch::randn({o.n_trajectories, uc.in_channels, H, H}, bf16);
  b.prompts.assign(static_cast<size_t>(o.n_trajectories), "a benchmark prompt");

  Problem& p = b.problem;
  p.denoiser = b.denoiser;
  p.scheduler = make_scheduler(sample, NoiseSchedule(sched_file.schedule), sched_file.steps_offset,
                               sched_file.timestep_spacing);
  p.text = std::make_shared<FixedPromptEncoder>(b.cond);
  p.prompts = b.prompts;
  p.uncond_context = torch::randn({1, L, D}, bf16);
  p.guidance_scale = o.guidance_scale;
  p.latent_shape = {uc.in_channels, H, H};
  p.device = device;
  p.latent_dtype = torch::kBFloat16;
  return b;
}

}  // namespace nablagfn::bench
