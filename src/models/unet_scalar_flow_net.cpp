// UNetScalarFlowNet: see unet_scalar_flow_net.h.
#include "models/unet_scalar_flow_net.h"

#include <torch/torch.h>

#include "models/state_dict.h"

namespace nablagfn {

ScalarFlowUNetImpl::ScalarFlowUNetImpl(const UNetConfig& c) {
  const int64_t C0 = c.block_out_channels[0];
  const int64_t E = unet_block_options(c, 0).temb_channels;
  conv_in = register_module("conv_in", torch::nn::Conv2d(torch::nn::Conv2dOptions(c.in_channels, C0, 3).padding(1)));
  time_proj = register_module("time_proj", Timesteps(C0, c.flip_sin_to_cos, c.freq_shift));
  time_embedding = register_module("time_embedding", TimestepEmbedding(C0, E));
  down_blocks = register_module("down_blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.n_blocks(); ++i) {
    down_.push_back(make_unet_down_block(c, i));
    down_blocks->push_back(down_.back());
  }
  out = register_module("out", torch::nn::Linear(c.block_out_channels.back(), 1));
  torch::NoGradGuard no_grad;
  out->weight.zero_();
  out->bias.zero_();
}

torch::Tensor ScalarFlowUNetImpl::forward(const torch::Tensor& x, const torch::Tensor& t,
                                          const torch::Tensor& context) {
  torch::Tensor emb = time_embedding(time_proj(t.reshape({-1}).to(x.device())).to(x.scalar_type()));  // [B, E]
  torch::Tensor h = conv_in(x);  // [B, C, H, W] -> [B, C0, H, W]
  std::vector<torch::Tensor> skips;
  for (auto& block : down_) h = block->forward(h, emb, context, skips);  // -> [B, C_i, H_i, W_i]
  return out(h.mean({2, 3}));  // [B, C_n, h, w] -> [B, C_n] -> [B, 1]
}

UNetScalarFlowNet::UNetScalarFlowNet(const UNetFlowNetOptions& options, c10::Device device)
    : context_dim_(options.cross_attention_dim), net_(unet_flow_net_config(options)) {
  net_->to(device, torch::kFloat32);
}

at::Tensor UNetScalarFlowNet::forward(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context) {
  TORCH_CHECK(x.scalar_type() == torch::kFloat32, "UNetScalarFlowNet: x must be float32, got ", x.scalar_type());
  at::Tensor ctx = context.defined() ? context : torch::zeros({x.size(0), 1, context_dim_}, x.options());  // [B, 1, D]
  return net_(x, t, ctx);  // [B, 1]
}

std::vector<at::Tensor> UNetScalarFlowNet::parameters() { return net_->parameters(); }

std::vector<std::pair<std::string, at::Tensor>> UNetScalarFlowNet::named_state() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : net_->named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}

void UNetScalarFlowNet::load_state(const TensorMap& state) { load_state_dict(*net_, state, "scalar flow network state"); }

}  // namespace nablagfn
