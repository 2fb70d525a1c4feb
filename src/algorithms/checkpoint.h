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

void save_checkpoint(const RunDir& run, const CheckpointState& state, Denoiser& denoiser, Algorithm& algorithm,
                     torch::optim::Optimizer& optimizer, const at::Generator& gen);
// The complete checkpoints (state.json present) under run_root/checkpoints, by epoch: what `eval` evaluates.
struct CheckpointEntry {
  CheckpointState state;
  std::string dir;
};
std::vector<CheckpointEntry> list_checkpoints(const std::string& run_root);
// Loads only the adapter of a checkpoint into denoiser (evaluation); Error on a mismatch.
void load_checkpoint_adapter(const CheckpointEntry& checkpoint, Denoiser& denoiser);

// Loads the latest complete checkpoint; returns false when there is none.
bool load_latest_checkpoint(const RunDir& run, CheckpointState& state, Denoiser& denoiser, Algorithm& algorithm,
                            torch::optim::Optimizer& optimizer, at::Generator& gen);

}  // namespace nablagfn
