// Residual ∇-DB on the toy problem in double precision: gradient routing (spec §8 test 3), finite-difference
// checks of the gradients with the detached quantities of spec §3.9 held fixed, and a short training run
// with checkpoint and resume.
#include <ATen/ATen.h>
#include <gtest/gtest.h>


#include "algorithms/nabla_db.h"
#include "algorithms/trainer.h"
#include "algorithms/transition_utils.h"
#include "io/fs_util.h"
#include "io/run_dir.h"
#include <ATen/core/grad_mode.h>
#include "problems/toy2d.h"
#include "schedulers/gaussian_policy.h"
#include "schedulers/noise_schedule.h"
#include "test_util.h"

using namespace nablagfn;

namespace {
Config toy_config() {
  Config c;
  c.model.kind = "toy2d";
  c.model.dtype = ModelDType::Float64;
  c.model.toy.hidden = 16;
  c.model.toy.layers = 2;
  c.reward.name = "linear";
  c.algorithm.beta = 1.0;
  c.algorithm.output_reg = 0.5;
  c.algorithm.gamma_mode = GammaMode::Squared;
  c.sample.guidance_scale = 1.0;
  c.sample.n_steps = 10;
  c.sample.batch_size = 8;
  c.sample.n_batches_per_epoch = 1;
  c.train.batch_size = 4;
  c.train.grad_accum_steps = 2;
  c.train.n_epochs = 2;
  c.train.save_every = 1;
  c.eval.n_samples = 64;
  return c;
}

// Random non-zero weights everywhere (the zero-initialised outputs would hide gradient paths).
void randomise(const std::vector<at::Tensor>& params, int64_t seed) {
  at::NoGradGuard no_grad;
  at::Generator gen = at::detail::createCPUGenerator(seed);
  for (const auto& p : params) p.copy_(0.3 * at::randn(p.sizes(), gen, p.options()));
}

struct Fixture {
  Config config;
  Toy2D toy;
  NablaDB algo;
  TrajectoryBatch batch;
  at::Tensor k;

  explicit Fixture(const Config& c = toy_config())
      : config(c), toy(make_toy2d(config, at::kDouble)), algo(toy.problem, config) {
    randomise(toy.problem.denoiser->trainable_parameters(), 1);
    randomise(algo.flow()->parameters(), 2);
    at::Generator gen = at::detail::createCPUGenerator(3);
    at::Tensor x0 = at::randn({4, 2}, gen, at::TensorOptions().dtype(at::kDouble));
    RolloutOptions o;
    o.store_eps = true;
    batch = rollout(toy.problem, x0, {"", "", "", ""}, gen, o);
    // Perturb eps_old so that λ ℓ_R has a gradient; mix a terminal row with middle ones.
    batch.eps_old = batch.eps_old + 0.1;
    k = at::tensor({9, 3, 5, 7}, at::kLong);
  }
};

double grad_fd_error(const at::Tensor& param, const at::Tensor& analytic, const std::function<double()>& loss) {
  const double h = 1e-6;
  double worst = 0, scale = analytic.abs().max().item<double>();
  at::Tensor flat = param.detach().view({-1});
  for (int64_t i = 0; i < std::min<int64_t>(flat.numel(), 12); ++i) {
    const double v = flat[i].item<double>();
    flat[i].fill_(v + h);
    double up = loss();
    flat[i].fill_(v - h);
    double down = loss();
    flat[i].fill_(v);
    worst = std::max(worst, std::abs((up - down) / (2 * h) - analytic.view({-1})[i].item<double>()));
  }
  return worst / std::max(scale, 1e-12);
}
// (σ_k²/κ_k)² per row [B, 1], κ in closed form for DDIM η = 1: κ = √ᾱ'·√(1−ᾱ)/√ᾱ − √(1 − ᾱ' − σ²), the ε
// coefficient of the mean (spec §2.3); the last step lands on ᾱ_0 (SD's set_alpha_to_one = false), not on
// the clean state's 1.
at::Tensor eps_units(const Fixture& f) {
  const Scheduler& S = *f.toy.problem.scheduler;
  at::Tensor ab = S.state_alpha_bars(f.k), ab1 = S.state_alpha_bars(f.k + 1);
  ab1 = at::where(f.k + 1 == S.n_steps(), at::full_like(ab1, NoiseSchedule().alphas_cumprod()[0]), ab1);
  at::Tensor var = S.step_std(f.k, ab).pow(2);
  at::Tensor kappa = at::sqrt(ab1) * at::sqrt(1 - ab) / at::sqrt(ab) - at::sqrt(1 - ab1 - var);
  return (var / kappa).pow(2).view({-1, 1});  // [B, 1]
}
// l_F and l_B are the row-weighted means of the squared forward / reverse residuals (w_F, w_B: [B, 1]).
void expect_weighted_residuals(const Fixture& f, const NablaDBTerms& t, const at::Tensor& w_F, const at::Tensor& w_B) {
  const Scheduler& S = *f.toy.problem.scheduler;
  at::Tensor terminal = f.k.eq(S.n_steps() - 1).to(at::kDouble).view({-1, 1});
  at::Tensor rF = t.score_fwd_policy - t.score_fwd_ref - t.G_next - (1 - terminal) * t.g_next;
  at::Tensor rB = (1 - terminal) * (t.score_rev_policy - t.score_rev_ref + t.g_cur + t.G_cur);
  EXPECT_NEAR(t.l_F.item<double>(), (w_F * rF.pow(2)).mean().item<double>(), 1e-12);
  EXPECT_NEAR(t.l_B.item<double>(), (w_B * rB.pow(2)).mean().item<double>(), 1e-12);
}
}  // namespace

