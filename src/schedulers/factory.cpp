// make_scheduler (through scheduler_registry()) and a reader for diffusers' scheduler_config.json (the keys of
// `ConfigMixin.to_json_string` for DDIM/DDPM/PNDM/DPMSolver* schedulers, diffusers v0.40).
// Unimplemented options fail loudly instead of being ignored.
#include "schedulers/factory.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_fields.h"
#include "schedulers/registry.h"

namespace nablagfn {

// The hint of a wrong or missing config field.
const char* const kSchedulerConfigHint = "compare with a diffusers scheduler_config.json";

namespace scheduler_factory_detail {

void require_off(const nlohmann::json& j, const std::string& key, const std::string& path) {
  require(!json_field_or<bool>(j, key, false, path, kSchedulerConfigHint),
          path + ": " + key + " = true is not supported",
          "the samplers implement the SD-1.x/2.x settings (" + key + " false)");
}

}  // namespace scheduler_factory_detail

SchedulerFileConfig read_scheduler_config(const std::string& path) {
  std::ifstream in(path);
  require(in.good(), "cannot open scheduler config " + path,
          "pass a diffusers model folder that has scheduler/scheduler_config.json");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw Error("malformed JSON in " + path + ": " + e.what(), "the file must be a diffusers scheduler config");
  }
  require(j.is_object(), path + " is not a JSON object", "the file must be a diffusers scheduler config");

  SchedulerFileConfig c;
  c.schedule.n_train_timesteps = json_field_or<int>(j, "num_train_timesteps", 1000, path, kSchedulerConfigHint);
  c.schedule.beta_start = json_field_or<double>(j, "beta_start", 0.0001, path, kSchedulerConfigHint);
  c.schedule.beta_end = json_field_or<double>(j, "beta_end", 0.02, path, kSchedulerConfigHint);
  c.schedule.beta_schedule = json_field_or<std::string>(j, "beta_schedule", "linear", path, kSchedulerConfigHint);
  require(c.schedule.beta_schedule == "scaled_linear" || c.schedule.beta_schedule == "linear",
          path + ": beta_schedule '" + c.schedule.beta_schedule + "' is not supported",
          "use scaled_linear (Stable Diffusion) or linear");
  c.steps_offset = json_field_or<int>(j, "steps_offset", 0, path, kSchedulerConfigHint);
  c.prediction_type = json_field_or<std::string>(j, "prediction_type", "epsilon", path, kSchedulerConfigHint);
  require(c.prediction_type == "epsilon", path + ": prediction_type '" + c.prediction_type + "' is not supported",
          "only epsilon-prediction models (SD-1.x, SD-2 base 512) are supported; v_prediction models (SD-2 768) "
          "are not");
  c.timestep_spacing =
      parse_timestep_spacing(json_field_or<std::string>(j, "timestep_spacing", "leading", path, kSchedulerConfigHint));
  require(j.find("trained_betas") == j.end() || j["trained_betas"].is_null(),
          path + ": trained_betas is not supported", "use a beta_start/beta_end/beta_schedule config");
  for (const char* key : {"set_alpha_to_one", "clip_sample", "thresholding", "rescale_betas_zero_snr"})
    scheduler_factory_detail::require_off(j, key, path);
  return c;
}

std::shared_ptr<Scheduler> make_scheduler(const SampleConfig& c, const NoiseSchedule& s, int steps_offset,
                                          TimestepSpacing spacing) {
  return scheduler_registry().create(c.scheduler, c, s, steps_offset, spacing);
}

}  // namespace nablagfn
