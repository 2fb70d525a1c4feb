#include "algorithms/ddpo.h"

#include <ATen/ATen.h>

#include "algorithms/baseline_utils.h"
#include "algorithms/data_parallel.h"
#include "algorithms/transition_sampling.h"
#include "algorithms/transition_utils.h"
#include "schedulers/gaussian_policy.h"

namespace nablagfn {

DDPO::DDPO(Problem& problem, const Config& config)
    : problem_(problem), config_(config), stats_(config.algorithm.ddpo.buffer_size, config.algorithm.ddpo.min_count) {
  require_gaussian_steps(*problem.scheduler, "ddpo");
}

RolloutOptions DDPO::rollout_options() const {
  RolloutOptions o;
  o.store_log_prob = true;
  return o;
}

void DDPO::begin_epoch(const TrajectoryBatch& buffer, const StepInfo& info) {
  at::Tensor r = buffer.reward.to(at::kCPU).to(at::kDouble);  // [N]
  std::vector<std::string> prompts = buffer.prompts;
  // Every process's rewards of the epoch, in stream order (DDPO train.py's accelerator.gather before
  // stat_tracker.update): W processes normalise exactly as 1 process with the same global batch.
  if (info.comm != nullptr) {
    r = gather_rows(*info.comm, r, "DDPO reward gather");  // [W N]
    prompts = gather_prompts(*info.comm, prompts, problem_.prompts);
  }
  r = r.contiguous();
  std::vector<double> rewards(r.data_ptr<double>(), r.data_ptr<double>() + r.numel());
  stats_.update(prompts, rewards);
}

LossTerms DDPO::accumulate(const TrajectoryBatch& mb, const StepInfo& info, double scale) {
  const Scheduler& S = *problem_.scheduler;
  const AlgorithmConfig& a = config_.algorithm;
  const double eps_clip = a.ddpo.clip_range;
  // Advantages of this micro-batch's trajectories from the epoch's per-prompt statistics.
  at::Tensor r = mb.reward.to(at::kCPU).to(at::kDouble);
  at::Tensor adv = at::empty({mb.size()}, at::kDouble);
  for (int64_t i = 0; i < mb.size(); ++i) adv[i] = stats_.advantage(mb.prompts[i], r[i].item<double>());
  adv = adv.clamp(-a.ddpo.adv_clip, a.ddpo.adv_clip).to(at::kFloat).to(mb.x.device());  // [B]

  at::Tensor idx = sample_transitions(mb.size(), S.n_steps(), config_.train.timestep_fraction,
                                      config_.train.low_var_subsampling, info.gen);  // [B, J]
  Conditioning c = problem_.conditioning(mb.cond);
  LossTerms sums = accumulate_transitions(idx, info, mb, scale, [&](const at::Tensor& k) {
    TransitionRows tr = transition_rows(mb, k);
    at::Tensor mean = baseline_step_mean(problem_, tr, k, c, Adapter::On);                         // [B, S...]
    at::Tensor log_prob = gaussian_log_prob(tr.x_next, mean, S.step_std(k, mean)).to(at::kFloat);  // [B]
    at::Tensor log_ratio = log_prob - tr.log_prob;
    at::Tensor ratio = at::exp(log_ratio);
    // PPO-clip surrogate (DDPO train.py L520-531).
    at::Tensor unclipped = -adv * ratio;
    at::Tensor clipped = -adv * at::clamp(ratio, 1.0 - eps_clip, 1.0 + eps_clip);
    at::Tensor loss = at::maximum(unclipped, clipped).mean();
    return TransitionLoss{loss,
                          {{"approx_kl", 0.5 * log_ratio.detach().pow(2).mean().item<double>()},
                           {"clipfrac", ((ratio.detach() - 1.0).abs() > eps_clip).to(at::kFloat).mean().item<double>()}}};
  });
  sums["advantage_abs"] = adv.abs().mean().item<double>();
  return sums;
}

std::vector<std::pair<std::string, at::Tensor>> DDPO::state() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& [prompt, buffer] : stats_.buffers()) {
    const std::vector<double> values(buffer.begin(), buffer.end());
    out.emplace_back("stats." + prompt, at::tensor(values, at::kDouble));
  }
  return out;
}

void DDPO::load_state(const TensorMap& state) {
  std::map<std::string, std::deque<double>> buffers;
  for (const auto& [name, t] : state) {
    if (name.rfind("stats.", 0) != 0) continue;
    at::Tensor v = t.to(at::kDouble).contiguous();
    buffers[name.substr(6)] = std::deque<double>(v.data_ptr<double>(), v.data_ptr<double>() + v.numel());
  }
  stats_.set_buffers(std::move(buffers));
}

}  // namespace nablagfn
