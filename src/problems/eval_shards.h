#pragma once
// The fixed evaluation set cut into chunks and shared among the processes of a data-parallel run
// (issue 12). The n samples are cut into chunks of chunk_size rows (sample.batch_size); chunk k is drawn
// from its own seed (eval.seed + k), so a sample depends neither on the number of processes nor on which one
// draws it. Rank r of W draws chunks r, r + W, r + 2W, ...; gather() hands every rank the whole set's rows
// in set order, so each computes the metrics one process drawing every chunk computes, bit for bit. Only
// the main process writes the evaluation's files. Without a Collectives (or with one process) this process
// draws every chunk.
#include <cstdint>
#include <utility>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "core/distributed.h"

namespace nablagfn {

struct EvalChunk {
  int64_t index = 0;  // k
  int64_t begin = 0;  // rows [begin, end) of the evaluation set
  int64_t end = 0;
  uint64_t seed = 0;  // seed + k
  int64_t size() const { return end - begin; }
};

// A chunk's generators: first (CPU) for its initial noise and prompt draws, second on device for its step
// noise: the first itself on the CPU, a Philox generator of the same seed on CUDA (no noise crosses from the
// host), as the training streams (algorithms/data_parallel.h).
std::pair<at::Generator, at::Generator> chunk_generators(const EvalChunk& chunk, c10::Device device);

class EvalShards {
 public:
  // n samples in chunks of chunk_size from seed; comm: the processes sharing them (null: this one alone).
  EvalShards(int64_t n, int64_t chunk_size, uint64_t seed, Collectives* comm = nullptr);

  int64_t n() const { return n_; }
  // The chunks this process draws, in set order (none when there are fewer chunks than processes).
  std::vector<EvalChunk> mine() const;
  // parts[i]: the rows of mine()[i] that lie in the set's first `limit` rows ([rows, ...], any device; a
  // chunk past limit gives 0 rows) -> the set's first min(n, limit) rows [min(n, limit), ...] on the CPU,
  // on every process. Same trailing shape and dtype on every process; limit < 0 means n.
  at::Tensor gather(const std::vector<at::Tensor>& parts, const char* what, int64_t limit = -1) const;

 private:
  int64_t n_;
  int64_t chunk_size_;
  uint64_t seed_;
  Collectives* comm_;
  int64_t n_chunks() const { return (n_ + chunk_size_ - 1) / chunk_size_; }
  int world_size() const { return comm_ ? comm_->world_size() : 1; }
  EvalChunk chunk(int64_t k) const;
};

}  // namespace nablagfn
