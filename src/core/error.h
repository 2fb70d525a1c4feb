#pragma once
// User-facing errors: one line saying what is wrong, then a hint how to fix it.
// cli/main.cpp catches them once, prints "error: <what>", exits 1. Tensor contracts inside modules
// use TORCH_CHECK instead.
#include <stdexcept>
#include <string>

namespace nablagfn {

class Error : public std::runtime_error {
 public:
  Error(const std::string& what, const std::string& hint)
      : std::runtime_error(hint.empty() ? what : what + " (hint: " + hint + ")"), hint_(hint) {}
  const std::string& hint() const { return hint_; }

 private:
  std::string hint_;
};

// Throws Error(what, hint) unless cond holds.
inline void require(bool cond, const std::string& what, const std::string& hint) {
  if (!cond) throw Error(what, hint);
}

}  // namespace nablagfn
