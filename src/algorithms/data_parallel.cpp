#include "algorithms/data_parallel.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <tuple>

#include "core/device.h"
#include "core/error.h"

namespace nablagfn {

namespace data_parallel_detail {

// Splits a count of batches x batch_size trajectories into n equal parts, preferring whole batches (the
// memory footprint of one batch stays as configured): {batches per part, trajectories per batch}.
std::pair<int, int> split_batches(int batches, int batch_size, int n, const std::string& what, const std::string& keys) {
  if (batches % n == 0) return {batches / n, batch_size};
  if (batch_size % n == 0) return {batches, batch_size / n};
  throw Error(what + " (" + std::to_string(batch_size) + " x " + std::to_string(batches) + ", " + keys +
                  ") do not split over " + std::to_string(n) + " random streams",
              "make one of " + keys + " a multiple of " + std::to_string(n) +
                  " (streams: run.data_streams, or one per process)");
}

}  // namespace data_parallel_detail

ShardPlan plan_shards(const Config& config, int world_size, int rank) {
  ShardPlan p;
  p.n_streams = config.run.data_streams > 0 ? config.run.data_streams : world_size;
  require(p.n_streams % world_size == 0,
          "run.data_streams=" + std::to_string(p.n_streams) + " does not split over " + std::to_string(world_size) +
              " processes",
          "use a multiple of the process count, or 0 (one stream per process)");
  p.streams_per_rank = p.n_streams / world_size;
  p.first_stream = rank * p.streams_per_rank;
  std::tie(p.sample_batches, p.sample_batch_size) = data_parallel_detail::split_batches(
      config.sample.n_batches_per_epoch, config.sample.batch_size, p.n_streams, "the epoch's trajectories",
      "sample.batch_size x sample.n_batches_per_epoch");
  std::tie(p.micro_batches, p.micro_batch_size) = data_parallel_detail::split_batches(
      config.train.grad_accum_steps, config.train.batch_size, p.n_streams, "the trajectories of one update",
      "train.batch_size x train.grad_accum_steps");
  return p;
}

namespace {
uint64_t stream_seed(const Config& config, int stream) {
  return config.run.seed + (config.algorithm.quirk_same_seed ? 0 : stream);
}
}  // namespace

std::vector<at::Generator> make_stream_generators(const Config& config, const ShardPlan& plan) {
  std::vector<at::Generator> gens;
  for (int s = plan.first_stream; s < plan.first_stream + plan.streams_per_rank; ++s)
    gens.push_back(at::detail::createCPUGenerator(stream_seed(config, s)));
  return gens;
}

std::vector<at::Generator> make_stream_noise_generators(const Config& config, const ShardPlan& plan,
                                                        c10::Device device, const std::vector<at::Generator>& cpu) {
  if (device.is_cpu()) return cpu;
  std::vector<at::Generator> gens;
  for (int s = plan.first_stream; s < plan.first_stream + plan.streams_per_rank; ++s)
    gens.push_back(make_device_generator(device, stream_seed(config, s)));
  return gens;
}

namespace data_parallel_detail {
std::vector<at::Tensor> all_params(const std::vector<ParamGroup>& groups) {
  std::vector<at::Tensor> params;
  for (const auto& g : groups) params.insert(params.end(), g.params.begin(), g.params.end());
  return params;
}
}  // namespace data_parallel_detail

void broadcast_parameters(Collectives& comm, const std::vector<ParamGroup>& groups) {
  const std::vector<at::Tensor> params = data_parallel_detail::all_params(groups);
  if (comm.world_size() == 1 || params.empty()) return;
  at::NoGradGuard no_grad;
  const auto f32 = at::TensorOptions().dtype(at::kFloat).device(params[0].device());
  std::vector<at::Tensor> pieces;
  for (const auto& p : params) pieces.push_back(p.detach().reshape(-1).to(f32));
  at::Tensor flat = at::cat(pieces);  // [sum of numels]
  comm.broadcast_from_main(flat, "parameter broadcast");
  int64_t offset = 0;
  for (const auto& p : params) {
    p.detach().copy_(flat.slice(0, offset, offset + p.numel()).view(p.sizes()));
    offset += p.numel();
  }
}

void average_gradients(Collectives& comm, const std::vector<ParamGroup>& groups) {
  std::vector<at::Tensor> params = data_parallel_detail::all_params(groups);
  if (comm.world_size() == 1 || params.empty()) return;
  const auto f32 = at::TensorOptions().dtype(at::kFloat).device(params[0].device());
  std::vector<at::Tensor> pieces;
  std::vector<float> defined;  // 1 where this rank has the parameter's gradient
  for (const auto& p : params) {
    const at::Tensor& g = p.grad();
    pieces.push_back(g.defined() ? g.reshape(-1).to(f32) : at::zeros({p.numel()}, f32));
    defined.push_back(g.defined() ? 1.0f : 0.0f);
  }
  pieces.push_back(at::tensor(defined, f32));
  at::Tensor flat = at::cat(pieces);  // [sum of numels + P]
  comm.all_reduce_sum(flat, "gradient all-reduce");
  flat.div_(comm.world_size());
  const int64_t n_grads = flat.numel() - static_cast<int64_t>(params.size());
  const at::Tensor any_defined = flat.slice(0, n_grads).cpu();  // [P] > 0 where some rank had the gradient
  int64_t offset = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    at::Tensor& p = params[i];
    const int64_t n = p.numel();
    if (any_defined[static_cast<int64_t>(i)].item<float>() > 0) {
      if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
      p.mutable_grad().copy_(flat.slice(0, offset, offset + n).view(p.sizes()));
    }
    offset += n;
  }
}

