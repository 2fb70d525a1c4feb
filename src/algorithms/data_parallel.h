#pragma once
// Data-parallel training (issue 12): how an epoch's trajectories are cut among random streams and ranks,
// and the collectives the trainer runs on them. LibTorch has no C++ DistributedDataParallel: the
// gradients are averaged here, with one all-reduce of one flat buffer per optimizer step.
//
// Random streams. The epoch's data come from S streams; stream s has its own generator seeded with
// seed + s (seed + 0 for every stream under algorithm.quirk_same_seed, the release's bug) and draws its
// share of the epoch's trajectories, their shuffle, and the transition draws of its micro-batches. Rank r
// of W runs streams r·S/W .. (r+1)·S/W − 1. By default S = W (rank r draws from seed + r, spec §9 item 4);
// a fixed run.data_streams makes the data independent of W: 1 process with S = 2 trains on exactly the
// trajectories that 2 processes draw, and its update is the same average of per-stream gradients, up to
// float rounding. The global batch (trajectories per epoch and per update) never depends on W or S.
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "algorithms/algorithm.h"
#include "config/config.h"
#include "core/distributed.h"

namespace nablagfn {

struct ShardPlan {
  int n_streams = 1;         // S
  int first_stream = 0;      // this rank's streams: first_stream .. first_stream + streams_per_rank - 1
  int streams_per_rank = 1;  // S / W
  int sample_batches = 1;    // sampling batches of one stream per epoch
  int sample_batch_size = 1; // trajectories per sampling batch
  int micro_batches = 1;     // micro-batches of one stream per optimizer update
  int micro_batch_size = 1;  // trajectories per micro-batch
};

// The plan of rank of world_size under config; a global batch that does not split over the streams, or
// streams that do not split over the ranks, is an Error naming the numbers.
ShardPlan plan_shards(const Config& config, int world_size, int rank);

// This rank's stream generators (CPU), in stream order.
std::vector<at::Generator> make_stream_generators(const Config& config, const ShardPlan& plan);
// The same streams' generators for noise drawn on device: cpu itself on the CPU, fresh Philox generators of
// the streams' seeds on CUDA (no noise tensor crosses from the host).
std::vector<at::Generator> make_stream_noise_generators(const Config& config, const ShardPlan& plan,
                                                        c10::Device device, const std::vector<at::Generator>& cpu);

// Copies the main process's parameters to every process (one broadcast of a flat buffer), so that all
// start from the same weights whatever their initialisation drew. No-op for one process.
void broadcast_parameters(Collectives& comm, const std::vector<ParamGroup>& groups);

// Replaces every parameter's gradient by its mean over the ranks: one all-reduce of a flat float32 buffer
// holding every gradient plus one "defined" flag per parameter (a gradient no rank produced stays
// undefined; one some rank produced counts as zero on the others). No-op for one process.
void average_gradients(Collectives& comm, const std::vector<ParamGroup>& groups);

// The gradients of a process's streams kept apart and summed in stream order, then divided by the stream
// count: 1 process with 2 streams then combines them exactly as the all-reduce of 2 processes does
// ((g0 + g1) / 2, bit for bit), whatever the micro-batches within each stream.
class StreamGradients {
 public:
  explicit StreamGradients(const std::vector<ParamGroup>& groups);
  // After one stream's micro-batches: adds the parameters' gradients into the sums and clears them.
  void end_stream();
  // Sets every gradient to its sum over the streams / n_streams.
  void finish(int n_streams);

 private:
  std::vector<at::Tensor> params_;
  std::vector<at::Tensor> sums_;  // undefined where no stream produced a gradient yet
};

// Mean and unbiased std of every rank's rewards [n] together.
std::pair<double, double> global_reward_stats(Collectives& comm, const at::Tensor& rewards);

// Sums of logged loss terms and the micro-batch count, summed over the ranks (same keys on every rank).
void sum_terms_over_ranks(Collectives& comm, std::map<std::string, double>& term_sums, int& n_micro);

// Every rank's rows [n, ...] (the same shape on every rank), concatenated in rank order: [W n, ...] on
// rows's device.
at::Tensor gather_rows(Collectives& comm, const at::Tensor& rows, const char* what);
// Every rank's prompts, concatenated in rank order; each must be one of prompt_set (sent as its index).
std::vector<std::string> gather_prompts(Collectives& comm, const std::vector<std::string>& prompts,
                                        const std::vector<std::string>& prompt_set);
// Every rank's batch (the same size and fields on every rank), concatenated in rank order, i.e. in stream
// order: what a checkpoint keeps of the lagged buffer.
TrajectoryBatch gather_batches(Collectives& comm, const TrajectoryBatch& batch,
                               const std::vector<std::string>& prompt_set);

// Every stream's generator state (uint8 [N]), gathered from all ranks, indexed by stream.
std::vector<at::Tensor> gather_generator_states(Collectives& comm, const std::vector<at::Generator>& local);

}  // namespace nablagfn
