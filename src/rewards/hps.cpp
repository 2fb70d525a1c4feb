// HPSv2.1 reward; see hps.h for the reference and what changed.
#include "rewards/hps.h"

#include <filesystem>

#include "core/error.h"
#include "models/open_clip.h"

namespace nablagfn {

std::unique_ptr<CLIPScoreReward> make_hps_reward(const RewardConfig& config, c10::Device device) {
  namespace fs = std::filesystem;
  require(!config.path.empty(), "reward 'hps' needs reward.path",
          "the open_clip weights: HPS_v2.1_compressed.pt (from xswu/HPSv2) or a model.safetensors");
  const fs::path config_path = fs::path(config.path).parent_path() / "open_clip_config.json";
  const OpenCLIPConfig open_clip =
      fs::exists(config_path) ? load_open_clip_config(config_path.string()) : open_clip_vit_h_14();
  CLIPModel model = load_open_clip_model(config.path, open_clip);
  CLIPTokenizerOptions options;
  options.max_length = open_clip.text.context_length;
  options.pad_id = 0;  // open_clip pads with 0
  auto reward = std::make_unique<CLIPScoreReward>("hps", model, load_reward_tokenizer(config.path, options),
                                                  CLIPScoreVariant{/*pad_to_square=*/true, /*logit_scale=*/false});
  reward->to(device, at::kFloat);
  return reward;
}

}  // namespace nablagfn
