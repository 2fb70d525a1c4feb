#include "algorithms/trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "algorithms/checkpoint.h"
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

// Samples one epoch's trajectories: initial noises and prompts from gen (the CPU), step noises from noise_gen
// (the problem's device). Error naming the reward, the epoch (-1: the lag buffer's first batch) and the update
// when a reward is not finite.
TrajectoryBatch sample_epoch(Problem& problem, const Config& config, const RolloutOptions& options, at::Generator gen,
                             at::Generator noise_gen, int epoch, int update) {
  std::vector<TrajectoryBatch> parts;
  for (int b = 0; b < config.sample.n_batches_per_epoch; ++b) {
    const int64_t B = config.sample.batch_size;
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
                   Evaluator* evaluator) {
  const TrainConfig& tc = config.train;
  if (algorithm.needs_reward_gradient())
    require(problem.reward->differentiable(),
            "algorithm '" + algorithm.name() + "' needs reward gradients, but reward '" + problem.reward->name() +
                "' is not differentiable",
            "use algorithm.name=ddpo for non-differentiable rewards");
  // Rank r draws from seed + r (spec §9 item 4); quirk_same_seed restores the release's shared seed.
  const int rank = 0;
  const uint64_t seed = config.run.seed + (config.algorithm.quirk_same_seed ? 0 : rank);
  at::Generator gen = at::detail::createCPUGenerator(seed);
  // Noises drawn where they are used: on the CPU the same generator (one stream, as before), on CUDA a
  // fresh Philox generator of the same seed, so no noise tensor crosses from the host.
  at::Generator noise_gen = problem.device.is_cpu() ? gen : make_device_generator(problem.device, seed);

  std::vector<ParamGroup> groups{{"policy", problem.denoiser->trainable_parameters(), tc.lr, tc.weight_decay}};
  for (auto& g : algorithm.extra_parameter_groups()) groups.push_back(g);
  auto optimizer = make_optimizer(groups, tc);

  CheckpointState state;
  if (run.resumed() && load_latest_checkpoint(run, state, *problem.denoiser, algorithm, *optimizer, gen))
    NABLAGFN_INFO("resumed from epoch %d (%d updates)", state.epoch, state.update);
  // Rows a killed run wrote after its last checkpoint go; with no checkpoint the pretrained row (epoch -1) goes
  // too, since it is written again below.
  if (run.resumed()) MetricsLog::drop_after_epoch(run.path(RunDir::kMetricsFile), state.epoch < 0 ? -2 : state.epoch);

  const int per_epoch = config.sample.batch_size * config.sample.n_batches_per_epoch;
  const int per_update = tc.batch_size * tc.grad_accum_steps;
  const int updates_per_epoch = per_epoch / per_update;
  NABLAGFN_INFO("%s: %d trajectories/epoch, %d per update (%d x %d), %d updates/epoch, %d epochs, data lag %d",
                algorithm.name().c_str(), per_epoch, per_update, tc.batch_size, tc.grad_accum_steps, updates_per_epoch,
                tc.n_epochs, tc.data_lag);

  MetricsLog metrics(run.path(RunDir::kMetricsFile));
  TensorBoardWriter tb(run.root());
  // Row epoch -1 (updates 0): the pretrained model before any update; its reward_mean is the evaluation's
  // mean reward, there being no training batch. A resumed run has it already.
  if (evaluator && state.epoch < 0) {
    nlohmann::json record = {{"epoch", -1}, {"updates", 0}};
    for (const auto& [k, v] : evaluator->evaluate(problem, run, -1, false)) record[k] = v;
    if (record.contains("reward_eval")) record["reward_mean"] = record["reward_eval"];
    log_row(metrics, tb, record, evaluator, true);
  }
  const RolloutOptions rollout_opts = algorithm.rollout_options();
  TrajectoryBatch lagged = to_device(state.lagged, problem.device);
  TrainSummary summary;
  summary.updates = state.update;
  // With a one-epoch lag the first sampled batch only fills the buffer (the release's epoch −1).
  if (tc.data_lag == 1 && lagged.size() == 0 && state.epoch + 1 < tc.n_epochs)
    lagged = sample_epoch(problem, config, rollout_opts, gen, noise_gen, state.epoch, state.update);

  ProgressBar bar("training", tc.n_epochs - (state.epoch + 1));
  for (int epoch = state.epoch + 1; epoch < tc.n_epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    TrajectoryBatch fresh = sample_epoch(problem, config, rollout_opts, gen, noise_gen, epoch, summary.updates);
    const double reward_mean = fresh.reward.mean().item<double>();
    const double reward_std = fresh.reward.std().item<double>();
    TrajectoryBatch data = tc.data_lag == 1 ? lagged : fresh;
    if (tc.data_lag == 1) lagged = fresh;

    StepInfo info{epoch, tc.n_epochs, summary.updates, gen, noise_gen};
    algorithm.begin_epoch(data, info);
    at::Tensor perm = at::randperm(data.size(), gen, at::kLong);
    std::map<std::string, double> term_sums;
    int n_micro = 0;
    for (int u = 0; u < updates_per_epoch; ++u) {
      optimizer->zero_grad();
      for (int a = 0; a < tc.grad_accum_steps; ++a) {
        at::Tensor idx = perm.slice(0, (u * tc.grad_accum_steps + a) * tc.batch_size,
                                    (u * tc.grad_accum_steps + a + 1) * tc.batch_size);
        info.update = summary.updates;
        LossTerms terms = algorithm.accumulate(data.select(idx), info, 1.0 / tc.grad_accum_steps);
        for (const auto& [k, v] : terms) term_sums[k] += v;
        ++n_micro;
      }
      for (const auto& g : groups) require_finite_group(g, /*grads=*/true, epoch, summary.updates);
      // Separate clipping per parameter group (policy, flow), as the release does.
      if (tc.max_grad_norm > 0)
        for (const auto& g : groups) torch::nn::utils::clip_grad_norm_(g.params, tc.max_grad_norm);
      apply_lr_schedule(*optimizer, groups, tc, summary.updates, tc.n_epochs * updates_per_epoch);
      optimizer->step();
      if (config.algorithm.quirk_double_step) optimizer->step();  // release bug §9 item 1
      for (const auto& g : groups) require_finite_group(g, /*grads=*/false, epoch, summary.updates);
      ++summary.updates;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    nlohmann::json record = {{"epoch", epoch}, {"updates", summary.updates}, {"reward_mean", reward_mean},
                             {"reward_std", reward_std}, {"seconds", seconds}};
    for (const auto& [k, v] : term_sums) record[k] = v / std::max(n_micro, 1);
    const bool last = epoch + 1 == tc.n_epochs;
    const bool eval_due = evaluator && (last || (config.eval.every > 0 && (epoch + 1) % config.eval.every == 0));
    if (eval_due)
      for (const auto& [k, v] : evaluator->evaluate(problem, run, epoch, last)) {
        record[k] = v;
        if (last) summary.final_metrics[k] = v;
      }
    log_row(metrics, tb, record, evaluator, eval_due);
    if (eval_due) plot_training_curves(run.path(RunDir::kMetricsFile), run.path("plots"));
    state = {epoch, summary.updates, tc.data_lag == 1 ? lagged : TrajectoryBatch()};
    if (last || (tc.save_every > 0 && (epoch + 1) % tc.save_every == 0))
      save_checkpoint(run, state, *problem.denoiser, algorithm, *optimizer, gen, tc.keep_checkpoints);
    char extra[96];
    std::snprintf(extra, sizeof extra, "reward %.4g loss %.4g", reward_mean,
                  record.contains("loss") ? record["loss"].get<double>() : 0.0);
    bar.update(1, extra);
    summary.epochs_done = epoch + 1;
  }
  bar.finish();
  return summary;
}

}  // namespace nablagfn
