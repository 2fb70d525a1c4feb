// The built-in algorithms, by config name. Adding one: its file, plus one line here.
#include "algorithms/algorithm.h"
#include "algorithms/adjoint_matching.h"
#include "algorithms/dag_db.h"
#include "algorithms/ddpo.h"
#include "algorithms/draft.h"
#include "algorithms/draft_lv.h"
#include "algorithms/nabla_db.h"
#include "algorithms/refl.h"
#include "algorithms/residual_db.h"

namespace nablagfn {

AlgorithmRegistry& algorithm_registry() {
  static AlgorithmRegistry registry = [] {
    AlgorithmRegistry r("algorithm");
    r.add("nabla_db", [](Problem& p, const Config& c) { return std::make_unique<NablaDB>(p, c); });
    r.add("refl", [](Problem& p, const Config& c) { return std::make_unique<ReFL>(p, c); });
    r.add("draft", [](Problem& p, const Config& c) { return std::make_unique<DRaFT>(p, c); });
    r.add("draft_lv", [](Problem& p, const Config& c) { return std::make_unique<DRaFTLV>(p, c); });
    r.add("ddpo", [](Problem& p, const Config& c) { return std::make_unique<DDPO>(p, c); });
    r.add("dag_db", [](Problem& p, const Config& c) { return std::make_unique<DAGDB>(p, c); });
    r.add("residual_db", [](Problem& p, const Config& c) { return std::make_unique<ResidualDB>(p, c); });
    r.add("adjoint_matching", [](Problem& p, const Config& c) { return std::make_unique<AdjointMatching>(p, c); });
    return r;
  }();
  return registry;
}

}  // namespace nablagfn
