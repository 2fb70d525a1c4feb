#pragma once
// Checkpoints of a training run: checkpoints/epoch_NNNN/ holding adapter.safetensors (the policy's
// trainable part), algorithm.safetensors (flow networks), optimizer.pt (AdamW moments), rng.safetensors,
// lagged.safetensors (with train.data_lag = 1: the batch sampled last, which the next epoch trains on) and
// state.json (epoch, update, the lagged batch's prompts). Each is written into epoch_NNNN.tmp/ and the
// folder renamed when complete, so a checkpoint folder is never half-written; a resumed run continues
// bit for bit where the checkpoint left off.
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>

#include "algorithms/algorithm.h"
#include "io/run_dir.h"

namespace nablagfn {

struct CheckpointState {
  int epoch = -1;  // last completed epoch
  int update = 0;
  TrajectoryBatch lagged;  // the one-epoch-lag buffer; empty (size 0) without data lag
};

// Writes checkpoints/epoch_NNNN/, then removes all but the newest keep complete checkpoint folders
// (keep <= 0: keeps every one). stream_rng_states[s]: the generator state of random stream s
// (algorithms/data_parallel.h), every stream of every process; rng.safetensors keys them "generator"
// (stream 0) and "generator.s". device_rng_states[s]: stream s's step-noise generator on the problem's
// device (CUDA Philox seed and offset; empty on the CPU, where one generator serves both), keyed
// "device_generator" / "device_generator.s".
void save_checkpoint(const RunDir& run, const CheckpointState& state, Denoiser& denoiser, Algorithm& algorithm,
                     torch::optim::Optimizer& optimizer, const std::vector<at::Tensor>& stream_rng_states,
                     const std::vector<at::Tensor>& device_rng_states, int keep = 0);
// The newest complete checkpoint folder of run (run/checkpoints/epoch_NNNN), or "" when there is none.
std::string latest_checkpoint_dir(const RunDir& run);
// The complete checkpoints (state.json present) under run_root/checkpoints, by epoch: what `eval` evaluates.
struct CheckpointEntry {
  CheckpointState state;
  std::string dir;
};
std::vector<CheckpointEntry> list_checkpoints(const std::string& run_root);
// Loads only the adapter of a checkpoint into denoiser (evaluation); Error on a mismatch.
void load_checkpoint_adapter(const CheckpointEntry& checkpoint, Denoiser& denoiser);

// Loads the latest complete checkpoint, gens[i] from stream first_stream + i and, when device_gens is not
// null, (*device_gens)[i] likewise; returns false when there is none. A checkpoint without one of those
// streams is an Error; one without device generator states (written by an older nablagfn) resumes with a
// warning that the step noise differs from a straight run.
bool load_latest_checkpoint(const RunDir& run, CheckpointState& state, Denoiser& denoiser, Algorithm& algorithm,
                            torch::optim::Optimizer& optimizer, std::vector<at::Generator>& gens, int first_stream,
                            std::vector<at::Generator>* device_gens);

}  // namespace nablagfn
