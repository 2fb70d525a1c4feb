#pragma once
// The training loop of DESIGN.md "Data flow of one epoch" (spec §3.8): sample → reward → (lagged) buffer →
// micro-batches → algorithm loss → optimizer step → metrics → evaluation → checkpoint. Everything
// algorithm-specific is behind Algorithm, everything problem-specific behind Problem and Evaluator.
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "algorithms/algorithm.h"
#include "algorithms/problem.h"
#include "config/config.h"
#include "core/distributed.h"
#include "io/run_dir.h"

namespace nablagfn {

// Problem-specific evaluation (toy: mode masses and total variation; SD: reward, diversity, prior drift).
class Evaluator {
 public:
  virtual ~Evaluator() = default;
  // Metrics of the current policy; may write pictures under run (samples/, plots/). final is true once,
  // after the last epoch, where the evaluator also writes final_samples.safetensors and summary plots.
  // epoch is -1 for the evaluation of the pretrained model before any update.
  virtual std::map<std::string, double> evaluate(Problem& problem, const RunDir& run, int epoch, bool final) = 0;
  // The pictures the last evaluate() wrote, as (tag, PNG path): the trainer copies them into the
  // TensorBoard event file.
  virtual std::vector<std::pair<std::string, std::string>> images() const { return {}; }
  // Offers the processes of a data-parallel run (comm outlives the evaluator's use of it): true when the
  // evaluator shares its samples among them (problems/eval_shards.h); the trainer then calls evaluate() on
  // every process with the same arguments, and only the main process writes. false: the main process
  // evaluates alone while the others wait.
  virtual bool share_with(Collectives* comm) { return false; }
};

struct TrainSummary {
  int epochs_done = 0;
  int updates = 0;
  std::map<std::string, double> final_metrics;
};

// Trains problem's policy with algorithm under config, writing into run. Resumes from the latest
// checkpoint in run when run.resumed(). With comm (several processes, algorithms/data_parallel.h) each
// process trains on its share of the data; the main process alone writes into run, and evaluates unless the
// evaluator shares its work (Evaluator::share_with).
TrainSummary train(Problem& problem, Algorithm& algorithm, const Config& config, const RunDir& run,
                   Evaluator* evaluator, Collectives* comm = nullptr);

}  // namespace nablagfn
