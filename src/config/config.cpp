#include "config/config.h"

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/strings.h"
#include "io/atomic_file.h"

namespace nablagfn {

namespace {
using json = nlohmann::ordered_json;

struct Field {
  std::function<void(const json&)> set;
  std::function<json()> get;
  std::string doc;
};

template <class T>
const char* type_name() {
  if constexpr (std::is_same_v<T, bool>) return "a boolean";
  if constexpr (std::is_same_v<T, int>) return "an integer";
  if constexpr (std::is_same_v<T, double>) return "a number";
  if constexpr (std::is_same_v<T, std::string>) return "a string";
  if constexpr (std::is_same_v<T, std::vector<int>>) return "a list of integers";
  if constexpr (std::is_same_v<T, std::vector<double>>) return "a list of numbers";
  return "a value";
}

template <class T>
bool fits(const json& j) {
  if constexpr (std::is_same_v<T, bool>) return j.is_boolean();
  if constexpr (std::is_same_v<T, int>) return j.is_number_integer();
  if constexpr (std::is_same_v<T, double>) return j.is_number();
  if constexpr (std::is_same_v<T, std::string>) return j.is_string();
  if constexpr (std::is_same_v<T, std::vector<int>>) {
    if (!j.is_array()) return false;
    for (const auto& e : j)
      if (!e.is_number_integer()) return false;
    return true;
  }
  if constexpr (std::is_same_v<T, std::vector<double>>) {
    if (!j.is_array()) return false;
    for (const auto& e : j)
      if (!e.is_number()) return false;
    return true;
  }
  return false;
}

// "group.key" -> setter/getter/doc for every field of config, in declaration order.
std::vector<std::pair<std::string, Field>> fields_of(Config& config) {
  std::vector<std::pair<std::string, Field>> out;
  config.visit_groups([&](const char* group, auto& section) {
    section.visit([&](const char* key, auto& field, const char* doc) {
      using T = std::decay_t<decltype(field)>;
      std::string full = std::string(group) + "." + key;
      Field f;
      f.set = [&field, full](const json& j) {
        if (!fits<T>(j))
          throw Error("config key '" + full + "' must be " + type_name<T>() + ", got " + j.dump(),
                      "see `nablagfn config --defaults` for every key and its type");
        field = j.get<T>();
      };
      f.get = [&field]() { return json(field); };
      f.doc = doc;
      out.emplace_back(full, std::move(f));
    });
  });
  return out;
}

Field& find_field(std::vector<std::pair<std::string, Field>>& fields, const std::string& key) {
  std::vector<std::string> names;
  for (auto& [name, f] : fields) {
    if (name == key) return f;
    names.push_back(name);
  }
  throw Error("unknown config key '" + key + "'", "did you mean " + join(closest_matches(key, names), ", ") + "?");
}

void apply_json(Config& config, const json& root, const std::string& origin) {
  require(root.is_object(), origin + " must hold a JSON object", "start the file with { and end it with }");
  auto fields = fields_of(config);
  for (auto g = root.begin(); g != root.end(); ++g) {
    if (!g->is_object()) {
      // A top-level key that is not a group: maybe a field given without its group.
      find_field(fields, g.key());
      throw Error("config key '" + g.key() + "' must be inside its group", "write it as {\"group\": {\"key\": ...}}");
    }
    for (auto k = g->begin(); k != g->end(); ++k) find_field(fields, g.key() + "." + k.key()).set(*k);
  }
}
}  // namespace

Config load_config(const std::string& path) {
  std::string text = read_file(path);
  json root;
  try {
    root = json::parse(text, nullptr, true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    throw Error("malformed config '" + path + "': " + e.what(), "fix the JSON syntax (comments // and /* */ are allowed)");
  }
  Config config;
  apply_json(config, root, "config '" + path + "'");
  return config;
}

void apply_override(Config& config, const std::string& assignment) {
  size_t eq = assignment.find('=');
  require(eq != std::string::npos && eq > 0, "override '" + assignment + "' is not key=value",
          "write --set group.key=value, for example --set train.lr=1e-4");
  std::string key = assignment.substr(0, eq);
  std::string value = assignment.substr(eq + 1);
  json j;
  try {
    j = json::parse(value);
  } catch (const json::parse_error&) {
    j = value;  // bare words are strings: --set reward.name=aesthetic
  }
  auto fields = fields_of(config);
  Field& f = find_field(fields, key);
  // A string field given something that parsed as JSON (--set run.out=123) still takes the text.
  try {
    f.set(j);
  } catch (const Error&) {
    if (!j.is_string() && fits<std::string>(f.get())) f.set(json(value)); else throw;
  }
}

std::vector<std::string> config_keys(Config& config) {
  std::vector<std::string> out;
  for (auto& [name, f] : fields_of(config)) out.push_back(name);
  return out;
}

std::string to_json(Config& config) {
  json root = json::object();
  for (auto& [name, f] : fields_of(config)) {
    auto dot = name.find('.');
    root[name.substr(0, dot)][name.substr(dot + 1)] = f.get();
  }
  return root.dump(2) + "\n";
}

std::string to_jsonc(Config& config) {
  std::ostringstream os;
  os << "// nablagfn configuration defaults. An experiment file lists only what differs.\n{\n";
  auto fields = fields_of(config);
  std::string group;
  for (size_t i = 0; i < fields.size(); ++i) {
    const auto& [name, f] = fields[i];
    auto dot = name.find('.');
    std::string g = name.substr(0, dot);
    if (g != group) {
      if (!group.empty()) os << "  },\n";
      os << "  \"" << g << "\": {\n";
      group = g;
    }
    bool last_in_group = i + 1 == fields.size() || fields[i + 1].first.substr(0, dot + 1) != g + ".";
    os << "    // " << f.doc << "\n    \"" << name.substr(dot + 1) << "\": " << f.get().dump()
       << (last_in_group ? "\n" : ",\n");
  }
  os << "  }\n}\n";
  return os.str();
}

void validate(const Config& c) {
  auto positive = [](int v, const std::string& key) {
    require(v > 0, key + " must be > 0 (got " + std::to_string(v) + ")", "set --set " + key + "=<positive integer>");
  };
  positive(c.sample.n_steps, "sample.n_steps");
  positive(c.run.dist_timeout, "run.dist_timeout");
  require(c.run.data_streams >= 0, "run.data_streams must be >= 0", "0 uses one random stream per process");
  positive(c.sample.batch_size, "sample.batch_size");
  positive(c.sample.n_batches_per_epoch, "sample.n_batches_per_epoch");
  positive(c.train.batch_size, "train.batch_size");
  positive(c.train.grad_accum_steps, "train.grad_accum_steps");
  require(c.train.n_epochs >= 0, "train.n_epochs must be >= 0", "set --set train.n_epochs=<count>");
  require(c.train.data_lag == 0 || c.train.data_lag == 1, "train.data_lag must be 0 or 1",
          "0 trains on-policy, 1 reproduces the release's one-epoch lag");
  const int per_epoch = c.sample.batch_size * c.sample.n_batches_per_epoch;
  const int per_update = c.train.batch_size * c.train.grad_accum_steps;
  require(per_epoch % per_update == 0,
          "trajectories per epoch (" + std::to_string(per_epoch) + ") is not a multiple of trajectories per update (" +
              std::to_string(per_update) + ")",
          "make sample.batch_size x sample.n_batches_per_epoch divisible by train.batch_size x train.grad_accum_steps");
  require(c.train.timestep_fraction > 0.0 && c.train.timestep_fraction <= 1.0, "train.timestep_fraction must be in (0, 1]",
          "0.1 trains 10% of the transitions plus the terminal one");
  require(c.train.lr_schedule == "constant" || c.train.lr_schedule == "cosine",
          "train.lr_schedule must be constant or cosine", "constant is the release's");
  require(c.algorithm.condition_weighting == "none" || c.algorithm.condition_weighting == "noise" ||
              c.algorithm.condition_weighting == "eps",
          "algorithm.condition_weighting must be none, noise or eps", "none is the release's");
  require(c.algorithm.guess_model == "policy" || c.algorithm.guess_model == "pretrained",
          "algorithm.guess_model must be policy or pretrained", "policy is the release's");
  require(c.algorithm.reverse_target == "sample" || c.algorithm.reverse_target == "expected" ||
              c.algorithm.reverse_target == "backup",
          "algorithm.reverse_target must be sample, expected or backup", "sample is the release's");
  require(c.algorithm.gamma_mode == "squared" || c.algorithm.gamma_mode == "sqrt" || c.algorithm.gamma_mode == "none",
          "algorithm.gamma_mode must be squared, sqrt or none", "squared is the release default");
  require(c.algorithm.beta >= 0.0, "algorithm.beta must be >= 0", "beta = 0 targets the pretrained model itself");
  require(c.algorithm.output_reg >= 0.0 && c.algorithm.reverse_loss_scale >= 0.0,
          "algorithm.output_reg and algorithm.reverse_loss_scale must be >= 0", "use 0 to switch a term off");
  require(c.model.kind == "sd" || c.model.kind == "toy2d", "unknown model.kind '" + c.model.kind + "'",
          "use sd (a diffusers folder) or toy2d");
}

}  // namespace nablagfn
