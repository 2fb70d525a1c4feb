// Schedulers: the SD-1.5 noise schedule, DDIM-η, DDPM and SDE-DPM-Solver++ against diffusers fixtures
// (tests/data/schedulers, described by its meta.json), the spec §2.2 / §2.4 formulas, per-row step mixing,
// the factory and the diffusers scheduler_config.json reader.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/tensor_io.h"
#include "schedulers/ddpm.h"
#include "schedulers/dpm_solver_sde.h"
#include "schedulers/factory.h"
#include "schedulers/scheduler.h"
#include "test_util.h"

using namespace nablagfn;
using test::error_of;

namespace {

const TensorMap& fixture() {
  static const TensorMap tensors = load_safetensors(test::data_path("schedulers/io.safetensors"));
  return tensors;
}

at::Tensor fx(const std::string& key) {
  auto it = fixture().find(key);
  EXPECT_NE(it, fixture().end()) << "fixture has no " << key;
  return it == fixture().end() ? at::Tensor() : it->second;
}

// meta.json as written by Python's json module: -Infinity (lambda_min_clipped) is not JSON, so it is read as null.
const nlohmann::json& meta() {
  static const nlohmann::json j = [] {
    std::ifstream in(test::data_path("schedulers/meta.json"));
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    for (size_t pos; (pos = text.find("-Infinity")) != std::string::npos;) text.replace(pos, 9, "null");
    return nlohmann::json::parse(text);
  }();
  return j;
}

NoiseSchedule sd15_schedule() { return NoiseSchedule(NoiseScheduleConfig{}); }

// Step index of diffusers timestep tau in the scheduler's list.
int step_of(const Scheduler& s, int64_t tau) {
  for (int k = 0; k < s.n_steps(); ++k)
    if (s.timestep(k) == tau) return k;
  ADD_FAILURE() << "timestep " << tau << " not in the " << s.name() << " schedule";
  return 0;
}

at::Tensor rows_k(int64_t B, int k) { return at::full({B}, k, at::kLong); }

at::Tensor row_view(const at::Tensor& std, const at::Tensor& like) {
  std::vector<int64_t> shape(like.dim(), 1);
  shape[0] = like.size(0);
  return std.view(shape);  // [B] -> [B, 1, ...]
}

}  // namespace

TEST(SchedulersNoiseSchedule, AlphasCumprodMatchesDiffusers) {
  NoiseSchedule s = sd15_schedule();
  at::Tensor ours = at::tensor(s.alphas_cumprod(), at::kDouble);  // [1000]
  at::Tensor ref = fx("alphas_cumprod").to(at::kDouble);          // [1000]
  ASSERT_EQ(ours.size(0), ref.size(0));
  EXPECT_LE(((ours - ref).abs() / ref).max().item<double>(), 1e-7);
  EXPECT_NEAR(s.alpha_bar(0), 0.99915, 1e-5);
  EXPECT_NEAR(s.alpha_bar(999), 0.0046601, 1e-7);
}

TEST(SchedulersDDIM, Ddim50TimestepsMatchDiffusers) {
  DDIMScheduler ddim(sd15_schedule(), 50, 1.0, 1);
  at::Tensor ref = fx("ddim50_timesteps").to(at::kLong);
  ASSERT_EQ(ddim.n_steps(), 50);
  for (int k = 0; k < 50; ++k) EXPECT_EQ(ddim.timestep(k), ref[k].item<int64_t>()) << "k = " << k;
  EXPECT_EQ(ddim.state_timestep(50), 0);
  EXPECT_EQ(ddim.state_alpha_bar(50), 1.0);
}

TEST(SchedulersDDIM, StepsMatchDiffusersFixture) {
  const auto& cfg = meta()["ddim_config"];
  NoiseSchedule s = sd15_schedule();
  int n_cases = 0;
  for (const auto& c : meta()["ddim_cases"]) {
    const std::string key = c["key"];
    if (key.rfind("ddim_", 0) != 0) continue;
    DDIMScheduler ddim(s, 50, c["eta"].get<double>(), cfg["steps_offset"].get<int>());
    const int k = step_of(ddim, c["timestep"].get<int64_t>());
    at::Tensor x = fx(key + "_x"), eps = fx(key + "_eps");  // [2, 4, 8, 8]
    at::Tensor kk = rows_k(x.size(0), k);
    at::Tensor std = ddim.step_std(kk, x);  // [B]
    EXPECT_CLOSE(ddim.predict_x0(kk, x, eps), fx(key + "_x0"), 1e-5) << key;
    EXPECT_NEAR(std[0].item<double>(), fx(key + "_std").item<double>(), 1e-6) << key;
    if (c["eta"].get<double>() == 0.0) EXPECT_EQ(ddim.std_at(k), 0.0) << key;
    at::Tensor prev = ddim.step_mean(kk, x, eps) + row_view(std, x) * fx(key + "_noise");
    EXPECT_CLOSE(prev, fx(key + "_prev"), 1e-5) << key;
    ++n_cases;
  }
  EXPECT_EQ(n_cases, 10);
}

