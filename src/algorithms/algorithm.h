#pragma once
// One interface for ∇-DB and every baseline (spec §3, §7). The trainer samples trajectories, cuts them
// into micro-batches and calls accumulate() on each; every grad_accum_steps micro-batches it clips and
// steps the optimizer, then calls end_update(). An algorithm owns whatever networks it trains besides the
// policy's trainable part (the flow network of ∇-DB, the scalar flow of DAG-DB) and exposes them as
// parameter groups.
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "algorithms/problem.h"
#include "algorithms/trajectory.h"
#include "config/config.h"
#include "core/distributed.h"
#include "core/registry.h"
#include "io/tensor_io.h"

namespace nablagfn {

// Loss terms of one micro-batch for logging: name -> mean value (unscaled), e.g. "loss", "l_F", "l_B".
using LossTerms = std::map<std::string, double>;

struct ParamGroup {
  std::string name;  // "flow", ...
  std::vector<at::Tensor> params;
  double lr;
  double weight_decay;
};

struct StepInfo {
  int epoch = 0;       // 0-based training epoch
  int n_epochs = 1;
  int update = 0;      // optimizer updates done so far
  at::Generator gen;        // the rank's CPU generator (transition draws, prompts, permutations)
  at::Generator noise_gen;  // the rank's generator on the problem's device (fresh noises); gen itself on the CPU
  Collectives* comm = nullptr;  // the processes of a data-parallel run (core/distributed.h); null: this one alone
};

class Algorithm {
 public:
  virtual ~Algorithm() = default;
  virtual std::string name() const = 0;

  // What the rollout must store for this algorithm.
  virtual RolloutOptions rollout_options() const { return {}; }
  // Whether the reward must be differentiable (every gradient method).
  virtual bool needs_reward_gradient() const = 0;
  // Networks trained besides the policy's trainable part.
  virtual std::vector<ParamGroup> extra_parameter_groups() { return {}; }
  // Called once per epoch before the micro-batches, with the whole training buffer (DDPO's per-prompt
  // statistics, DAG-DB's β annealing).
  virtual void begin_epoch(const TrajectoryBatch& buffer, const StepInfo& info) {}
  // Computes the loss on one micro-batch, backpropagates loss × scale into the parameters' .grad
  // (accumulating), and returns the unscaled terms for logging. Must throw Error naming the term on a
  // non-finite loss.
  virtual LossTerms accumulate(const TrajectoryBatch& mb, const StepInfo& info, double scale) = 0;
  // Called after each optimizer step, once the new weights are checked finite (∇-DB's target-network
  // average of g_φ).
  virtual void end_update() {}
  // Extra state for checkpoints (flow network weights), names unique per algorithm.
  virtual std::vector<std::pair<std::string, at::Tensor>> state() { return {}; }
  virtual void load_state(const TensorMap& state) {}
};

using AlgorithmRegistry = Registry<Algorithm, Problem&, const Config&>;
// The registry with every built-in algorithm (algorithms/builtin.cpp).
AlgorithmRegistry& algorithm_registry();

}  // namespace nablagfn
