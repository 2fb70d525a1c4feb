#pragma once
// algorithm.dag_db.*: the knobs of DAG-DB (dag_db.h).
#include "config/range.h"

namespace nablagfn {

struct DAGDBConfig {
  double beta_anneal = 0.5;

  template <class V>
  void visit(V&& v) {
    v("beta_anneal", beta_anneal, "beta ramps linearly to its value over this fraction of the epochs (0 = off)",
      Range::at_least(0));
  }
};

}  // namespace nablagfn
