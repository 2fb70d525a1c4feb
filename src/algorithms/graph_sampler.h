#pragma once
// CUDA-graph sampling: the K-step chain of rollout() / sample_final() (algorithms/trajectory.cpp) with one
// step (guided ε, the sampler's linear-Gaussian update, the step noise) captured once as a CUDA graph for
// fixed shapes and replayed K times, with no host synchronisation inside the loop.
// What changed against the plain chain:
//  - the step's constants (τ_k, c_x, c_ε, c_x̂0, σ_k, ᾱ_k) are gathered on the device from tables indexed
//    by a step counter that the graph itself advances, instead of being built on the host each step;
//  - the K step noises are drawn from the caller's generator before the loop, K draws of x's shape in the
//    order the plain chain draws them, into a buffer the graph reads: one seed gives the same noise as
//    sample_final, and the trajectories agree up to kernel rounding (tests/test_sampling_gpu.cpp);
//  - optionally (merge_lora, SD denoisers only) the LoRA branch runs folded into the projection weights
//    (models/cuda_sampling.h), re-merged before every sample() so optimizer updates are seen.
// Only built with CUDA (NABLAGFN_WITH_CUDA); the CPU build has no such class.
// Legend: B batch, K steps, S per-sample state shape, L/D context tokens / width.
#if NABLAGFN_WITH_CUDA

#include <memory>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <ATen/cuda/CUDAGraph.h>

#include "models/denoiser.h"
#include "models/guidance.h"
#include "schedulers/scheduler.h"

namespace nablagfn {

struct CudaGraphSamplerOptions {
  bool store_states = true;  // return x_0 .. x_K; otherwise x_K only
  bool store_eps = false;    // return the guided ε of every step
  bool merge_lora = false;   // SDDenoiser only: LoRA folded into the weights (models/cuda_sampling.h)
  int warmup_steps = 2;      // eager steps before capture (cuDNN / cuBLAS algorithm choice, lazy init)
  // The graph memory pool (at::cuda::graph_pool_handle()), shared by samplers that never replay at the
  // same time (their step transients are dead between replays); {0, 0}: a private pool.
  decltype(at::cuda::graph_pool_handle()) pool{0, 0};
};

struct GraphSamples {
  at::Tensor x;    // [B, K+1, S...] (store_states) or [B, S...] (x_K)
  at::Tensor eps;  // [B, K, S...] (store_eps) or undefined
};

class CudaGraphSampler {
 public:
  // Captures one step for latents shaped like x_like [B, S...] (its dtype, CUDA device and memory format)
  // and conditioning like c (c.cond [B, L, D]; c.uncond [1 or B, L, D]; c.guidance_scale fixed from here
  // on). The denoiser must outlive the sampler; the scheduler's tables are copied.
  CudaGraphSampler(Denoiser& denoiser, const Scheduler& scheduler, const at::Tensor& x_like, const Conditioning& c,
                   Adapter adapter, const CudaGraphSamplerOptions& options = {});
  ~CudaGraphSampler();
  CudaGraphSampler(const CudaGraphSampler&) = delete;
  CudaGraphSampler& operator=(const CudaGraphSampler&) = delete;

  // x0 [B, S...], cond [B, L, D] (shapes as at construction; undefined for an unconditional model);
  // gen (a CUDA generator) draws the K step noises. No autograd.
  GraphSamples sample(const at::Tensor& x0, const at::Tensor& cond, at::Generator gen);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nablagfn

#endif  // NABLAGFN_WITH_CUDA