TEST(NablaDB, ReverseTermTrainsOnlyTheFlowNetwork) {
  Fixture f;
  NablaDBTerms t = f.algo.terms(f.batch, f.k, f.batch.prompts);
  t.l_B.backward();
  for (const auto& p : f.toy.problem.denoiser->trainable_parameters())
    EXPECT_FALSE(p.grad().defined() && p.grad().abs().sum().item<double>() > 0) << "l_B reached the policy";
  double flow_grad = 0;
  for (const auto& p : f.algo.flow()->parameters()) flow_grad += p.grad().abs().sum().item<double>();
  EXPECT_GT(flow_grad, 0);
}

TEST(NablaDB, ForwardTermLeavesTheFlowNetworkAloneWhenAsked) {
  Config c = toy_config();
  c.algorithm.forward_trains_flow = false;
  Fixture f(c);
  NablaDBTerms t = f.algo.terms(f.batch, f.k, f.batch.prompts);
  t.l_F.backward();
  for (const auto& p : f.algo.flow()->parameters())
    EXPECT_FALSE(p.grad().defined() && p.grad().abs().sum().item<double>() > 0) << "l_F reached the flow network";
  double policy_grad = 0;
  for (const auto& p : f.toy.problem.denoiser->trainable_parameters()) policy_grad += p.grad().abs().sum().item<double>();
  EXPECT_GT(policy_grad, 0);
  // Same value as with the release's routing: only the gradient path differs.
  Fixture release;
  EXPECT_NEAR(t.l_F.item<double>(), release.algo.terms(release.batch, release.k, release.batch.prompts).l_F.item<double>(),
              1e-12);
}

TEST(NablaDB, NoiseWeightingScalesEachRowByOneMinusAlphaBarOfItsFlowState) {
  Config c = toy_config();
  c.algorithm.condition_weighting = ConditionWeighting::Noise;
  Fixture f(c);
  NablaDBTerms t = f.algo.terms(f.batch, f.k, f.batch.prompts);
  const Scheduler& S = *f.toy.problem.scheduler;
  at::Tensor w_F = (1 - S.state_alpha_bars(f.k + 1)).view({-1, 1});  // [B, 1]
  at::Tensor w_B = (1 - S.state_alpha_bars(f.k)).view({-1, 1});      // [B, 1]
  // Row 0 is terminal: x_K is clean (1 − ᾱ = 0), so its forward row takes the policy's ε units instead.
  ASSERT_EQ(f.k[0].item<int64_t>(), S.n_steps() - 1);
  w_F[0] = eps_units(f)[0];
  EXPECT_GT(w_F.min().item<double>(), 0.0);
  expect_weighted_residuals(f, t, w_F, w_B);
}

