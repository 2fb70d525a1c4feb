#pragma once
// The accepted values of a numeric config field, written as the optional fourth argument of its visit()
// line (config.h), next to its default and documentation. validate() checks every field against its
// range; `config --defaults` prints it.
#include <cmath>
#include <limits>
#include <string>

namespace nablagfn {

struct Range {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false;
  bool hi_open = false;

  static Range at_least(double lo) { return {lo, std::numeric_limits<double>::infinity(), false, false}; }
  static Range above(double lo) { return {lo, std::numeric_limits<double>::infinity(), true, false}; }
  static Range closed(double lo, double hi) { return {lo, hi, false, false}; }
  // [lo, hi)
  static Range below(double lo, double hi) { return {lo, hi, false, true}; }
  // (lo, hi]
  static Range above_up_to(double lo, double hi) { return {lo, hi, true, false}; }

  bool contains(double v) const {
    return (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
  }
  // "> 0", ">= 1", "in [0, 1)".
  std::string describe() const {
    auto num = [](double v) {
      std::string s = std::to_string(v);
      s.erase(s.find_last_not_of('0') + 1);
      if (s.back() == '.') s.pop_back();
      return s;
    };
    if (std::isinf(hi)) return (lo_open ? "> " : ">= ") + num(lo);
    return std::string("in ") + (lo_open ? "(" : "[") + num(lo) + ", " + num(hi) + (hi_open ? ")" : "]");
  }
};

}  // namespace nablagfn
