#pragma once
// model.kind -> the Problem the trainer runs and its Evaluator, through problem_registry().
#include <memory>

#include "algorithms/problem.h"
#include "algorithms/trainer.h"
#include "config/config.h"
#include "core/registry.h"

namespace nablagfn {

class ProblemBundle {
 public:
  virtual ~ProblemBundle() = default;
  virtual Problem& problem() = 0;
  virtual Evaluator* evaluator() = 0;
};

using ProblemRegistry = Registry<ProblemBundle, const Config&>;
ProblemRegistry& problem_registry();

// Builds everything the config describes; Error (before anything is written) on bad settings or files.
std::unique_ptr<ProblemBundle> make_problem(const Config& config);

}  // namespace nablagfn