// The terminal forward condition is the only place β∇r(x_K) itself reaches the policy: under every
// weighting, the policy's gradient from terminal rows must move with β.
TEST(NablaDB, TerminalRowCarriesTheRewardGradientToThePolicy) {
  for (ConditionWeighting weighting : {ConditionWeighting::None, ConditionWeighting::Noise, ConditionWeighting::Eps}) {
    auto policy_grad = [&](double beta) {
      Config c = toy_config();
      c.algorithm.condition_weighting = weighting;
      c.algorithm.beta = beta;
      Fixture f(c);
      f.k = at::full({4}, f.toy.problem.scheduler->n_steps() - 1, at::kLong);
      f.algo.terms(f.batch, f.k, f.batch.prompts).l_F.backward();
      std::vector<at::Tensor> g;
      for (const auto& p : f.toy.problem.denoiser->trainable_parameters()) g.push_back(p.grad().flatten());
      return at::cat(g);
    };
    at::Tensor g1 = policy_grad(1.0), g3 = policy_grad(3.0);
    EXPECT_GT((g3 - g1).abs().max().item<double>(), 1e-3 * g1.abs().max().item<double>()) << to_string(weighting);
  }
}

TEST(NablaDB, EpsWeightingScalesEachRowBySigmaSquaredOverKappaSquared) {
  Config c = toy_config();
  c.algorithm.condition_weighting = ConditionWeighting::Eps;
  Fixture f(c);
  NablaDBTerms t = f.algo.terms(f.batch, f.k, f.batch.prompts);
  at::Tensor w = eps_units(f);
  expect_weighted_residuals(f, t, w, w);
}

TEST(NablaDB, PolicyGradientMatchesFiniteDifferencesWithDetachedTermsFixed) {
  Fixture f;
  NablaDBTerms t = f.algo.terms(f.batch, f.k, f.batch.prompts);
  t.total.backward();
  Problem& P = f.toy.problem;
  const Scheduler& S = *P.scheduler;
  TransitionRows tr = transition_rows(f.batch, f.k);
  at::Tensor std = S.step_std(f.k, tr.x);
  at::Tensor terminal = f.k.eq(S.n_steps() - 1).to(at::kDouble).view({-1, 1});
  // ℓ_F + λ ℓ_R as a function of θ alone: S→_#, g_next and G_next are the constants of spec §3.9.
  auto loss = [&]() {
    at::NoGradGuard no_grad;
    at::Tensor eps = P.denoiser->eps(tr.x, S.state_timesteps(f.k), {}, Adapter::On);
    at::Tensor s_fwd = forward_score(tr.x_next, S.step_mean(f.k, tr.x, eps), std);
    at::Tensor resid = s_fwd - t.score_fwd_ref - (1 - terminal) * t.g_next.detach() - t.G_next;
    return (resid.pow(2).mean() + f.config.algorithm.output_reg * (eps - tr.eps_old).pow(2).mean()).item<double>();
  };
  EXPECT_NEAR(loss(), (t.l_F + f.config.algorithm.output_reg * t.l_R).item<double>(), 1e-12);
  for (const auto& p : P.denoiser->trainable_parameters()) EXPECT_LT(grad_fd_error(p, p.grad(), loss), 1e-6);
}

TEST(NablaDB, FlowGradientMatchesFiniteDifferencesWithDetachedTermsFixed) {
  Fixture f;
  NablaDBTerms t = f.algo.terms(f.batch, f.k, f.batch.prompts);
  t.total.backward();
  const Scheduler& S = *f.toy.problem.scheduler;
  TransitionRows tr = transition_rows(f.batch, f.k);
  at::Tensor terminal = f.k.eq(S.n_steps() - 1).to(at::kDouble);
  at::Tensor nt = (1 - terminal).view({-1, 1});
  auto loss = [&]() {
    at::NoGradGuard no_grad;
    at::Tensor g_next = f.algo.flow()->forward(tr.x_next, S.state_timesteps(f.k + 1), {});
    at::Tensor g_cur = f.algo.flow()->forward(tr.x, S.state_timesteps(f.k), {});
    at::Tensor resid_F = t.score_fwd_policy.detach() - t.score_fwd_ref - nt * g_next - t.G_next;
    at::Tensor resid_B = t.score_rev_policy - t.score_rev_ref + g_cur + t.G_cur;
    at::Tensor l_T = (terminal * g_next.pow(2).mean(1)).sum() / (terminal.sum() + 1e-6);
    return (resid_F.pow(2).mean() + (nt * resid_B).pow(2).mean() + l_T).item<double>();
  };
  for (const auto& p : f.algo.flow()->parameters()) EXPECT_LT(grad_fd_error(p, p.grad(), loss), 1e-6);
}

