#pragma once
// The sampling chain's fast path, as rollout() and sample_final() (algorithms/trajectory.h) take it: on a
// CUDA problem with a first-order sampler, one CudaGraphSampler (algorithms/graph_sampler.h) per batch
// shape, adapter setting and storage, captured at its first use and replayed after (all captures share one
// graph memory pool), optionally with the LoRA merged into the projection weights (sample.merge_lora).
// Anything else (the CPU, second-order samplers, sample.cuda_graph = false) runs the plain chain.
// What changes against the plain chain: the step noise is the same draws from the same generator; the
// trajectories agree up to kernel rounding, and to one bf16 rounding of W + (alpha/r)BA with merged LoRA
// (tests/test_sampling_gpu.cpp states the tolerances). The DDPO / DAG-DB log-probs are recomputed from the
// stored states and ε after the chain, as the plain chain computes them per step.
// Legend: B batch, K steps, S per-sample state shape, L/D context tokens / width.
#include <memory>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "models/denoiser.h"

namespace nablagfn {

struct Problem;
struct SampleConfig;

struct ChainResult {
  at::Tensor x;    // [B, K+1, S...] x_0 .. x_K (store_states) or [B, S...] x_K
  at::Tensor eps;  // [B, K, S...] guided ε of every step (store_eps) or undefined
};

class FastChain {
 public:
  virtual ~FastChain() = default;
  // Whether run() takes the chain from x0 [B, S...] with this adapter; false: run the plain chain.
  virtual bool serves(const at::Tensor& x0, Adapter adapter) const = 0;
  // The K-step chain from x0 with prompt states cond [B, L, D] (undefined without text); gen (on x0's
  // device) draws the step noise. No autograd.
  virtual ChainResult run(const at::Tensor& x0, const at::Tensor& cond, at::Generator gen, Adapter adapter,
                          bool store_states, bool store_eps) = 0;
};

// The fast path for problem (its denoiser, scheduler, CFG setting), or null where it does not apply (CPU
// device, a libtorch without CUDA, sample.cuda_graph off). problem must outlive it.
std::shared_ptr<FastChain> make_fast_chain(Problem& problem, const SampleConfig& config);

}  // namespace nablagfn
