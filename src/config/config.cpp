#include "config/config.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "config/renamed_keys.h"
#include "core/error.h"
#include "core/strings.h"
#include "io/atomic_file.h"

namespace nablagfn {

namespace {
using json = nlohmann::ordered_json;

struct Field {
  std::function<void(const json&)> set;
  std::function<json()> get;
  // "" when the value is acceptable, else why not (with the accepted range).
  std::function<std::string()> check;
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

// What a field accepts, for errors: "an integer", or "one of a, b or c" for a mode.
template <class T>
std::string accepted(const T&) {
  if constexpr (std::is_enum_v<T>) return "one of " + enum_choices<T>();
  return type_name<T>();
}

template <class T>
json to_json_value(const T& value) {
  if constexpr (std::is_enum_v<T>) return to_string(value);
  return json(value);
}

// An integer that fits an int: JSON integers beyond it are errors, never wrapped.
bool fits_int(const json& j) {
  if (j.is_number_unsigned()) return j.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int>::max());
  if (!j.is_number_integer()) return false;
  const int64_t v = j.get<int64_t>();
  return v >= std::numeric_limits<int>::min() && v <= std::numeric_limits<int>::max();
}

template <class T>
bool fits(const json& j) {
  if constexpr (std::is_same_v<T, bool>) return j.is_boolean();
  if constexpr (std::is_same_v<T, int>) return fits_int(j);
  if constexpr (std::is_same_v<T, double>) return j.is_number();
  if constexpr (std::is_same_v<T, std::string>) return j.is_string();
  if constexpr (std::is_enum_v<T>) {
    T value{};
    return j.is_string() && try_parse_enum(j.get<std::string>(), value);
  }
  if constexpr (std::is_same_v<T, std::vector<int>>) {
    if (!j.is_array()) return false;
    for (const auto& e : j)
      if (!fits_int(e)) return false;
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

// "" if v is finite and in range, else the reason.
std::string check_number(double v, const Range* range) {
  if (!std::isfinite(v)) return "must be a finite number";
  if (range && !range->contains(v)) return "must be " + range->describe();
  return "";
}

template <class T>
std::string check_value(const T& value, const Range* range) {
  if constexpr (std::is_same_v<T, int> || std::is_same_v<T, double>) return check_number(value, range);
  if constexpr (std::is_same_v<T, std::vector<int>> || std::is_same_v<T, std::vector<double>>) {
    for (const auto& e : value) {
      std::string why = check_number(e, range);
      if (!why.empty()) return why + " in every entry";
    }
  }
  return "";
}

template <class T, class... R>
Field make_field(const std::string& full, T& field, const char* doc, R... range) {
  static_assert(sizeof...(range) <= 1, "a visit line takes at most one Range");
  std::optional<Range> r;
  ((r = range), ...);
  Field f;
  f.set = [&field, full, r](const json& j) {
    if (fits<T>(j)) {
      if constexpr (std::is_enum_v<T>)
        field = parse_enum<T>(j.get<std::string>(), full);
      else
        field = j.get<T>();
      return;
    }
    const bool overflow = (std::is_same_v<T, int> && j.is_number_integer()) ||
                          (std::is_same_v<T, std::vector<int>> && fits<std::vector<double>>(j));
    throw Error("config key '" + full + "' must be " + accepted(field) +
                    (overflow ? " between -2147483648 and 2147483647" + (r ? ", " + r->describe() : "") : "") +
                    ", got " + j.dump(),
                "see `nablagfn config --defaults` for every key and its type");
  };
  f.get = [&field]() { return to_json_value(field); };
  f.check = [&field, r]() { return check_value(field, r ? &*r : nullptr); };
  f.doc = doc;
  if (r) f.doc += " (" + r->describe() + ")";
  return f;
}

// Every field of section under "prefix.": a visit line with a documentation is a field, one with only a
// name and a member is a sub-section (its own struct with its own visit, e.g. algorithm.ddpo).
template <class Section>
void collect(const std::string& prefix, Section& section, std::vector<std::pair<std::string, Field>>& out) {
  section.visit([&](const char* key, auto& member, auto... doc_and_range) {
    const std::string full = prefix + "." + key;
    if constexpr (sizeof...(doc_and_range) == 0)
      collect(full, member, out);
    else
      out.emplace_back(full, make_field(full, member, doc_and_range...));
  });
}

// "group.key" (or "group.section.key") -> setter/getter/check/doc for every field, in declaration order.
std::vector<std::pair<std::string, Field>> fields_of(Config& config) {
  std::vector<std::pair<std::string, Field>> out;
  config.visit_groups([&](const char* group, auto& section) { collect(group, section, out); });
  return out;
}

bool is_section(const std::vector<std::pair<std::string, Field>>& fields, const std::string& key) {
  for (const auto& [name, f] : fields)
    if (name.compare(0, key.size() + 1, key + ".") == 0) return true;
  return false;
}

Field& find_field(std::vector<std::pair<std::string, Field>>& fields, const std::string& key) {
  std::vector<std::string> names;
  for (auto& [name, f] : fields) {
    if (name == key) return f;
    names.push_back(name);
  }
  throw Error("unknown config key '" + key + "'", "did you mean " + join(closest_matches(key, names), ", ") + "?");
}

void apply_object(std::vector<std::pair<std::string, Field>>& fields, const json& object, const std::string& prefix) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object() && is_section(fields, key)) {
      apply_object(fields, *it, key);
      continue;
    }
    Field& f = find_field(fields, current_key(key));
    // A known field at the top: given without its group.
    if (prefix.empty())
      throw Error("config key '" + key + "' must be inside its group", "write it as {\"group\": {\"key\": ...}}");
    f.set(*it);
  }
}

void apply_json(Config& config, const json& root, const std::string& origin) {
  require(root.is_object(), origin + " must hold a JSON object", "start the file with { and end it with }");
  auto fields = fields_of(config);
  apply_object(fields, root, "");
}
}  // namespace