TEST(NablaDB, PredictedRewardGradientMatchesFiniteDifferences) {
  Fixture f;
  NablaDBTerms t = f.algo.terms(f.batch, f.k, f.batch.prompts);
  Problem& P = f.toy.problem;
  const Scheduler& S = *P.scheduler;
  TransitionRows tr = transition_rows(f.batch, f.k);
  at::Tensor k1 = f.k + 1;
  // G(x') = β γ ∇ r(x̂(x')), through the policy ε's Jacobian.
  auto guess = [&](const at::Tensor& y) {
    at::NoGradGuard no_grad;
    at::Tensor eps = P.denoiser->eps(y, S.state_timesteps(k1), {}, Adapter::On);
    return P.reward->score(S.predict_x0(k1, y, eps), {}).to(at::kDouble);  // [B]
  };
  const double h = 1e-6;
  for (int d = 0; d < 2; ++d) {
    at::Tensor e = at::zeros_like(tr.x_next);
    e.select(1, d).fill_(h);
    at::Tensor fd = (guess(tr.x_next + e) - guess(tr.x_next - e)) / (2 * h);   // [B]
    at::Tensor gamma = S.state_alpha_bars(k1);                                    // squared mode
    EXPECT_LT((t.G_next.select(1, d) - f.config.algorithm.beta * gamma * fd).abs().max().item<double>(), 1e-7)
        << t.G_next.select(1, d) << f.config.algorithm.beta * gamma * fd;
  }
}

TEST(NablaDB, PretrainedGuessDoesNotMoveWithThePolicy) {
  for (GuessModel guess : {GuessModel::Policy, GuessModel::Pretrained}) {
    Config c = toy_config();
    c.algorithm.guess_model = guess;
    Fixture f(c);
    NablaDBTerms before = f.algo.terms(f.batch, f.k, f.batch.prompts);
    randomise(f.toy.problem.denoiser->trainable_parameters(), 9);
    NablaDBTerms after = f.algo.terms(f.batch, f.k, f.batch.prompts);
    const double moved = (after.G_next - before.G_next).abs().max().item<double>() +
                         (after.G_cur - before.G_cur).abs().max().item<double>();
    if (guess == GuessModel::Pretrained)
      EXPECT_EQ(moved, 0.0);
    else
      EXPECT_GT(moved, 1e-6);
  }
}