StreamGradients::StreamGradients(const std::vector<ParamGroup>& groups)
    : params_(data_parallel_detail::all_params(groups)), sums_(params_.size()) {}

void StreamGradients::end_stream() {
  for (size_t i = 0; i < params_.size(); ++i) {
    const at::Tensor g = params_[i].grad();
    if (!g.defined()) continue;
    if (sums_[i].defined())
      sums_[i].add_(g);
    else
      sums_[i] = g.detach().clone();
    params_[i].mutable_grad() = at::Tensor();
  }
}

void StreamGradients::finish(int n_streams) {
  for (size_t i = 0; i < params_.size(); ++i) {
    if (sums_[i].defined()) params_[i].mutable_grad() = sums_[i].div_(n_streams);
    sums_[i] = at::Tensor();
  }
}

std::pair<double, double> global_reward_stats(Collectives& comm, const at::Tensor& rewards) {
  at::Tensor all = at::cat(comm.all_gather(rewards.to(at::kFloat).contiguous(), "reward gather"));  // [W n]
  return {all.mean().item<double>(), all.std().item<double>()};
}

void sum_terms_over_ranks(Collectives& comm, std::map<std::string, double>& term_sums, int& n_micro) {
  if (comm.world_size() == 1) return;
  std::vector<double> values{static_cast<double>(n_micro)};
  for (const auto& [k, v] : term_sums) values.push_back(v);
  at::Tensor t = at::tensor(values, at::kDouble);  // [1 + terms]
  comm.all_reduce_sum(t, "loss-term sum");
  n_micro = static_cast<int>(t[0].item<double>());
  int i = 1;
  for (auto& [k, v] : term_sums) v = t[i++].item<double>();
}

at::Tensor gather_rows(Collectives& comm, const at::Tensor& rows, const char* what) {
  if (comm.world_size() == 1) return rows;
  return at::cat(comm.all_gather(rows.contiguous(), what));  // [W n, ...]
}

std::vector<std::string> gather_prompts(Collectives& comm, const std::vector<std::string>& prompts,
                                        const std::vector<std::string>& prompt_set) {
  if (comm.world_size() == 1) return prompts;
  std::vector<int64_t> index;
  for (const auto& p : prompts) {
    const auto it = std::find(prompt_set.begin(), prompt_set.end(), p);
    TORCH_CHECK(it != prompt_set.end(), "prompt '", p, "' is not in the problem's prompt set");
    index.push_back(it - prompt_set.begin());
  }
  const at::Tensor all = gather_rows(comm, at::tensor(index, at::kLong), "prompt gather");  // [W n]
  std::vector<std::string> out;
  for (int64_t i = 0; i < all.numel(); ++i) out.push_back(prompt_set[all[i].item<int64_t>()]);
  return out;
}

TrajectoryBatch gather_batches(Collectives& comm, const TrajectoryBatch& batch,
                               const std::vector<std::string>& prompt_set) {
  if (comm.world_size() == 1) return batch;
  TrajectoryBatch out;
  out.prompts = gather_prompts(comm, batch.prompts, prompt_set);
  for (auto [field, mine] : {std::pair{&out.cond, &batch.cond},
                             {&out.x, &batch.x},
                             {&out.eps_old, &batch.eps_old},
                             {&out.log_prob, &batch.log_prob},
                             {&out.x0_prev, &batch.x0_prev},
                             {&out.reward, &batch.reward}})
    if (mine->defined()) *field = gather_rows(comm, *mine, "trajectory gather");
  return out;
}

std::vector<at::Tensor> gather_generator_states(Collectives& comm, const std::vector<at::Generator>& local) {
  std::vector<at::Tensor> states;
  for (const auto& g : local) states.push_back(g.get_state());
  at::Tensor mine = at::stack(states);  // [streams per rank, N] uint8
  std::vector<at::Tensor> out;
  for (const auto& rank_states : comm.all_gather(mine, "generator-state gather"))
    for (const auto& s : rank_states.unbind(0)) out.push_back(s.clone());
  return out;
}

}  // namespace nablagfn