// Spec §2.2 table: float64 values printed to 6 significant digits (1/σ² to 4). The table used a float64 ᾱ;
// diffusers' (and ours) is float32, which moves √(1 − ᾱ' − σ²) at k = 49 by 2.4e-5 relative (the
// difference 1 − ᾱ' − σ² ≈ 4e-4 cancels ~3.5 digits), so that one entry gets 3e-5.
TEST(SchedulersDDIM, Eta1MatchesSpecTable) {
  struct Row {
    int k;
    int64_t tau, tau_prev;
    double ab, ab_prev, sigma, sqrt_ab_prev, dir, inv_var;
  };
  const Row rows[] = {
      {0, 981, 961, 0.0057755, 0.00728173, 0.454463, 0.085333, 0.886669, 4.842},
      {10, 781, 761, 0.043456, 0.0513639, 0.39075, 0.226636, 0.89216, 6.549},
      {25, 481, 461, 0.302296, 0.330846, 0.287685, 0.575192, 0.765762, 12.08},
      {40, 181, 161, 0.782654, 0.812108, 0.177068, 0.90117, 0.39565, 31.89},
      {47, 41, 21, 0.960873, 0.980381, 0.0998873, 0.990142, 0.0981926, 100.2},
      {48, 21, 1, 0.980381, 0.998296, 0.0394795, 0.999148, 0.0120556, 641.6},
      {49, 1, 0, 0.998296, 0.99915, 0.0206483, 0.999575, 0.0205827, 2345},
  };
  NoiseSchedule s = sd15_schedule();
  DDIMScheduler ddim(s, 50, 1.0, 1);
  auto rel = [](double a, double b) { return std::abs(a - b) / std::abs(b); };
  for (const Row& r : rows) {
    const double ab = ddim.state_alpha_bar(r.k);
    const double sigma = ddim.std_at(r.k);
    // mean = √ᾱ'·x̂0 + dir·ε = (√ᾱ'/√ᾱ)·x + (dir − √ᾱ'·√(1−ᾱ)/√ᾱ)·ε.
    const double sqrt_ab_prev = ddim.coef_x(r.k) * std::sqrt(ab);
    const double dir = ddim.coef_eps(r.k) + sqrt_ab_prev * std::sqrt(1.0 - ab) / std::sqrt(ab);
    EXPECT_EQ(ddim.timestep(r.k), r.tau);
    EXPECT_EQ(std::max<int64_t>(r.tau - 20, 0), r.tau_prev);
    EXPECT_LE(rel(ab, r.ab), 1e-5) << "k = " << r.k;
    EXPECT_LE(rel(s.alpha_bar(r.tau_prev), r.ab_prev), 1e-5) << "k = " << r.k;
    EXPECT_LE(rel(sigma, r.sigma), 1e-5) << "k = " << r.k;
    EXPECT_LE(rel(sqrt_ab_prev, r.sqrt_ab_prev), 1e-5) << "k = " << r.k;
    EXPECT_LE(rel(dir, r.dir), r.k == 49 ? 3e-5 : 1e-5) << "k = " << r.k;
    EXPECT_LE(rel(1.0 / (sigma * sigma), r.inv_var), 5e-4) << "k = " << r.k;
  }
}

