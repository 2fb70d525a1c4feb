#pragma once
// train.vram_budget_gib (`nablagfn train --vram-budget GiB`): picks the training micro-batch split and
// train.reward_grad_chunk of ∇-DB's folded passes on Stable Diffusion so that the estimated peak of the
// CUDA caching allocator fits the budget, and logs the choice.
// The estimate is linear in what a transition keeps alive at its peak (algorithms/nabla_db.h, folded
// passes): the frozen networks, one UNet autograd graph of the CFG batch 2b, and the decoder + reward
// backward of min(chunk, b) images, the two per-sample terms scaled by the latent area against SD-1.5's
// 64 x 64, plus the private pool the CUDA-graph sampler keeps through training. Its constants were
// measured by bench/bench_training on full-size SD-1.5 (bench/README.md), for each layout of the UNet and
// decoder (model.memory_format) and with or without model.lora_merged_backward.
#include "algorithms/problem.h"
#include "config/config.h"

namespace nablagfn {

struct VramChoice {
  int batch_size = 0;         // train.batch_size
  int grad_accum_steps = 0;   // train.grad_accum_steps (batch_size x this unchanged where it divides)
  int reward_grad_chunk = 0;  // train.reward_grad_chunk
  double estimate_gib = 0.0;  // estimated peak
  bool fits = false;          // estimate_gib <= budget
};

// How the training passes run, as far as their memory goes.
struct PeakSettings {
  bool channels_last = false;    // model.memory_format resolved for the device
  bool merged_backward = false;  // model.lora_merged_backward
};

// Estimated peak GiB (reserved) of one folded ∇-DB transition at micro-batch b, chunk (0: all b), latent h x w,
// plus the CUDA-graph sampler's pool for a sampling batch of graph_batch trajectories (0: plain chain).
double estimate_nabla_db_peak_gib(int b, int chunk, int64_t h, int64_t w, int graph_batch = 0, PeakSettings s = {});

// The largest micro-batch (a divisor of train.batch_size x grad_accum_steps, at most train.batch_size)
// and then the largest chunk (a divisor of it) that fit config.train.vram_budget_gib; micro-batch 1 with
// chunk 1 when nothing fits.
// The sampling graph's pool counts when problem.fast_chain is set (sample.batch_size trajectories).
VramChoice choose_vram_settings(const Config& config, const Problem& problem);
VramChoice choose_vram_settings(const Config& config, int64_t h, int64_t w, int graph_batch, PeakSettings s = {});

// Applies choose_vram_settings to config when train.vram_budget_gib > 0 (nabla_db on an SD problem; other
// algorithms and problems are left as configured, with a log line saying so) and logs the choice.
void apply_vram_budget(Config& config, const Problem& problem);

}  // namespace nablagfn
