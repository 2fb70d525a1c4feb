#pragma once
// Timestep embeddings of the diffusion UNet.
// Ports diffusers `get_timestep_embedding`, `Timesteps` and `TimestepEmbedding`
// (src/diffusers/models/embeddings.py, v0.40).
// What changed: `TimestepEmbedding` has no condition projection, no post-activation and only SiLU
// (the options SD uses); the UNet config parser rejects the rest.
// Legend: B batch, D embedding width.
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

namespace nablagfn {

// Sinusoidal embedding of (possibly fractional) timesteps, computed in float32:
// freq_i = exp(−ln(max_period) · i / (D/2 − freq_shift)), emb = [sin(t·freq), cos(t·freq)] ([cos, sin]
// when flip_sin_to_cos); odd D gets one zero column. timesteps [B] -> [B, D] float32, no parameters.
torch::Tensor timestep_embedding(const torch::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos, double freq_shift,
                                 double max_period = 10000.0);

// The parameter-free module the UNet holds as `time_proj`.
class TimestepsImpl : public torch::nn::Module {
 public:
  TimestepsImpl(int64_t num_channels, bool flip_sin_to_cos, double freq_shift);
  torch::Tensor forward(const torch::Tensor& timesteps);  // [B] -> [B, num_channels] float32

 private:
  int64_t num_channels_;
  bool flip_sin_to_cos_;
  double freq_shift_;
};
TORCH_MODULE(Timesteps);

// linear_1 -> SiLU -> linear_2.
class TimestepEmbeddingImpl : public torch::nn::Module {
 public:
  TimestepEmbeddingImpl(int64_t in_channels, int64_t time_embed_dim);
  torch::Tensor forward(const torch::Tensor& t_emb);  // [B, in_channels] -> [B, time_embed_dim]

  torch::nn::Linear linear_1{nullptr}, linear_2{nullptr};
};
TORCH_MODULE(TimestepEmbedding);

}  // namespace nablagfn
