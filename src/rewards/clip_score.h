#pragma once
// PickScore / CLIP score: exp(logit_scale) · cos(image embedding, text embedding) of a two-tower transformers
// CLIPModel (PickScore_v1 is a fine-tuned CLIP-H/14 in that layout). HPSv2.1 (rewards/hps.h) is the same
// reward with another preprocessing and no logit scale (CLIPScoreVariant). Port of PickScore's scoring
// (github.com/yuvalkirstain/PickScore README: `model.logit_scale.exp() * text_embs @ image_embs.T`, diagonal).
// What changed: the image goes through the differentiable spec §5.1 preprocessing (bicubic resize to the
// tower size, no crop, CLIP mean/std) instead of CLIPProcessor's PIL resize + centre crop; prompts are
// tokenized with the CLIP BPE padded to the text context; the weights are frozen.
// Sizes: B batch, E projection width.
#include <memory>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "config/config.h"
#include "models/clip_model.h"
#include "rewards/reward.h"
#include "text/clip_tokenizer.h"

namespace nablagfn {

// The CLIP BPE files (vocab.json + merges.txt) for a reward whose weights are at `path` (a folder or a
// file): looked up in that folder (a file's folder) and in its tokenizer/ subfolder; Error with a hint
// when absent. options.max_length / pad_id as the caller's model needs.
CLIPTokenizer load_reward_tokenizer(const std::string& path, CLIPTokenizerOptions options);

// What distinguishes the two-tower rewards: how images reach the tower and whether the cosine is scaled.
struct CLIPScoreVariant {
  // false: clip_preprocess (bicubic resize to the tower, CLIP mean/std); true: hps_preprocess (longer side
  // resized, zero-padded to a square; rewards/image_preprocess.h).
  bool pad_to_square = false;
  // Multiply the cosine by exp(logit_scale) (PickScore, CLIP score) or not (HPS).
  bool logit_scale = true;
};

class CLIPScoreReward : public Reward, public ImageEmbedding {
 public:
  // name: the registered name ("pickscore", "clip_score" or "hps").
  CLIPScoreReward(std::string name, CLIPModel model, CLIPTokenizer tokenizer, CLIPScoreVariant variant = {});
  std::string name() const override { return name_; }
  bool differentiable() const override { return true; }
  bool uses_prompt() const override { return true; }
  // images [B, 3, H, W] in [0, 1] of dtype(), B prompts -> [B] of dtype(), with a graph to the images only
  // (HPS: in [-1, 1]).
  at::Tensor score(const at::Tensor& images, const std::vector<std::string>& prompts) override;
  // images -> [B, E] unit-length image-tower embedding, graph to the images.
  at::Tensor image_embedding(const at::Tensor& images) override;
  // Moves the weights; float32 is the contract of Reward, float64 exists for gradient checks.
  void to(c10::Device device, at::ScalarType dtype);
  at::ScalarType dtype() const { return dtype_; }

 private:
  std::string name_;
  CLIPModel model_;
  CLIPTokenizer tokenizer_;
  CLIPScoreVariant variant_;
  at::ScalarType dtype_ = at::kFloat;
};

// reward.path: a transformers CLIPModel folder (config.json, model.safetensors, vocab.json + merges.txt in it
// or in tokenizer/), e.g. yuvalkirstain/PickScore_v1 for "pickscore", openai/clip-vit-large-patch14 for "clip_score".
std::unique_ptr<CLIPScoreReward> make_clip_score_reward(const std::string& name, const RewardConfig& config,
                                                        c10::Device device);

}  // namespace nablagfn
