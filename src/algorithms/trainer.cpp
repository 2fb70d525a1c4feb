#include "algorithms/trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>

#include "algorithms/checkpoint.h"
#include "algorithms/data_parallel.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "io/atomic_file.h"
#include "io/run_dir.h"
#include "io/tensorboard.h"
#include "metrics/curves.h"

namespace nablagfn {

namespace {

std::unique_ptr<torch::optim::AdamW> make_optimizer(const std::vector<ParamGroup>& groups, const TrainConfig& t) {
  std::vector<torch::optim::OptimizerParamGroup> pgs;
  for (const auto& g : groups) {
    auto opts = std::make_unique<torch::optim::AdamWOptions>(g.lr);
    opts->betas({t.adam_beta1, t.adam_beta2}).eps(t.adam_eps).weight_decay(g.weight_decay);
    pgs.emplace_back(g.params, std::move(opts));
  }
  torch::optim::AdamWOptions defaults(t.lr);
  return std::make_unique<torch::optim::AdamW>(pgs, defaults);
}

// Sets every group's learning rate for update u of n (train.lr_schedule).
void apply_lr_schedule(torch::optim::Optimizer& optimizer, const std::vector<ParamGroup>& groups,
                       const TrainConfig& t, int u, int n) {
  double factor = 1.0;
  switch (t.lr_schedule) {
    case LRSchedule::Constant: break;
    case LRSchedule::Cosine:
      if (n > 0) factor = 0.5 * (1.0 + std::cos(M_PI * std::min(u, n) / n));
      break;
  }
  for (size_t i = 0; i < groups.size(); ++i) optimizer.param_groups()[i].options().set_lr(groups[i].lr * factor);
}

// Uniform prompts from the problem's prompt set.
std::vector<std::string> draw_prompts(const Problem& problem, int64_t n, at::Generator gen) {
  at::Tensor idx = at::randint(static_cast<int64_t>(problem.prompts.size()), {n}, gen, at::kLong);
  std::vector<std::string> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(problem.prompts[idx[i].item<int64_t>()]);
  return out;
}

// Appends a row to metrics.jsonl and its numbers and the evaluator's new pictures to TensorBoard (step =
// optimizer updates so far).
void log_row(MetricsLog& metrics, TensorBoardWriter& tb, const nlohmann::json& record, const Evaluator* evaluator,
             bool evaluated) {
  metrics.append(record);
  std::map<std::string, double> scalars;
  for (auto it = record.begin(); it != record.end(); ++it)
    if (it->is_number() && it.key() != "updates") scalars[it.key()] = it->get<double>();
  const int64_t step = record["updates"].get<int64_t>();
  tb.add_scalars(scalars, step);
  if (evaluated)
    for (const auto& [tag, path] : evaluator->images()) tb.add_png(tag, read_file(path), step);
}

// One random stream's share of the epoch's trajectories: initial noises and prompts from gen (the CPU), step
// noises from noise_gen (the problem's device). Error naming the reward, the epoch (-1: the lag buffer's first
// batch) and the update when a reward is not finite.
TrajectoryBatch sample_stream(Problem& problem, const ShardPlan& plan, const RolloutOptions& options,
                              at::Generator gen, at::Generator noise_gen, int epoch, int update) {
  std::vector<TrajectoryBatch> parts;
  for (int b = 0; b < plan.sample_batches; ++b) {
    const int64_t B = plan.sample_batch_size;
    std::vector<int64_t> shape{B};
    shape.insert(shape.end(), problem.latent_shape.begin(), problem.latent_shape.end());
    at::Tensor x0 = at::randn(shape, gen, at::TensorOptions().dtype(problem.latent_dtype)).to(problem.device);
    parts.push_back(rollout(problem, x0, draw_prompts(problem, B, gen), noise_gen, options));
  }
  TrajectoryBatch batch = TrajectoryBatch::cat(parts);
  const int64_t bad = batch.reward.numel() - at::isfinite(batch.reward).sum().item<int64_t>();
  require(bad == 0,
          "non-finite reward '" + problem.reward->name() + "' for " + std::to_string(bad) + " of " +
              std::to_string(batch.size()) + " samples at epoch " + std::to_string(epoch) + ", update " +
              std::to_string(update),
          "the policy diverged (lower train.lr, raise algorithm.output_reg) or the reward model fails on these "
          "images; resume from the last checkpoint with --resume after changing the config");
  return batch;
}

// This process's share of the epoch: one batch per stream it runs.
std::vector<TrajectoryBatch> sample_epoch(Problem& problem, const ShardPlan& plan, const RolloutOptions& options,
                                          const std::vector<at::Generator>& gens,
                                          const std::vector<at::Generator>& noise_gens, int epoch, int update) {
  std::vector<TrajectoryBatch> out;
  for (size_t j = 0; j < gens.size(); ++j)
    out.push_back(sample_stream(problem, plan, options, gens[j], noise_gens[j], epoch, update));
  return out;
}

// Error naming the group, the epoch and the update when one of its gradients (grads: before the step) or
// weights (after it) is not finite, so a diverged step is never checkpointed.
void require_finite_group(const ParamGroup& group, bool grads, int epoch, int update) {
  std::vector<at::Tensor> finite;  // one flag per tensor, read back once per group
  for (const auto& p : group.params) {
    const at::Tensor& t = grads ? p.grad() : p;
    if (t.defined()) finite.push_back(at::isfinite(t).all());
  }
  if (!finite.empty() && !at::stack(finite).all().item<bool>())
    throw Error(std::string("non-finite ") + (grads ? "gradient" : "weight after the optimizer step") +
                    " in parameter group '" + group.name + "' at epoch " + std::to_string(epoch) + ", update " +
                    std::to_string(update),
                "lower train.lr (or lr_flow for the flow group), keep train.max_grad_norm > 0, or raise "
                "algorithm.output_reg; the last checkpoint is untouched, resume from it with --resume");
}

TrajectoryBatch to_device(TrajectoryBatch b, c10::Device device) {
  for (at::Tensor* t : {&b.cond, &b.x, &b.eps_old, &b.log_prob, &b.x0_prev, &b.reward})
    if (t->defined()) *t = t->to(device);
  return b;
}
}  // namespace

TrainSummary train(Problem& problem, Algorithm& algorithm, const Config& config, const RunDir& run,
                   Evaluator* evaluator, Collectives* comm) {
  const TrainConfig& tc = config.train;
  if (algorithm.needs_reward_gradient())
    require(problem.reward->differentiable(),
            "algorithm '" + algorithm.name() + "' needs reward gradients, but reward '" + problem.reward->name() +
                "' is not differentiable",
            "use algorithm.name=ddpo for non-differentiable rewards");
  std::unique_ptr<Collectives> one_process;
  if (comm == nullptr) comm = (one_process = Collectives::join(LaunchEnv{}, problem.device, {})).get();
  // This process's random streams (algorithms/data_parallel.h): by default stream = rank, seed + rank. Noises
  // are drawn where they are used: on the CPU from the stream's generator itself, on CUDA from a Philox
  // generator of the same seed, so no noise tensor crosses from the host.
  const ShardPlan plan = plan_shards(config, comm->world_size(), comm->rank());
  std::vector<at::Generator> gens = make_stream_generators(config, plan);
  std::vector<at::Generator> noise_gens = make_stream_noise_generators(config, plan, problem.device, gens);
  // On the CPU the step noise comes from gens themselves; elsewhere the device generators are checkpointed too.
  std::vector<at::Generator>* device_gens = problem.device.is_cpu() ? nullptr : &noise_gens;

  std::vector<ParamGroup> groups{{"policy", problem.denoiser->trainable_parameters(), tc.lr, tc.weight_decay}};
  for (auto& g : algorithm.extra_parameter_groups()) groups.push_back(g);
  auto optimizer = make_optimizer(groups, tc);

  CheckpointState state;
  if (run.resumed() &&
      load_latest_checkpoint(run, state, *problem.denoiser, algorithm, *optimizer, gens, plan.first_stream, device_gens))
    NABLAGFN_INFO("resumed from epoch %d (%d updates)", state.epoch, state.update);
  broadcast_parameters(*comm, groups);
  // Rows a killed run wrote after its last checkpoint go; with no checkpoint the pretrained row (epoch -1) goes
  // too, since it is written again below.
  if (run.resumed() && comm->is_main())
    MetricsLog::drop_after_epoch(run.path(RunDir::kMetricsFile), state.epoch < 0 ? -2 : state.epoch);

  const int per_epoch = config.sample.batch_size * config.sample.n_batches_per_epoch;
  const int per_update = tc.batch_size * tc.grad_accum_steps;
  const int updates_per_epoch = per_epoch / per_update;
  NABLAGFN_INFO("%s: %d trajectories/epoch, %d per update (%d x %d), %d updates/epoch, %d epochs, data lag %d",
                algorithm.name().c_str(), per_epoch, per_update, tc.batch_size, tc.grad_accum_steps, updates_per_epoch,
                tc.n_epochs, tc.data_lag);
  if (comm->world_size() > 1)
    NABLAGFN_INFO("%d processes, %d random streams: each stream samples %d x %d and trains %d x %d per update",
                  comm->world_size(), plan.n_streams, plan.sample_batches, plan.sample_batch_size, plan.micro_batches,
                  plan.micro_batch_size);

  // The main process alone writes the run directory and evaluates.
  std::unique_ptr<MetricsLog> metrics;
  std::unique_ptr<TensorBoardWriter> tb;
  std::optional<ProgressBar> bar;
  if (comm->is_main()) {
    metrics = std::make_unique<MetricsLog>(run.path(RunDir::kMetricsFile));
    tb = std::make_unique<TensorBoardWriter>(run.root());
    bar.emplace("training", tc.n_epochs - (state.epoch + 1));
  }
  // Evaluation runs on the main process alone, or on every process when the evaluator shares its samples
  // among them; either way only the main process writes.
  const bool shared_eval = evaluator && comm->world_size() > 1 && evaluator->share_with(comm);
  Evaluator* rank_evaluator = comm->is_main() || shared_eval ? evaluator : nullptr;
  if (shared_eval) NABLAGFN_INFO("evaluation shared by the %d processes", comm->world_size());
  // Row epoch -1 (updates 0): the pretrained model before any update; its reward_mean is the evaluation's
  // mean reward, there being no training batch. A resumed run has it already.
  if (rank_evaluator && state.epoch < 0) {
    nlohmann::json record = {{"epoch", -1}, {"updates", 0}};
    for (const auto& [k, v] : rank_evaluator->evaluate(problem, run, -1, false)) record[k] = v;
    if (record.contains("reward_eval")) record["reward_mean"] = record["reward_eval"];
    if (metrics) log_row(*metrics, *tb, record, rank_evaluator, true);
  }
  const RolloutOptions rollout_opts = algorithm.rollout_options();
  // The lagged buffer, one batch per stream of this process (a checkpoint holds every stream's, concatenated
  // in stream order).
  std::vector<TrajectoryBatch> lagged;
  if (state.lagged.size() > 0) {
    const int64_t per_stream = static_cast<int64_t>(plan.sample_batches) * plan.sample_batch_size;
    require(state.lagged.size() == per_stream * plan.n_streams,
            "the checkpoint's lagged batch holds " + std::to_string(state.lagged.size()) + " trajectories, not " +
                std::to_string(plan.n_streams) + " streams x " + std::to_string(per_stream),
            "resume with the run's sample.* settings and run.data_streams");
    for (int s = plan.first_stream; s < plan.first_stream + plan.streams_per_rank; ++s)
      lagged.push_back(
          to_device(state.lagged.select(at::arange(s * per_stream, (s + 1) * per_stream, at::kLong)), problem.device));
  }
  TrainSummary summary;
  summary.updates = state.update;
  // With a one-epoch lag the first sampled batch only fills the buffer (the release's epoch −1).
  if (tc.data_lag == 1 && lagged.empty() && state.epoch + 1 < tc.n_epochs)
    lagged = sample_epoch(problem, plan, rollout_opts, gens, noise_gens, state.epoch, state.update);

  for (int epoch = state.epoch + 1; epoch < tc.n_epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<TrajectoryBatch> fresh =
        sample_epoch(problem, plan, rollout_opts, gens, noise_gens, epoch, summary.updates);
    std::vector<at::Tensor> rewards;
    for (const auto& f : fresh) rewards.push_back(f.reward);
    const auto [reward_mean, reward_std] = global_reward_stats(*comm, at::cat(rewards));
    std::vector<TrajectoryBatch> data = tc.data_lag == 1 ? lagged : fresh;
    if (tc.data_lag == 1) lagged = fresh;

    StepInfo info{epoch, tc.n_epochs, summary.updates, gens[0], noise_gens[0], comm};
    algorithm.begin_epoch(data.size() == 1 ? data[0] : TrajectoryBatch::cat(data), info);
    std::vector<at::Tensor> perms;
    for (size_t j = 0; j < gens.size(); ++j) perms.push_back(at::randperm(data[j].size(), gens[j], at::kLong));
    std::map<std::string, double> term_sums;
    int n_micro = 0;
    // The update is the mean over streams (and, after average_gradients, over processes) of the streams'
    // mean gradients over their micro-batches.
    const double scale = 1.0 / plan.micro_batches;
    StreamGradients stream_grads(groups);
    for (int u = 0; u < updates_per_epoch; ++u) {
      optimizer->zero_grad();
      for (size_t j = 0; j < gens.size(); ++j) {
        info.gen = gens[j];
        info.noise_gen = noise_gens[j];
        for (int a = 0; a < plan.micro_batches; ++a) {
          const int64_t first = static_cast<int64_t>(u * plan.micro_batches + a) * plan.micro_batch_size;
          at::Tensor idx = perms[j].slice(0, first, first + plan.micro_batch_size);
          info.update = summary.updates;
          LossTerms terms = algorithm.accumulate(data[j].select(idx), info, scale);
          for (const auto& [k, v] : terms) term_sums[k] += v;
          ++n_micro;
        }
        if (gens.size() > 1) stream_grads.end_stream();
      }
      if (gens.size() > 1) stream_grads.finish(plan.streams_per_rank);
      average_gradients(*comm, groups);
      for (const auto& g : groups) require_finite_group(g, /*grads=*/true, epoch, summary.updates);
      // Separate clipping per parameter group (policy, flow), as the release does.
      if (tc.max_grad_norm > 0)
        for (const auto& g : groups) torch::nn::utils::clip_grad_norm_(g.params, tc.max_grad_norm);
      apply_lr_schedule(*optimizer, groups, tc, summary.updates, tc.n_epochs * updates_per_epoch);
      optimizer->step();
      if (config.algorithm.quirk_double_step) optimizer->step();  // release bug §9 item 1
      for (const auto& g : groups) require_finite_group(g, /*grads=*/false, epoch, summary.updates);
      algorithm.end_update();
      ++summary.updates;
    }
    sum_terms_over_ranks(*comm, term_sums, n_micro);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    nlohmann::json record = {{"epoch", epoch}, {"updates", summary.updates}, {"reward_mean", reward_mean},
                             {"reward_std", reward_std}, {"seconds", seconds}};
    for (const auto& [k, v] : term_sums) record[k] = v / std::max(n_micro, 1);
    const bool last = epoch + 1 == tc.n_epochs;
    const bool eval_due = rank_evaluator && (last || (config.eval.every > 0 && (epoch + 1) % config.eval.every == 0));
    if (eval_due)
      for (const auto& [k, v] : rank_evaluator->evaluate(problem, run, epoch, last)) {
        record[k] = v;
        if (last) summary.final_metrics[k] = v;
      }
    if (metrics) log_row(*metrics, *tb, record, rank_evaluator, eval_due);
    if (eval_due && comm->is_main()) plot_training_curves(run.path(RunDir::kMetricsFile), run.path("plots"));
    if (last || (tc.save_every > 0 && (epoch + 1) % tc.save_every == 0)) {
      // The checkpoint holds every process's lagged batch, so any process count with the same streams resumes.
      state = {
          epoch, summary.updates,
          tc.data_lag == 1 ? gather_batches(*comm, TrajectoryBatch::cat(lagged), problem.prompts) : TrajectoryBatch()};
      const std::vector<at::Tensor> rng_states = gather_generator_states(*comm, gens);
      const std::vector<at::Tensor> device_rng_states =
          device_gens ? gather_generator_states(*comm, *device_gens) : std::vector<at::Tensor>{};
      if (comm->is_main())
        save_checkpoint(run, state, *problem.denoiser, algorithm, *optimizer, rng_states, device_rng_states,
                        tc.keep_checkpoints);
    }
    char extra[96];
    std::snprintf(extra, sizeof extra, "reward %.4g loss %.4g", reward_mean,
                  record.contains("loss") ? record["loss"].get<double>() : 0.0);
    if (bar) bar->update(1, extra);
    summary.epochs_done = epoch + 1;
  }
  if (bar) bar->finish();
  return summary;
}

}  // namespace nablagfn
