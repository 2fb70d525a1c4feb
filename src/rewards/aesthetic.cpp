// LAION aesthetic reward; see aesthetic.h for the reference and what changed.
#include "rewards/aesthetic.h"

#include <torch/torch.h>

#include "core/error.h"
#include "io/pth.h"
#include "models/state_dict.h"
#include "rewards/image_preprocess.h"
#include "rewards/reward_checks.h"

namespace nablagfn {

namespace aesthetic_detail {

constexpr int kLinearIndex[5] = {0, 2, 4, 6, 7};

// [E, h1, h2, h3, h4, 1] from the head's weight shapes; Error unless they chain like LAION's MLP.
std::vector<int64_t> head_widths(const TensorMap& tensors, const std::string& source) {
  const std::string hint =
      "expected LAION's aesthetic MLP: keys layers.{0,2,4,6,7}.{weight,bias}, widths E->1024->128->64->16->1 "
      "(e.g. sac+logos+ava1-l14-linearMSE.pth)";
  std::vector<int64_t> widths;
  for (int i : kLinearIndex) {
    const std::string key = "layers." + std::to_string(i) + ".weight";
    auto it = tensors.find(key);
    require(it != tensors.end() && it->second.dim() == 2, "'" + source + "' is not an aesthetic head: no 2-D " + key,
            hint);
    if (widths.empty()) widths.push_back(it->second.size(1));
    require(it->second.size(1) == widths.back(),
            "'" + source + "': " + key + " takes " + std::to_string(it->second.size(1)) +
                " inputs but the layer before gives " + std::to_string(widths.back()),
            hint);
    widths.push_back(it->second.size(0));
  }
  require(widths.back() == 1,
          "'" + source + "': the last layer gives " + std::to_string(widths.back()) + " outputs, not 1", hint);
  return widths;
}

void freeze(torch::nn::Module& module) {
  for (auto& p : module.parameters()) p.set_requires_grad(false);
}

}  // namespace aesthetic_detail

AestheticHeadImpl::AestheticHeadImpl(const std::vector<int64_t>& widths) {
  TORCH_CHECK(widths.size() == 6, "AestheticHead: expected 6 widths, got ", widths.size());
  layers = register_module("layers", torch::nn::Sequential());
  const double dropout[3] = {0.2, 0.2, 0.1};
  for (int i = 0; i < 5; ++i) {
    layers->push_back(torch::nn::Linear(widths[i], widths[i + 1]));
    if (i < 3) layers->push_back(torch::nn::Dropout(dropout[i]));
  }
}

at::Tensor AestheticHeadImpl::forward(const at::Tensor& embeds) { return layers->forward(embeds); }  // [B, E] -> [B, 1]

AestheticHead load_aesthetic_head(const std::string& path) {
  TensorMap tensors = load_tensors(path);
  AestheticHead head(aesthetic_detail::head_widths(tensors, path));
  load_state_dict(*head, tensors, path, LoadOptions{"", {}, "expected LAION's aesthetic MLP (layers.0/2/4/6/7)"});
  head->eval();
  return head;
}

AestheticReward::AestheticReward(CLIPVisionModelWithProjection vision, AestheticHead head, const std::string& source)
    : vision_(std::move(vision)), head_(std::move(head)) {
  const int64_t E = vision_->config().projection_dim;
  const int64_t head_in = head_->layers[0]->as<torch::nn::Linear>()->weight.size(1);
  require(head_in == E,
          "the aesthetic head takes " + std::to_string(head_in) + "-d embeddings but the CLIP image tower in '" +
              source + "' gives " + std::to_string(E) + "-d ones",
          "the public LAION head (768-d) belongs to openai/clip-vit-large-patch14: point reward.path at that "
          "tower, or reward.head_path at a head trained on this one");
  vision_->eval();
  head_->eval();
  aesthetic_detail::freeze(*vision_);
  aesthetic_detail::freeze(*head_);
}

void AestheticReward::to(c10::Device device, at::ScalarType dtype) {
  vision_->to(device, dtype);
  head_->to(device, dtype);
  dtype_ = dtype;
}

at::Tensor AestheticReward::score(const at::Tensor& images, const std::vector<std::string>& prompts) {
  check_reward_inputs(*this, images, prompts, dtype_);
  return head_(image_embedding(images)).squeeze(1);  // [B, 1] -> [B]
}

at::Tensor AestheticReward::image_embedding(const at::Tensor& images) {
  at::Tensor pixel_values = clip_preprocess(images, vision_->config().image_size);  // [B, 3, S, S]
  at::Tensor embeds = vision_(pixel_values).image_embeds;                            // [B, E]
  return embeds / embeds.norm(2, -1, /*keepdim=*/true);                              // unit length
}

std::unique_ptr<AestheticReward> make_aesthetic_reward(const RewardConfig& config, c10::Device device) {
  require(!config.path.empty(), "reward 'aesthetic' needs reward.path",
          "a transformers CLIP folder such as openai/clip-vit-large-patch14 (config.json + model.safetensors)");
  require(!config.head_path.empty(), "reward 'aesthetic' needs reward.head_path",
          "the LAION head, e.g. sac+logos+ava1-l14-linearMSE.pth (.pth or .safetensors)");
  auto reward = std::make_unique<AestheticReward>(load_clip_vision_model(config.path),
                                                  load_aesthetic_head(config.head_path), config.path);
  reward->to(device, at::kFloat);
  return reward;
}

}  // namespace nablagfn
