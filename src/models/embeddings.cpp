// Timestep embeddings: see embeddings.h for the diffusers references and the changes.
#include "models/embeddings.h"

#include <torch/torch.h>

#include <cmath>

namespace nablagfn {

torch::Tensor timestep_embedding(const torch::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos, double freq_shift,
                                 double max_period) {
  TORCH_CHECK(timesteps.dim() == 1, "timestep_embedding: timesteps must be 1-D, got ", timesteps.sizes());
  TORCH_CHECK(dim >= 2, "timestep_embedding: dim must be at least 2, got ", dim);
  const int64_t half = dim / 2;
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(timesteps.device());
  torch::Tensor exponent = torch::arange(0, half, f32) * (-std::log(max_period)) / (half - freq_shift);  // [D/2]
  torch::Tensor args = timesteps.to(torch::kFloat32).unsqueeze(1) * torch::exp(exponent).unsqueeze(0);   // [B, D/2]
  torch::Tensor emb = flip_sin_to_cos ? torch::cat({torch::cos(args), torch::sin(args)}, -1)
                                      : torch::cat({torch::sin(args), torch::cos(args)}, -1);  // [B, 2*(D/2)]
  if (dim % 2 == 1) emb = torch::nn::functional::pad(emb, torch::nn::functional::PadFuncOptions({0, 1}));  // [B, D]
  return emb;
}

TimestepsImpl::TimestepsImpl(int64_t num_channels, bool flip_sin_to_cos, double freq_shift)
    : num_channels_(num_channels), flip_sin_to_cos_(flip_sin_to_cos), freq_shift_(freq_shift) {}

torch::Tensor TimestepsImpl::forward(const torch::Tensor& timesteps) {
  return timestep_embedding(timesteps, num_channels_, flip_sin_to_cos_, freq_shift_);
}

TimestepEmbeddingImpl::TimestepEmbeddingImpl(int64_t in_channels, int64_t time_embed_dim) {
  linear_1 = register_module("linear_1", torch::nn::Linear(in_channels, time_embed_dim));
  linear_2 = register_module("linear_2", torch::nn::Linear(time_embed_dim, time_embed_dim));
}

torch::Tensor TimestepEmbeddingImpl::forward(const torch::Tensor& t_emb) {
  return linear_2(torch::silu(linear_1(t_emb)));  // [B, C] -> [B, E]
}

}  // namespace nablagfn
