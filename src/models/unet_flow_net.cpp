// UNetFlowNet: see unet_flow_net.h.
#include "models/unet_flow_net.h"

#include <torch/torch.h>

#include "models/state_dict.h"

namespace nablagfn {

UNetConfig unet_flow_net_config(const UNetFlowNetOptions& o) {
  const size_t n = o.block_out_channels.size();
  UNetConfig c;
  c.in_channels = o.channels;
  c.out_channels = o.channels;
  c.block_out_channels = o.block_out_channels;
  c.down_block_types.assign(n, "CrossAttnDownBlock2D");
  c.down_block_types.back() = "DownBlock2D";
  c.up_block_types.assign(n, "CrossAttnUpBlock2D");
  c.up_block_types.front() = "UpBlock2D";
  if (!o.attention_at_top) {
    c.down_block_types.front() = "DownBlock2D";
    c.up_block_types.back() = "UpBlock2D";
  }
  c.layers_per_block.assign(n, o.layers_per_block);
  c.cross_attention_dim.assign(n, o.cross_attention_dim);
  c.transformer_layers_per_block.assign(n, 1);
  c.num_attention_heads.assign(n, o.heads);
  c.norm_num_groups = o.norm_num_groups;
  return c;
}

UNetFlowNet::UNetFlowNet(const UNetFlowNetOptions& options, c10::Device device) : unet_(unet_flow_net_config(options)) {
  torch::NoGradGuard no_grad;
  unet_->conv_out->bias.zero_();
  if (options.zero_init_conv_out) unet_->conv_out->weight.zero_();
  unet_->to(device, torch::kFloat32);
}

at::Tensor UNetFlowNet::forward(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context) {
  TORCH_CHECK(x.scalar_type() == torch::kFloat32, "UNetFlowNet: x must be float32, got ", x.scalar_type());
  at::Tensor ctx = context.defined() ? context
                                     : torch::zeros({x.size(0), 1, unet_->config().cross_attention_dim[0]},
                                                    x.options());  // [B, 1, D]
  return unet_(x, t, ctx);                                         // [B, C, H, W]
}

std::vector<at::Tensor> UNetFlowNet::parameters() { return unet_->parameters(); }

std::vector<std::pair<std::string, at::Tensor>> UNetFlowNet::named_state() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : unet_->named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}

void UNetFlowNet::load_state(const TensorMap& state) { load_state_dict(*unet_, state, "flow network state"); }

}  // namespace nablagfn