TEST(SchedulersDDIM, PerRowStepsEqualSeparateCalls) {
  NoiseSchedule s = sd15_schedule();
  at::Tensor x = fx("ddim_2_eta1_x"), eps = fx("ddim_2_eta1_eps");  // [2, 4, 8, 8]
  at::Tensor x4 = at::cat({x, x.flip(0)}), eps4 = at::cat({eps, -eps});  // [4, 4, 8, 8]
  DDIMScheduler ddim(s, 50, 1.0, 1);
  DPMSolverSDEScheduler dpm(s, 20, 2, FinalSigmas::SigmaMin, TimestepSpacing::Leading, 1);
  at::Tensor x0_prev = 0.5 * x4;
  const std::pair<const Scheduler*, std::vector<int64_t>> cases[] = {{&ddim, {0, 25, 49, 10}}, {&dpm, {0, 12, 19, 5}}};
  for (const auto& [sched, ks] : cases) {
    at::Tensor kk = at::tensor(ks, at::kLong);
    at::Tensor mean = sched->step_mean(kk, x4, eps4, x0_prev), std = sched->step_std(kk, x4);
    at::Tensor x0 = sched->predict_x0(kk, x4, eps4);
    for (int64_t b = 0; b < 4; ++b) {
      at::Tensor k1 = rows_k(1, static_cast<int>(ks[b]));
      at::Tensor xb = x4.narrow(0, b, 1), eb = eps4.narrow(0, b, 1), pb = x0_prev.narrow(0, b, 1);
      EXPECT_TRUE(at::equal(mean.narrow(0, b, 1), sched->step_mean(k1, xb, eb, pb))) << sched->name() << b;
      EXPECT_TRUE(at::equal(std.narrow(0, b, 1), sched->step_std(k1, xb))) << sched->name() << b;
      EXPECT_TRUE(at::equal(x0.narrow(0, b, 1), sched->predict_x0(k1, xb, eb))) << sched->name() << b;
    }
    EXPECT_EQ(sched->state_timesteps(kk)[2].item<int64_t>(), sched->timestep(static_cast<int>(ks[2])));
  }
}

TEST(SchedulersDDPM, AncestralStepsMatchDiffusersFixture) {
  const auto& cfg = meta()["ddpm_config"];
  ASSERT_EQ(cfg["variance_type"], "fixed_small");
  ASSERT_EQ(cfg["timestep_spacing"], "leading");
  // The fixture ran set_timesteps(num_train_timesteps): τ_k = 999 − k with steps_offset 0.
  const int n_train = cfg["num_train_timesteps"];
  DDPMScheduler ddpm(sd15_schedule(), n_train, cfg["steps_offset"].get<int>());
  EXPECT_EQ(ddpm.timestep(0), 999);
  EXPECT_EQ(ddpm.timestep(999), 0);
  EXPECT_EQ(ddpm.std_at(999), 0.0);  // no noise at τ = 0
  int n_cases = 0;
  for (const auto& c : meta()["ddim_cases"]) {
    const std::string key = c["key"];
    if (key.rfind("ddpm_", 0) != 0) continue;
    const int64_t tau = c["timestep"];
    const int k = step_of(ddpm, tau);
    EXPECT_EQ(k, 999 - tau);
    at::Tensor x = fx(key + "_x"), eps = fx(key + "_eps");  // [2, 4, 8, 8]
    at::Tensor kk = rows_k(x.size(0), k);
    at::Tensor prev = ddpm.step_mean(kk, x, eps) + row_view(ddpm.step_std(kk, x), x) * fx(key + "_noise");
    EXPECT_CLOSE(prev, fx(key + "_prev"), 1e-4) << key;
    ++n_cases;
  }
  EXPECT_EQ(n_cases, 3);
}

TEST(SchedulersDDPM, FiftyStepsLastStepIsPosteriorMeanToCleanSample) {
  NoiseSchedule s = sd15_schedule();
  DDPMScheduler ddpm(s, 50, 1);
  EXPECT_EQ(ddpm.timestep(0), 981);
  EXPECT_EQ(ddpm.timestep(49), 1);
  // Step 0 (981 → 961): β_t = 1 − ᾱ/ᾱ', σ² = (1 − ᾱ')/(1 − ᾱ)·β_t, which is DDIM-η=1's σ² (same posterior).
  DDIMScheduler ddim(s, 50, 1.0, 1);
  for (int k : {0, 25, 48}) {
    EXPECT_NEAR(ddpm.std_at(k), ddim.std_at(k), 1e-12) << k;
    EXPECT_NEAR(ddpm.coef_x(k), ddim.coef_x(k), 1e-12) << k;
    EXPECT_NEAR(ddpm.coef_eps(k), ddim.coef_eps(k), 1e-12) << k;
  }
  // The last step targets ᾱ' = 1 (diffusers' previous_timestep −1): mean = x̂0, deterministic.
  EXPECT_EQ(ddpm.std_at(49), 0.0);
  at::Tensor x = fx("ddpm_t500_x"), eps = fx("ddpm_t500_eps");
  at::Tensor kk = rows_k(x.size(0), 49);
  EXPECT_CLOSE(ddpm.step_mean(kk, x, eps), ddpm.predict_x0(kk, x, eps), 1e-6);
}

