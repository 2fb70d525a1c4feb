#pragma once
// Checkpoints of a training run: checkpoints/epoch_NNNN/ holding adapter.safetensors (the policy's
// trainable part), algorithm.safetensors (flow networks), optimizer.pt (AdamW moments), rng.safetensors
// and state.json (epoch, update). Each is written into epoch_NNNN.tmp/ and the folder renamed when
// complete, so a checkpoint folder is never half-written.
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>

#include "algorithms/algorithm.h"
#include "io/run_dir.h"

namespace nablagfn {

struct CheckpointState {
  int epoch = -1;  // last completed epoch
  int update = 0;
};

// stream_rng_states[s]: the generator state of random stream s (algorithms/data_parallel.h), every stream
// of every process; rng.safetensors keys them "generator" (stream 0) and "generator.s".
void save_checkpoint(const RunDir& run, const CheckpointState& state, Denoiser& denoiser, Algorithm& algorithm,
                     torch::optim::Optimizer& optimizer, const std::vector<at::Tensor>& stream_rng_states);
// Loads the latest complete checkpoint, gens[i] from stream first_stream + i; returns false when there is
// none. A checkpoint without one of those streams is an Error.
bool load_latest_checkpoint(const RunDir& run, CheckpointState& state, Denoiser& denoiser, Algorithm& algorithm,
                            torch::optim::Optimizer& optimizer, std::vector<at::Generator>& gens, int first_stream);

}  // namespace nablagfn
