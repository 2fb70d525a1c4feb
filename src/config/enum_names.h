#pragma once
// Every mode of the configuration is an enum class with one table of its names (NABLAGFN_ENUM_NAMES,
// next to the enum); to_string and parse_enum come from that table, so the JSON form, `config --defaults`
// and the error listing the valid names cannot drift from the enum. Code compares enums (a switch over all
// values), never strings.
#include <iterator>
#include <string>
#include <utility>

#include "core/error.h"

namespace nablagfn {

// Specialised by NABLAGFN_ENUM_NAMES: `table`, pairs of (value, name). A value may have several names
// (a synonym); to_string gives the first.
template <class E>
struct EnumNames;

#define NABLAGFN_ENUM_NAMES(E, ...)                                          \
  template <>                                                                \
  struct EnumNames<E> {                                                      \
    static constexpr std::pair<E, const char*> table[] = {__VA_ARGS__};     \
  }

template <class E>
using if_named_enum = decltype(EnumNames<E>::table);

template <class E, class = if_named_enum<E>>
std::string to_string(E value) {
  for (const auto& [v, name] : EnumNames<E>::table)
    if (v == value) return name;
  throw Error("enum value without a name", "this is a bug: add it to its NABLAGFN_ENUM_NAMES table");
}

// "a, b or c".
template <class E>
std::string enum_choices() {
  std::string out;
  const size_t n = std::size(EnumNames<E>::table);
  for (size_t i = 0; i < n; ++i)
    out += (i == 0 ? "" : i + 1 == n ? " or " : ", ") + std::string(EnumNames<E>::table[i].second);
  return out;
}

// False (value untouched) for a name not in the table.
template <class E>
bool try_parse_enum(const std::string& name, E& value) {
  for (const auto& [v, n] : EnumNames<E>::table)
    if (name == n) {
      value = v;
      return true;
    }
  return false;
}

// Error "<what> must be one of a, b or c, got 'x'" for a name not in the table.
template <class E>
E parse_enum(const std::string& name, const std::string& what) {
  E value{};
  if (!try_parse_enum(name, value))
    throw Error(what + " must be " + enum_choices<E>() + ", got '" + name + "'",
                "see `nablagfn config --defaults` for what each means");
  return value;
}

}  // namespace nablagfn
