#pragma once
// The tiny Stable Diffusion stack of tests/data as a Config: sd_tiny (UNet, VAE, CLIP text encoder and
// tokenizer, SD-1.5 scheduler), fp32 on the CPU, LoRA r 4 / alpha 4, a small flow UNet, 50 DDIM-η=1 steps
// with CFG 5, one prompt, the aesthetic reward on clip_vision_tiny. Tests override what they vary.
#include "config/config.h"
#include "test_util.h"

namespace nablagfn::test {

inline Config tiny_sd_config() {
  Config c;
  c.model.kind = "sd";
  c.model.path = data_path("sd_tiny");
  c.model.dtype = ModelDType::Float32;
  c.model.lora_rank = 4;
  c.model.lora_alpha = 4.0;
  c.model.flow_block_out_channels = {16, 32, 32, 32};
  c.run.device = "cpu";
  c.sample.scheduler = "ddim";
  c.sample.n_steps = 50;
  c.sample.eta = 1.0;
  c.sample.guidance_scale = 5.0;
  c.sample.prompts = "a photo of a cat";
  c.reward.name = "aesthetic";
  c.reward.path = data_path("clip_vision_tiny/vision_model");
  c.reward.head_path = data_path("clip_vision_tiny/aesthetic_head.safetensors");
  return c;
}

}  // namespace nablagfn::test
