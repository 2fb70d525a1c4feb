#include "config/renamed_keys.h"

#include "core/log.h"

namespace nablagfn {

const std::vector<std::pair<std::string, std::string>>& renamed_keys() {
  static const std::vector<std::pair<std::string, std::string>> table = {
      {"model.toy_n_modes", "model.toy.n_modes"},
      {"model.toy_radius", "model.toy.radius"},
      {"model.toy_std", "model.toy.std"},
      {"model.toy_hidden", "model.toy.hidden"},
      {"model.toy_layers", "model.toy.layers"},
      {"sample.dpm_final_sigmas", "sample.dpmpp.final_sigmas"},
      {"algorithm.refl_last_steps", "algorithm.refl.last_steps"},
      {"algorithm.refl_target", "algorithm.refl.target"},
      {"algorithm.refl_loss_scale", "algorithm.refl.loss_scale"},
      {"algorithm.draft_k", "algorithm.draft.k"},
      {"algorithm.draft_lv_n", "algorithm.draft_lv.n"},
      {"algorithm.ddpo_clip_range", "algorithm.ddpo.clip_range"},
      {"algorithm.ddpo_adv_clip", "algorithm.ddpo.adv_clip"},
      {"algorithm.ddpo_buffer_size", "algorithm.ddpo.buffer_size"},
      {"algorithm.ddpo_min_count", "algorithm.ddpo.min_count"},
      {"algorithm.dag_beta_anneal", "algorithm.dag_db.beta_anneal"},
      {"reward.linear_coef", "reward.linear.coef"},
      {"reward.quadratic_center", "reward.quadratic.center"},
      {"reward.quadratic_scale", "reward.quadratic.scale"},
  };
  return table;
}

std::string current_key(const std::string& key) {
  for (const auto& [old_key, new_key] : renamed_keys())
    if (key == old_key) {
      NABLAGFN_WARN("config key '%s' is deprecated: use '%s'", old_key.c_str(), new_key.c_str());
      return new_key;
    }
  return key;
}

}  // namespace nablagfn
