#pragma once
// Typed fields of a JSON object read from a model's or scheduler's config file (diffusers config.json,
// transformers config.json, open_clip model configs, scheduler_config.json). A wrong type is an Error
// naming the file and the key; integer fields refuse fractions and booleans (nlohmann's get<int64_t>
// would truncate 1.5 and read true as 1).
#include <cstdint>
#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace nablagfn {

namespace json_fields_detail {
template <class T>
bool holds(const nlohmann::json& v) {
  if constexpr (std::is_same_v<T, bool>)
    return v.is_boolean();
  else if constexpr (std::is_integral_v<T>)
    return v.is_number_integer();
  else if constexpr (std::is_floating_point_v<T>)
    return v.is_number();
  else if constexpr (std::is_same_v<T, std::string>)
    return v.is_string();
  else
    return true;  // containers: nlohmann checks the elements
}
}  // namespace json_fields_detail

// j[key] as T; Error(hint) when absent or of another type. source names the file in the message.
template <class T>
T json_field(const nlohmann::json& j, const std::string& key, const std::string& source, const std::string& hint) {
  if (!j.is_object() || !j.contains(key)) throw Error("'" + source + "' has no field '" + key + "'", hint);
  const nlohmann::json& v = j.at(key);
  try {
    if (json_fields_detail::holds<T>(v)) return v.get<T>();
  } catch (const nlohmann::json::exception&) {
  }
  throw Error("'" + source + "': field '" + key + "' has the wrong type (" + v.dump() + ")", hint);
}

// j[key] as T, or fallback when absent or null.
template <class T>
T json_field_or(const nlohmann::json& j, const std::string& key, const T& fallback, const std::string& source,
                const std::string& hint) {
  return j.is_object() && j.contains(key) && !j.at(key).is_null() ? json_field<T>(j, key, source, hint) : fallback;
}

}  // namespace nablagfn
