// Chunks of the evaluation set, drawn round-robin by the processes and gathered; see eval_shards.h.
#include "problems/eval_shards.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>

#include "core/device.h"
#include "core/error.h"

namespace nablagfn {

namespace eval_shards_detail {
// Dimensions a gathered row may have besides the row index (the header's room).
constexpr int64_t kMaxRowDims = 6;
}  // namespace eval_shards_detail

std::pair<at::Generator, at::Generator> chunk_generators(const EvalChunk& chunk, c10::Device device) {
  at::Generator gen = at::detail::createCPUGenerator(chunk.seed);
  return {gen, device.is_cpu() ? gen : make_device_generator(device, chunk.seed)};
}

EvalShards::EvalShards(int64_t n, int64_t chunk_size, uint64_t seed, Collectives* comm)
    : n_(n), chunk_size_(std::max<int64_t>(1, chunk_size)), seed_(seed), comm_(comm) {
  require(n >= 1, "eval.n_samples must be >= 1", "the evaluation draws that many samples");
}

EvalChunk EvalShards::chunk(int64_t k) const {
  EvalChunk c;
  c.index = k;
  c.begin = k * chunk_size_;
  c.end = std::min(n_, c.begin + chunk_size_);
  c.seed = seed_ + static_cast<uint64_t>(k);
  return c;
}

std::vector<EvalChunk> EvalShards::mine() const {
  const int rank = comm_ ? comm_->rank() : 0;
  std::vector<EvalChunk> out;
  for (int64_t k = rank; k < n_chunks(); k += world_size()) out.push_back(chunk(k));
  return out;
}

at::Tensor EvalShards::gather(const std::vector<at::Tensor>& parts, const char* what, int64_t limit) const {
  using eval_shards_detail::kMaxRowDims;
  const int64_t n_rows = limit < 0 ? n_ : std::min(n_, limit);
  auto rows_of = [&](const EvalChunk& c) { return std::max<int64_t>(0, std::min(c.end, n_rows) - c.begin); };
  const std::vector<EvalChunk> chunks = mine();
  TORCH_CHECK(parts.size() == chunks.size(), what, ": ", parts.size(), " parts for ", chunks.size(), " chunks");
  for (size_t i = 0; i < parts.size(); ++i)
    TORCH_CHECK(parts[i].size(0) == rows_of(chunks[i]), what, ": chunk ", chunks[i].index, " gave ", parts[i].size(0),
                " rows, not ", rows_of(chunks[i]));
  const int W = world_size();
  if (W == 1) return at::cat(parts).cpu();  // [n_rows, ...]

  // Row shape and dtype from the main process, which always draws chunk 0 (a process without chunks has no
  // part to read them from): [dtype, dims, sizes after the first...].
  at::Tensor header = at::zeros({kMaxRowDims + 2}, at::kLong);
  if (comm_->is_main()) {
    const at::Tensor& p = parts[0];
    TORCH_CHECK(p.dim() >= 1 && p.dim() <= kMaxRowDims + 1, what, ": rows of ", p.dim() - 1, " dimensions");
    header[0] = static_cast<int64_t>(p.scalar_type());
    header[1] = p.dim();
    for (int64_t d = 1; d < p.dim(); ++d) header[1 + d] = p.size(d);
  }
  comm_->broadcast_from_main(header, what);
  const auto dtype = static_cast<at::ScalarType>(header[0].item<int64_t>());
  std::vector<int64_t> row_shape;
  for (int64_t d = 1; d < header[1].item<int64_t>(); ++d) row_shape.push_back(header[1 + d].item<int64_t>());

  // Each process's rows, padded to the most any process holds (all_gather takes equal shapes).
  std::vector<int64_t> held(W, 0);
  for (int64_t k = 0; k < n_chunks(); ++k) held[k % W] += rows_of(chunk(k));
  const int64_t most = *std::max_element(held.begin(), held.end());
  std::vector<at::Tensor> padded;
  for (const at::Tensor& p : parts) {
    TORCH_CHECK(p.scalar_type() == dtype, what, ": ", p.scalar_type(), " rows here, ", dtype, " on the main process");
    padded.push_back(p.cpu());
  }
  std::vector<int64_t> pad_shape{most - held[comm_->rank()]};
  pad_shape.insert(pad_shape.end(), row_shape.begin(), row_shape.end());
  padded.push_back(at::zeros(pad_shape, at::TensorOptions().dtype(dtype)));
  const std::vector<at::Tensor> all = comm_->all_gather(at::cat(padded), what);  // W x [most, ...]

  // Back into set order: chunk k is the next rows of process k mod W.
  std::vector<int64_t> cursor(W, 0);
  std::vector<at::Tensor> rows;
  for (int64_t k = 0; k < n_chunks(); ++k) {
    const int r = static_cast<int>(k % W);
    const int64_t m = rows_of(chunk(k));
    rows.push_back(all[r].slice(0, cursor[r], cursor[r] + m));
    cursor[r] += m;
  }
  return at::cat(rows);  // [n_rows, ...]
}

}  // namespace nablagfn