TEST(SchedulersDPMSolver, SdeDpmSolverPlusPlus2MChainMatchesDiffusers) {
  const auto& cfg = meta()["dpm_config"];
  ASSERT_EQ(cfg["algorithm_type"], "sde-dpmsolver++");
  ASSERT_EQ(cfg["solver_type"], "midpoint");
  ASSERT_TRUE(cfg["lower_order_final"].get<bool>());
  at::Tensor ref_t = fx("dpm_timesteps").to(at::kLong);  // [K]
  const int K = static_cast<int>(ref_t.size(0));
  DPMSolverSDEScheduler dpm(sd15_schedule(), K, cfg["solver_order"].get<int>(),
                            parse_enum<FinalSigmas>(cfg["final_sigmas_type"], "final_sigmas_type"),
                            parse_timestep_spacing(cfg["timestep_spacing"]), cfg["steps_offset"].get<int>());
  ASSERT_EQ(dpm.name(), "dpmpp_2m_sde");
  for (int k = 0; k < K; ++k) EXPECT_EQ(dpm.timestep(k), ref_t[k].item<int64_t>()) << k;
  EXPECT_FALSE(dpm.uses_second_order(0));
  EXPECT_TRUE(dpm.uses_second_order(1));
  EXPECT_FALSE(dpm.uses_second_order(K - 1));  // final sigma zero forces a first-order last step
  EXPECT_EQ(dpm.std_at(K - 1), 0.0);

  // Model ε = 0.3·x + 0.1 at every step, noise dpm_noise_k (meta.json dpm_model).
  at::Tensor x = fx("dpm_x_init");
  at::Tensor x0_prev = at::zeros_like(x);
  for (int k = 0; k < K; ++k) {
    at::Tensor kk = rows_k(x.size(0), k);
    at::Tensor eps = 0.3 * x + 0.1;
    at::Tensor x_next = dpm.step_mean(kk, x, eps, x0_prev) +
                        row_view(dpm.step_std(kk, x), x) * fx("dpm_noise_" + std::to_string(k));
    x0_prev = dpm.predict_x0(kk, x, eps);
    x = x_next;
    EXPECT_CLOSE(x, fx("dpm_x_" + std::to_string(k)), 1e-4) << "step " << k;
  }
}

// Spec §2.4: σ̃ table, α = 1/√(σ̃²+1), σ = σ̃α, λ = log α − log σ, h = λ_t − λ_s,
// mean = (σ_t/σ_s)e^{−h}x + α_t(1 − e^{−2h})x̂0, std = σ_t√(1 − e^{−2h}).
TEST(SchedulersDPMSolver, FirstOrderMatchesSpecFormulas) {
  NoiseSchedule s = sd15_schedule();
  const int K = 20;
  DPMSolverSDEScheduler dpm(s, K, 1, FinalSigmas::SigmaMin, TimestepSpacing::Leading, 1);
  EXPECT_EQ(dpm.name(), "dpmpp_sde");
  EXPECT_FALSE(dpm.second_order());
  EXPECT_NEAR(dpm.sigma(K), std::sqrt((1 - s.alpha_bar(0)) / s.alpha_bar(0)), 1e-7);
  at::Tensor x = fx("dpm_x_init").to(at::kDouble), eps = fx("dpm_noise_3").to(at::kDouble);  // [2, 4, 8, 8]
  for (int k : {0, 7, 18, 19}) {
    const double ab_s = s.alpha_bar(dpm.timestep(k));
    EXPECT_NEAR(dpm.sigma(k), std::sqrt((1 - ab_s) / ab_s), 1e-6 * dpm.sigma(k)) << k;
    const double st_s = dpm.sigma(k), st_t = dpm.sigma(k + 1);
    const double a_s = 1 / std::sqrt(st_s * st_s + 1), a_t = 1 / std::sqrt(st_t * st_t + 1);
    const double s_s = st_s * a_s, s_t = st_t * a_t;
    const double h = (std::log(a_t) - std::log(s_t)) - (std::log(a_s) - std::log(s_s));
    at::Tensor x0 = (x - s_s * eps) / a_s;
    at::Tensor mean = (s_t / s_s) * std::exp(-h) * x + a_t * (1 - std::exp(-2 * h)) * x0;
    at::Tensor kk = rows_k(x.size(0), k);
    EXPECT_CLOSE(dpm.step_mean(kk, x, eps), mean, 1e-10) << k;
    EXPECT_NEAR(dpm.std_at(k), s_t * std::sqrt(1 - std::exp(-2 * h)), 1e-12) << k;
    EXPECT_GT(dpm.std_at(k), 0.0);
    EXPECT_CLOSE(dpm.predict_x0(kk, x, eps), x0, 1e-10) << k;
  }
  // final_sigmas zero: the last step is deterministic and lands on x̂0.
  DPMSolverSDEScheduler zero(s, K, 1, FinalSigmas::Zero, TimestepSpacing::Leading, 1);
  at::Tensor kk = rows_k(x.size(0), K - 1);
  EXPECT_EQ(zero.std_at(K - 1), 0.0);
  EXPECT_CLOSE(zero.step_mean(kk, x, eps), zero.predict_x0(kk, x, eps), 1e-12);
}

