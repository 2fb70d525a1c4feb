#pragma once
// HPSv2.1 (spec §5.2): cosine similarity of the L2-normalised open_clip ViT-H-14 image and text features, no
// logit scale. Ports the ∇-GFlowNet HPS reward (lib/reward_func/rewards.py) and HPSv2's scoring
// (hpsv2/img_score.py: `image_features @ text_features.T`, diagonal). What changed: the open_clip weights
// are read onto the transformers CLIP modules (models/open_clip.h); the image is resized on its longer side
// and zero-padded without antialias (rewards/image_preprocess.h); prompts use the CLIP BPE lower-cased and
// padded with 0 as open_clip's tokenizer does (its ftfy repair is the identity on plain ASCII prompts);
// the weights are frozen. The reward is a CLIPScoreReward (rewards/clip_score.h) with HPS's preprocessing
// and without the logit scale; scores lie in [-1, 1].
#include <memory>

#include <c10/core/Device.h>

#include "config/config.h"
#include "rewards/clip_score.h"

namespace nablagfn {

// reward.path: open_clip weights, HPS_v2.1_compressed.pt ({'state_dict': ...}) or a model.safetensors. Next to
// it: open_clip_config.json (open_clip's model config; absent = ViT-H-14) and the CLIP BPE (vocab.json +
// merges.txt, there or in tokenizer/).
std::unique_ptr<CLIPScoreReward> make_hps_reward(const RewardConfig& config, c10::Device device);

}  // namespace nablagfn
