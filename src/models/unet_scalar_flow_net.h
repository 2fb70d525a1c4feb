#pragma once
// The scalar log-flow network F_ψ(x, τ, c) of DAG-DB and residual DB for Stable Diffusion (spec §7.2):
// DAG's `ConditionalFlow` (alignment/flow.py), the encoder half of a small UNet2DConditionModel — conv_in,
// the sinusoidal time embedding, the down blocks with cross-attention to the prompt — then a mean pool
// over the latent grid and a linear layer to one value per sample. float32, trained from scratch.
// What changed: the output layer starts at zero, so log F = the guessed β·r(x̂) term at step 0; the block
// widths are model.flow_block_out_channels (DAG: 64/128/256/256, the same as ∇-DB's g_φ).
// Legend: B batch, C latent channels, H/W latent size, L/D context tokens / width, C_n the last width.
#include <c10/core/Device.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/embeddings.h"
#include "models/flow_net.h"
#include "models/unet_flow_net.h"

namespace nablagfn {

class ScalarFlowUNetImpl : public torch::nn::Module {
 public:
  explicit ScalarFlowUNetImpl(const UNetConfig& config);
  // x [B, C, H, W], t [B] int64, context [B, L, D] -> [B, 1]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& context);

  torch::nn::Conv2d conv_in{nullptr};
  Timesteps time_proj{nullptr};
  TimestepEmbedding time_embedding{nullptr};
  torch::nn::ModuleList down_blocks{nullptr};
  torch::nn::Linear out{nullptr};

 private:
  std::vector<std::shared_ptr<UNetDownBlockImpl>> down_;
};
TORCH_MODULE(ScalarFlowUNet);

class UNetScalarFlowNet : public FlowNet {
 public:
  // The blocks of unet_flow_net_config(options) (its down half only).
  explicit UNetScalarFlowNet(const UNetFlowNetOptions& options, c10::Device device = c10::kCPU);
  // x [B, C, H, W] float32, t [B] int64, context [B, L, D] float32 or undefined (zero context) -> [B, 1].
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context) override;
  std::vector<at::Tensor> parameters() override;
  std::vector<std::pair<std::string, at::Tensor>> named_state() override;
  void load_state(const TensorMap& state) override;  // strict

 private:
  int64_t context_dim_;
  ScalarFlowUNet net_;
};

}  // namespace nablagfn