TEST(SchedulersDPMSolver, LowerOrderFinalOnlyBelowFifteenStepsWithSigmaMin) {
  NoiseSchedule s = sd15_schedule();
  DPMSolverSDEScheduler long_run(s, 20, 2, FinalSigmas::SigmaMin, TimestepSpacing::Linspace, 0);
  EXPECT_TRUE(long_run.uses_second_order(19));
  DPMSolverSDEScheduler short_run(s, 10, 2, FinalSigmas::SigmaMin, TimestepSpacing::Linspace, 0);
  EXPECT_TRUE(short_run.uses_second_order(8));
  EXPECT_FALSE(short_run.uses_second_order(9));
  EXPECT_TRUE(short_run.second_order());
}

TEST(SchedulersDPMSolver, TimestepSpacingsMatchDiffusers) {
  NoiseSchedule s = sd15_schedule();
  auto ts = [&](int K, TimestepSpacing sp, int offset) {
    return DPMSolverSDEScheduler(s, K, 1, FinalSigmas::Zero, sp, offset).timesteps();
  };
  // Values printed by numpy for diffusers' set_timesteps expressions.
  EXPECT_EQ(ts(7, TimestepSpacing::Leading, 1), (std::vector<int64_t>{876, 751, 626, 501, 376, 251, 126}));
  EXPECT_EQ(ts(7, TimestepSpacing::Linspace, 1), (std::vector<int64_t>{999, 856, 714, 571, 428, 285, 143}));
  EXPECT_EQ(ts(7, TimestepSpacing::Trailing, 1), (std::vector<int64_t>{999, 856, 713, 570, 428, 285, 142}));
  EXPECT_EQ(ts(30, TimestepSpacing::Linspace, 0),
            (std::vector<int64_t>{999, 966, 932, 899, 866, 832, 799, 766, 733, 699, 666, 633, 599, 566, 533,
                                  499, 466, 433, 400, 366, 333, 300, 266, 233, 200, 166, 133, 100, 67, 33}));
  EXPECT_EQ(ts(30, TimestepSpacing::Trailing, 0),
            (std::vector<int64_t>{999, 966, 932, 899, 866, 832, 799, 766, 732, 699, 666, 632, 599, 566, 532,
                                  499, 466, 432, 399, 366, 332, 299, 266, 232, 199, 166, 132, 99, 66, 32}));
  EXPECT_EQ(ts(3, TimestepSpacing::Trailing, 0), (std::vector<int64_t>{999, 666, 332}));
}

