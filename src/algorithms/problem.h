#pragma once
// Everything an algorithm needs to know about the diffusion problem it finetunes, bundled once by the
// trainer: the policy (a Denoiser with a trainable part), the sampler as a Gaussian policy, the text
// conditioning, the decoder and the reward. The toy problem and Stable Diffusion fill the same struct.
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "models/denoiser.h"
#include "models/flow_net.h"
#include "models/guidance.h"
#include "metrics/features.h"
#include "models/pipeline_parts.h"
#include "rewards/reward.h"
#include "schedulers/scheduler.h"

namespace nablagfn {

class FastChain;

struct Problem {
  std::shared_ptr<Denoiser> denoiser;
  std::shared_ptr<Scheduler> scheduler;
  std::shared_ptr<Decoder> decoder;
  std::shared_ptr<Reward> reward;
  // Embeds decoded samples for the evaluation's diversity and prior drift (metrics/features.h); null when
  // the problem has no embedding (then those metrics are skipped).
  std::shared_ptr<FeatureExtractor> features;
  std::shared_ptr<PromptEncoder> text;  // null for unconditional problems (toy)
  std::vector<std::string> prompts;     // the prompt distribution (uniform); {""} for the toy
  at::Tensor uncond_context;            // [1, L, D] hidden states of "" (undefined without text)
  double guidance_scale = 1.0;
  std::vector<int64_t> latent_shape;    // per-sample state shape, e.g. {4, 64, 64} or {2}
  c10::Device device = c10::Device(c10::kCPU);
  at::ScalarType latent_dtype = at::kFloat;  // dtype the denoiser consumes
  // Builds a flow network g_phi for this problem (residual ∇-DB); null when the problem has none.
  std::function<std::shared_ptr<FlowNet>()> make_flow_net;
  // Builds a scalar log-flow network F_psi(x, τ, c) (DAG-DB, residual DB): a FlowNet whose output is
  // [B, 1], one log-flow value per sample; null when the problem has none.
  std::function<std::shared_ptr<FlowNet>()> make_scalar_flow_net;
  // The sampling chain's fast path (algorithms/fast_chain.h: CUDA graphs); null: the plain chain.
  std::shared_ptr<FastChain> fast_chain;

  // Conditioning of the given prompts' hidden states (cond [B, L, D]) with this problem's CFG setting.
  Conditioning conditioning(const at::Tensor& cond) const { return Conditioning{cond, uncond_context, guidance_scale}; }
  // Reward of the decoded latents [B, ...] with their prompts -> [B] float32 (graph to latents if differentiable).
  at::Tensor reward_of(const at::Tensor& latents, const std::vector<std::string>& prompts) const {
    return reward->score(decoder->decode(latents), prompts);
  }
};

}  // namespace nablagfn
