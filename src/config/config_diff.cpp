#include "config/config_diff.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"
#include "core/strings.h"

namespace nablagfn {

const std::vector<std::string>& keys_free_on_resume() {
  static const std::vector<std::string> keys = {"run.out", "run.device", "eval.every", "train.save_every"};
  return keys;
}

namespace {
using json = nlohmann::ordered_json;

// Appends "key: old -> new" for every leaf (a value that is not an object) of after that differs in before.
void diff_into(const json& before, const json& after, const std::string& prefix, std::vector<std::string>& out) {
  const auto& free = keys_free_on_resume();
  for (auto it = after.begin(); it != after.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    auto old = before.is_object() ? before.find(it.key()) : before.end();
    if (it->is_object()) {
      diff_into(old == before.end() ? json::object() : *old, *it, key, out);
      continue;
    }
    if (std::find(free.begin(), free.end(), key) != free.end()) continue;
    if (old == before.end() || *old != *it)
      out.push_back(key + ": " + (old == before.end() ? std::string("(absent)") : old->dump()) + " -> " + it->dump());
  }
}
}  // namespace

std::vector<std::string> experiment_differences(Config& before, Config& after) {
  std::vector<std::string> out;
  diff_into(json::parse(to_json(before)), json::parse(to_json(after)), "", out);
  return out;
}

void check_resume_config(Config& config, const std::string& run_config_path, bool allow_change) {
  Config before = load_config(run_config_path);
  std::vector<std::string> diff = experiment_differences(before, config);
  if (diff.empty()) return;
  const std::string what = "the configuration differs from " + run_config_path + " in " +
                           std::to_string(diff.size()) + " key(s) that change the experiment: " + join(diff, ", ");
  if (allow_change) {
    NABLAGFN_WARN("--allow-config-change: %s", what.c_str());
    return;
  }
  throw Error("--resume: " + what,
              "resume with the run's own settings, or pass --allow-config-change to continue with these on purpose");
}

}  // namespace nablagfn