TEST(SchedulersFactory, BuildsEveryNamedScheduler) {
  NoiseSchedule s = sd15_schedule();
  SampleConfig c;
  c.n_steps = 20;
  for (const std::string name : {"ddim", "ddpm", "dpmpp_sde", "dpmpp_2m_sde"}) {
    c.scheduler = name;
    auto sched = make_scheduler(c, s);
    EXPECT_EQ(sched->name(), name);
    EXPECT_EQ(sched->n_steps(), 20);
    EXPECT_EQ(sched->second_order(), name == "dpmpp_2m_sde");
  }
  c.scheduler = "ddim";
  c.eta = 0.5;
  EXPECT_EQ(make_scheduler(c, s)->std_at(3), DDIMScheduler(s, 20, 0.5, 1).std_at(3));
  c.scheduler = "dpmpp_sde";
  c.dpmpp.final_sigmas = FinalSigmas::Zero;
  EXPECT_EQ(make_scheduler(c, s)->std_at(19), 0.0);
  c.dpmpp.final_sigmas = FinalSigmas::SigmaMin;
  EXPECT_GT(make_scheduler(c, s)->std_at(19), 0.0);
  EXPECT_EQ(make_scheduler(c, s, 0, TimestepSpacing::Trailing)->timestep(0), 999);
}

TEST(SchedulersFactory, RejectsUnknownNamesAndOptions) {
  NoiseSchedule s = sd15_schedule();
  SampleConfig c;
  c.scheduler = "euler";
  std::string msg = error_of([&] { make_scheduler(c, s); });
  EXPECT_NE(msg.find("euler"), std::string::npos) << msg;
  for (const char* name : {"ddim", "ddpm", "dpmpp_sde", "dpmpp_2m_sde"})
    EXPECT_NE(msg.find(name), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { parse_enum<FinalSigmas>("sigma_max", "sample.dpmpp.final_sigmas"); })
                .find("sample.dpmpp.final_sigmas must be sigma_min or zero"),
            std::string::npos);
  c.scheduler = "ddim";
  EXPECT_NE(error_of([&] { make_scheduler(c, s, 1, TimestepSpacing::Trailing); }).find("leading"),
            std::string::npos);
  c.n_steps = 1000;  // leading + steps_offset 1 would reach τ = 1000
  EXPECT_NE(error_of([&] { make_scheduler(c, s); }), "");
  c.scheduler = "ddpm";
  EXPECT_NE(error_of([&] { make_scheduler(c, s); }), "");
  EXPECT_EQ(make_scheduler(c, s, 0)->timestep(0), 999);
}

TEST(SchedulersConfigFile, ReadsSd15SchedulerConfig) {
  SchedulerFileConfig c = read_scheduler_config(test::data_path("sd15_configs/scheduler/scheduler_config.json"));
  EXPECT_EQ(c.schedule.n_train_timesteps, 1000);
  EXPECT_DOUBLE_EQ(c.schedule.beta_start, 0.00085);
  EXPECT_DOUBLE_EQ(c.schedule.beta_end, 0.012);
  EXPECT_EQ(c.schedule.beta_schedule, "scaled_linear");
  EXPECT_EQ(c.steps_offset, 1);
  EXPECT_EQ(c.prediction_type, "epsilon");
  EXPECT_EQ(c.timestep_spacing, TimestepSpacing::Leading);
  // It reproduces the schedule the fixtures were made with.
  NoiseSchedule s(c.schedule);
  EXPECT_CLOSE(at::tensor(s.alphas_cumprod(), at::kDouble), fx("alphas_cumprod"), 1e-7);
}

TEST(SchedulersConfigFile, RejectsUnsupportedOrBrokenFiles) {
  auto write = [](const std::string& name, const std::string& text) {
    std::string path = ::testing::TempDir() + "/" + name;
    std::ofstream(path) << text;
    return path;
  };
  std::string msg = error_of([&] { read_scheduler_config(write("v.json", R"({"prediction_type": "v_prediction"})")); });
  EXPECT_NE(msg.find("v_prediction"), std::string::npos) << msg;
  EXPECT_NE(msg.find("hint"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { read_scheduler_config(write("c.json", R"({"clip_sample": true})")); }).find("clip_sample"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { read_scheduler_config(write("t.json", R"({"steps_offset": "one"})")); }).find("steps_offset"),
      std::string::npos);
  EXPECT_NE(error_of([&] { read_scheduler_config(write("s.json", R"({"timestep_spacing": "karras"})")); }), "");
  EXPECT_NE(error_of([&] { read_scheduler_config(write("m.json", "{ not json")); }).find("malformed"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_scheduler_config(::testing::TempDir() + "/missing_scheduler.json"); }), "");
  // Missing keys take diffusers' defaults.
  SchedulerFileConfig d = read_scheduler_config(write("d.json", R"({"_class_name": "DDPMScheduler"})"));
  EXPECT_EQ(d.schedule.beta_schedule, "linear");
  EXPECT_EQ(d.steps_offset, 0);
}
