#pragma once
// Components chosen by name in the config ("reward": "aesthetic", "algorithm": "nabla_db").
// Each family owns one Registry and registers its built-ins in one list (for example
// rewards/builtin.cpp): adding a component is one file plus one line there.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/strings.h"

namespace nablagfn {

template <class Product, class... Args>
class Registry {
 public:
  using Factory = std::function<std::unique_ptr<Product>(Args...)>;

  explicit Registry(std::string kind) : kind_(std::move(kind)) {}

  void add(const std::string& name, Factory factory) { factories_[name] = std::move(factory); }

  bool contains(const std::string& name) const { return factories_.count(name) != 0; }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& kv : factories_) out.push_back(kv.first);
    return out;
  }

  // Unknown names throw an Error that lists every registered name.
  std::unique_ptr<Product> create(const std::string& name, Args... args) const {
    auto it = factories_.find(name);
    if (it == factories_.end())
      throw Error("unknown " + kind_ + " '" + name + "'", "registered " + kind_ + "s: " + join(names(), ", "));
    return it->second(std::forward<Args>(args)...);
  }

 private:
  std::string kind_;
  std::map<std::string, Factory> factories_;
};

}  // namespace nablagfn