Config load_config(const std::string& path) {
  std::string text = read_file(path);
  json root;
  try {
    root = json::parse(text, nullptr, true, /*ignore_comments=*/true);
  } catch (const json::exception& e) {
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
  } catch (const json::exception&) {
    j = value;  // bare words are strings: --set reward.name=aesthetic
  }
  auto fields = fields_of(config);
  Field& f = find_field(fields, current_key(key));
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
    std::string pointer = "/" + name;
    std::replace(pointer.begin(), pointer.end(), '.', '/');
    root[json::json_pointer(pointer)] = f.get();
  }
  return root.dump(2) + "\n";
}

std::string to_jsonc(Config& config) {
  std::ostringstream os;
  os << "// nablagfn configuration defaults. An experiment file lists only what differs.\n{";
  std::vector<std::string> open;      // sections open at the current line, outermost first
  std::vector<bool> has_items{false};  // per open level (the root first): an item was printed there
  auto indent = [](size_t depth) { return std::string(2 * depth, ' '); };
  auto next_item = [&] {
    os << (has_items.back() ? ",\n" : "\n");
    has_items.back() = true;
  };
  auto close_to = [&](size_t depth) {
    while (open.size() > depth) {
      open.pop_back();
      has_items.pop_back();
      os << "\n" << indent(open.size() + 1) << "}";
    }
  };
  for (auto& [name, f] : fields_of(config)) {
    std::vector<std::string> parts = split(name, '.');
    const std::string leaf = parts.back();
    parts.pop_back();
    size_t common = 0;
    while (common < open.size() && common < parts.size() && open[common] == parts[common]) ++common;
    close_to(common);
    while (open.size() < parts.size()) {
      next_item();
      os << indent(open.size() + 1) << "\"" << parts[open.size()] << "\": {";
      open.push_back(parts[open.size()]);
      has_items.push_back(false);
    }
    next_item();
    os << indent(open.size() + 1) << "// " << f.doc << "\n" << indent(open.size() + 1) << "\"" << leaf
       << "\": " << f.get().dump();
  }
  close_to(0);
  os << "\n}\n";
  return os.str();
}

void validate(const Config& config) {
  Config copy = config;
  for (auto& [name, f] : fields_of(copy)) {
    std::string why = f.check();
    if (!why.empty())
      throw Error("config key '" + name + "' " + why + ", got " + f.get().dump(), "set --set " + name + "=<value>");
  }
  const Config& c = config;
  require(!c.run.out.empty(), "config key 'run.out' is empty", "name the run directory, for example runs/NAME");
  require(!c.model.flow_block_out_channels.empty(), "config key 'model.flow_block_out_channels' is empty",
          "give the flow UNet's widths, for example [64, 128, 256, 256]");
  if (c.algorithm.name == "draft")
    require(c.algorithm.draft.k <= c.sample.n_steps,
            "config key 'algorithm.draft.k' must be <= sample.n_steps (" + std::to_string(c.sample.n_steps) +
                "), got " + std::to_string(c.algorithm.draft.k),
            "draft.k = n_steps is full DRaFT");
  const int64_t per_epoch = int64_t{c.sample.batch_size} * c.sample.n_batches_per_epoch;
  const int64_t per_update = int64_t{c.train.batch_size} * c.train.grad_accum_steps;
  require(per_epoch % per_update == 0,
          "trajectories per epoch (" + std::to_string(per_epoch) + ") is not a multiple of trajectories per update (" +
              std::to_string(per_update) + ")",
          "make sample.batch_size x sample.n_batches_per_epoch divisible by train.batch_size x train.grad_accum_steps");
}

}  // namespace nablagfn
