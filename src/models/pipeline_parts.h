#pragma once
// The two ends of a text-to-image pipeline, as interfaces so that the toy problem (no text, identity
// decoder) and Stable Diffusion (CLIP text encoder, VAE decoder) share the rollout and the algorithms.
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace nablagfn {

class PromptEncoder {
 public:
  virtual ~PromptEncoder() = default;
  // prompts (B) -> hidden states [B, L, D] in the denoiser's dtype, no graph.
  virtual at::Tensor encode(const std::vector<std::string>& prompts) = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  // latents [B, ...] -> what the reward scores: images [B, 3, H, W] float32 in [0, 1] for SD
  // (clamp(VAE.decode(z / scaling) / 2 + 0.5, 0, 1), spec §2.1), the points themselves for the toy.
  // Differentiable with respect to the latents.
  virtual at::Tensor decode(const at::Tensor& latents) = 0;
};

}  // namespace nablagfn
