// The built-in algorithms, by config name. Adding one: its file, plus one line here.
#include "algorithms/algorithm.h"

namespace nablagfn {

AlgorithmRegistry& algorithm_registry() {
  static AlgorithmRegistry registry = [] {
    AlgorithmRegistry r("algorithm");
    return r;
  }();
  return registry;
}

}  // namespace nablagfn
