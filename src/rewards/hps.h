#pragma once
// HPSv2.1 (spec §5.2): cosine similarity of the L2-normalised open_clip ViT-H-14 image and text features, no
// logit scale. Ports the ∇-GFlowNet HPS reward (lib/reward_func/rewards.py) and HPSv2's scoring
// (hpsv2/img_score.py: `image_features @ text_features.T`, diagonal). What changed: the open_clip weights
// are read onto the transformers CLIP modules (models/open_clip.h); the image is resized on its longer side
// and zero-padded without antialias (rewards/image_preprocess.h); prompts use the CLIP BPE lower-cased and
// padded with 0 as open_clip's tokenizer does (its ftfy repair is the identity on plain ASCII prompts);
// the weights are frozen. Sizes: B batch, E projection width.
#include <memory>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "config/config.h"
#include "models/clip_model.h"
#include "rewards/reward.h"
#include "text/clip_tokenizer.h"

namespace nablagfn {

class HPSReward : public Reward, public ImageEmbedding {
 public:
  HPSReward(CLIPModel model, CLIPTokenizer tokenizer);
  std::string name() const override { return "hps"; }
  bool differentiable() const override { return true; }
  bool uses_prompt() const override { return true; }
  // images [B, 3, H, W] in [0, 1] of dtype(), B prompts -> [B] of dtype() in [-1, 1], graph to the images only.
  at::Tensor score(const at::Tensor& images, const std::vector<std::string>& prompts) override;
  // images -> [B, E] unit-length image-tower embedding, graph to the images.
  at::Tensor image_embedding(const at::Tensor& images) override;
  // Moves the weights; float32 is the contract of Reward, float64 exists for gradient checks.
  void to(c10::Device device, at::ScalarType dtype);
  at::ScalarType dtype() const { return dtype_; }

 private:
  CLIPModel model_;
  CLIPTokenizer tokenizer_;
  at::ScalarType dtype_ = at::kFloat;
};

// reward.path: open_clip weights, HPS_v2.1_compressed.pt ({'state_dict': ...}) or a model.safetensors. Next to
// it: open_clip_config.json (open_clip's model config; absent = ViT-H-14) and the CLIP BPE (vocab.json +
// merges.txt, there or in tokenizer/).
std::unique_ptr<HPSReward> make_hps_reward(const RewardConfig& config, c10::Device device);

}  // namespace nablagfn