// The reverse scores are linear in x', so their mean over x' ~ P_θ(·|x) is their value averaged over the
// antithetic pair x' = μ_θ ± σz: reverse_target = expected must give exactly that.
TEST(NablaDB, ExpectedReverseTargetIsTheSampledOneAveragedOverThePolicysNextState) {
  Config c = toy_config();
  c.algorithm.reverse_target = ReverseTarget::Expected;
  Fixture expected(c);
  NablaDBTerms te = expected.algo.terms(expected.batch, expected.k, expected.batch.prompts);
  EXPECT_EQ(te.score_rev_policy.abs().max().item<double>(), 0.0);

  Fixture f;
  Problem& P = f.toy.problem;
  const Scheduler& S = *P.scheduler;
  TransitionRows tr = transition_rows(f.batch, f.k);
  at::Tensor mean, std;
  {
    at::NoGradGuard no_grad;
    at::Tensor eps = P.denoiser->eps(tr.x, S.state_timesteps(f.k), {}, Adapter::On);
    mean = S.step_mean(f.k, tr.x, eps);                      // [B, 2]
    std = S.step_std(f.k, tr.x).view({-1, 1});               // [B, 1]
  }
  at::Tensor z = at::randn(mean.sizes(), at::detail::createCPUGenerator(5), mean.options());
  at::Tensor rows = at::arange(f.batch.size(), at::kLong);
  at::Tensor sum = at::zeros_like(mean);
  for (double sign : {1.0, -1.0}) {
    TrajectoryBatch b = f.batch;
    b.x = f.batch.x.clone();
    b.x.index_put_({rows, f.k + 1}, mean + sign * std * z);
    NablaDBTerms ts = f.algo.terms(b, f.k, b.prompts);
    sum = sum + (ts.score_rev_policy - ts.score_rev_ref);
  }
  at::Tensor want = sum / 2, got = te.score_rev_policy - te.score_rev_ref;
  EXPECT_LT((got - want).abs().max().item<double>(), 1e-9 * (1 + want.abs().max().item<double>())) << got << want;
  EXPECT_GT(want.abs().max().item<double>(), 1e-3);  // the policy is tilted: the target is not trivially zero
}

// reverse_target = backup: g_φ(x) + G(x) regresses J_μ#(x)ᵀ(g_φ + G)(x'), G alone past the last step.
TEST(NablaDB, BackupReverseTargetPullsTheNextStatesFlowBackThroughThePretrainedMean) {
  Config c = toy_config();
  c.algorithm.reverse_target = ReverseTarget::Backup;
  Fixture f(c);
  NablaDBTerms t = f.algo.terms(f.batch, f.k, f.batch.prompts);
  EXPECT_EQ(t.score_rev_policy.abs().max().item<double>(), 0.0);
  Problem& P = f.toy.problem;
  const Scheduler& S = *P.scheduler;
  TransitionRows tr = transition_rows(f.batch, f.k);
  at::Tensor terminal = f.k.eq(S.n_steps() - 1).to(at::kDouble).view({-1, 1});
  at::Tensor f_next = t.G_next + (1 - terminal) * t.g_next.detach();  // [B, 2]
  auto mean_ref = [&](const at::Tensor& x) {
    at::NoGradGuard no_grad;
    return S.step_mean(f.k, x, P.denoiser->eps(x, S.state_timesteps(f.k), {}, Adapter::Off));
  };
  const double h = 1e-6;
  for (int d = 0; d < 2; ++d) {
    at::Tensor e = at::zeros_like(tr.x);
    e.select(1, d).fill_(h);
    at::Tensor column = (mean_ref(tr.x + e) - mean_ref(tr.x - e)) / (2 * h);  // [B, 2] = ∂μ_#/∂x_d
    at::Tensor want = (column * f_next).sum(1);                                  // [B] (J_μ#ᵀ f)_d
    EXPECT_LT((t.score_rev_ref.select(1, d) - want).abs().max().item<double>(), 1e-7) << t.score_rev_ref << want;
  }
}

