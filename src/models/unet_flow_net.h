#pragma once
// The residual flow-score network g_φ of residual ∇-DB for Stable Diffusion (spec §3.5): a small
// UNet2DConditionModel trained from scratch, float32, output = the vector field ∇ log F̃'(x) itself.
// Mirrors the release's construction (train_nablagfn.py L168-187): diffusers defaults except the widths,
// layers per block and cross_attention_dim; then only conv_out's bias is zeroed (spec §9 item 11) unless
// full zero-init of conv_out (g_φ = 0 at step 0, what the release's comment intends) is asked for.
// Legend: B batch, C latent channels, H/W latent size, L/D context tokens / width.
#include <c10/core/Device.h>

#include <string>
#include <utility>
#include <vector>

#include "models/flow_net.h"
#include "models/unet2d_condition.h"

namespace nablagfn {

struct UNetFlowNetOptions {
  std::vector<int64_t> block_out_channels = {64, 128, 256, 256};
  int64_t layers_per_block = 1;
  int64_t cross_attention_dim = 768;
  int64_t channels = 4;  // in = out channels (the latent's)
  int64_t heads = 8;     // diffusers' default attention_head_dim
  int64_t norm_num_groups = 32;
  bool zero_init_conv_out = false;  // false: zero conv_out.bias only (the release); true: weight and bias
  bool attention_at_top = true;     // false: no attention at level 0 (full-resolution pixel models)
};

// Levels 0..n−2 with cross-attention, the deepest without (SD's block pattern for any n); level 0
// without it too unless attention_at_top.
UNetConfig unet_flow_net_config(const UNetFlowNetOptions& options);

class UNetFlowNet : public FlowNet {
 public:
  explicit UNetFlowNet(const UNetFlowNetOptions& options, c10::Device device = c10::kCPU);

  // x [B, C, H, W] float32, t [B] int64, context [B, L, D] float32 or undefined (= zero context: the
  // cross-attention then contributes only its output bias, whatever L) -> [B, C, H, W] float32.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context) override;
  std::vector<at::Tensor> parameters() override;
  std::vector<std::pair<std::string, at::Tensor>> named_state() override;  // diffusers UNet key names
  void load_state(const TensorMap& state) override;                        // strict

  UNet2DConditionModel& unet() { return unet_; }

 private:
  UNet2DConditionModel unet_;
};

}  // namespace nablagfn