// algorithm.flow_target_ema: the average network starts at g_φ's weights; end_update() (after each
// optimizer step) moves it to decay·old + (1 − decay)·new; it is what the detached target g_φ(x') of the
// forward condition evaluates (forward_trains_flow = false) and it is in the checkpoint state. With 0 there
// is no average, end_update() changes nothing and the target is g_φ(x') itself.
TEST(NablaDB, FlowTargetIsAnExponentialMovingAverageOfTheFlowNetwork) {
  const double decay = 0.9;
  Config c = toy_config();
  c.algorithm.forward_trains_flow = false;
  c.algorithm.flow_target_ema = decay;
  Fixture f(c);  // randomises g_φ after the average was taken: the two differ, as after an optimizer step
  auto average = [&] {
    TensorMap out;
    for (const auto& [name, t] : f.algo.state())
      if (name.rfind("flow_ema.", 0) == 0) out[name.substr(9)] = t.detach().clone();
    return out;
  };
  const TensorMap old = average();
  ASSERT_EQ(old.size(), f.algo.flow()->named_state().size());
  f.algo.end_update();
  const TensorMap now = average();
  double moved = 0;
  for (const auto& [name, w] : f.algo.flow()->named_state()) {
    at::Tensor want = decay * old.at(name) + (1 - decay) * w.detach();
    EXPECT_LT((now.at(name) - want).abs().max().item<double>(), 1e-12 * (1 + want.abs().max().item<double>())) << name;
    moved += (now.at(name) - old.at(name)).abs().sum().item<double>();
  }
  EXPECT_GT(moved, 0);

  // The forward condition's target is the average network's g(x'), not g_φ(x').
  NablaDBTerms t = f.algo.terms(f.batch, f.k, f.batch.prompts);
  std::shared_ptr<FlowNet> average_net = f.toy.problem.make_flow_net();
  average_net->load_state(now);
  TransitionRows tr = transition_rows(f.batch, f.k);
  const Scheduler& S = *f.toy.problem.scheduler;
  at::Tensor want_target = average_net->forward(tr.x_next, S.state_timesteps(f.k + 1), at::Tensor()).detach();
  EXPECT_LT((t.g_next_target - want_target).abs().max().item<double>(), 1e-12);
  EXPECT_GT((t.g_next_target - t.g_next).abs().max().item<double>(), 1e-3);
  at::Tensor terminal = f.k.eq(S.n_steps() - 1).to(at::kDouble).view({-1, 1});
  at::Tensor rF = t.score_fwd_policy - t.score_fwd_ref - t.G_next - (1 - terminal) * want_target;
  EXPECT_NEAR(t.l_F.item<double>(), rF.pow(2).mean().item<double>(), 1e-12);

  // A checkpoint restores the average: a fresh algorithm loaded from the state evaluates the same target.
  Config fresh_config = c;
  NablaDB fresh(f.toy.problem, fresh_config);
  TensorMap state;
  for (const auto& [name, v] : f.algo.state()) state[name] = v.detach().clone();
  fresh.load_state(state);
  EXPECT_TRUE(at::equal(fresh.terms(f.batch, f.k, f.batch.prompts).g_next_target, t.g_next_target));

  // Off (0): no average in the state, end_update() leaves g_φ alone, the target is g_φ(x').
  Fixture off([] {
    Config o = toy_config();
    o.algorithm.forward_trains_flow = false;
    return o;
  }());
  for (const auto& [name, v] : off.algo.state()) EXPECT_NE(name.rfind("flow_ema.", 0), 0u) << name;
  std::vector<at::Tensor> before;
  for (const auto& p : off.algo.flow()->parameters()) before.push_back(p.detach().clone());
  off.algo.end_update();
  std::vector<at::Tensor> after = off.algo.flow()->parameters();
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(at::equal(before[i], after[i]));
  NablaDBTerms t_off = off.algo.terms(off.batch, off.k, off.batch.prompts);
  EXPECT_TRUE(at::equal(t_off.g_next_target, t_off.g_next.detach()));

  // An average with no detached target to replace is an error that says which switches use one.
  Config useless = toy_config();
  useless.algorithm.flow_target_ema = decay;
  const std::string msg = test::error_of([&] { NablaDB unused(f.toy.problem, useless); });
  EXPECT_NE(msg.find("algorithm.flow_target_ema"), std::string::npos) << msg;
}

TEST(NablaDB, TrainsChecksPointsAndResumes) {
  Fixture f;
  std::string dir = ::testing::TempDir() + "/nabla_db_run";
  remove_tree(dir);
  RunDir run = RunDir::create(dir, false);
  TrainSummary s = train(f.toy.problem, f.algo, f.config, run, nullptr);
  EXPECT_EQ(s.updates, 2 * 1);  // 8 trajectories / (4 x 2) = 1 update per epoch
  EXPECT_TRUE(path_exists(dir + "/checkpoints/epoch_0001/adapter.safetensors"));
  // Resume with two more epochs: continues from the checkpoint, not from scratch.
  f.config.train.n_epochs = 4;
  RunDir again = RunDir::create(dir, true);
  TrainSummary s2 = train(f.toy.problem, f.algo, f.config, again, nullptr);
  EXPECT_EQ(s2.updates, 4);
  EXPECT_EQ(s2.epochs_done, 4);
}
