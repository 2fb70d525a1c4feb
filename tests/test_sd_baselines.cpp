// The baselines on Stable Diffusion's rewards (issue 13), on the tiny SD stack (CPU): each shipped SD
// ReFL config's loss has a non-zero LoRA gradient on its reward, and DAG-DB / residual DB — which need
// the scalar flow F_ψ (DAG's ConditionalFlow: down blocks -> pool -> linear) — run on SD with their
// shipped configs: finite terms, gradients into the LoRA and into F_ψ.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "algorithms/algorithm.h"
#include "config/config.h"
#include "models/unet_scalar_flow_net.h"
#include "problems/factory.h"
#include "test_util.h"

using namespace nablagfn;
using test::data_path;

namespace {

// A shipped SD config with the model, reward and sizes swapped for the tiny stack; its algorithm
// settings (targets, β, λ, ...) untouched.
Config tiny(const std::string& file) {
  Config c = load_config(std::string(NABLAGFN_SOURCE_DIR) + "/configs/" + file);
  c.run.device = "cpu";
  c.model.path = data_path("sd_tiny");
  c.model.dtype = ModelDType::Float32;
  c.model.flow_block_out_channels = {16, 32, 32, 32};
  c.sample.n_steps = 4;  // DAG-DB trains every transition: keep them few
  c.sample.prompts = "a photo of a cat";
  if (c.reward.name == "aesthetic") {
    c.reward.path = data_path("clip_vision_tiny/vision_model");
    c.reward.head_path = data_path("clip_vision_tiny/aesthetic_head.safetensors");
  } else {
    c.reward.path = data_path("openclip_hps_tiny/model.safetensors");
  }
  return c;
}

double grad_abs_sum(const std::vector<at::Tensor>& params) {
  double s = 0.0;
  for (const auto& p : params)
    if (p.grad().defined()) s += p.grad().abs().sum().item<double>();
  return s;
}

struct OneStep {
  LossTerms terms;
  double policy_grad = 0.0, flow_grad = 0.0;
};

// Samples 2 trajectories and accumulates one micro-batch of the config's algorithm.
OneStep one_step(const Config& c) {
  at::manual_seed(0);
  auto bundle = make_problem(c);
  Problem& p = bundle->problem();
  auto algorithm = algorithm_registry().create(c.algorithm.name, p, c);
  at::Generator gen = at::detail::createCPUGenerator(1);
  std::vector<int64_t> shape{2};
  shape.insert(shape.end(), p.latent_shape.begin(), p.latent_shape.end());
  TrajectoryBatch batch = rollout(p, at::randn(shape, gen), {"a photo of a cat", "a photo of a cat"}, gen,
                                  algorithm->rollout_options());
  StepInfo info{0, 10, 0, gen, gen};
  algorithm->begin_epoch(batch, info);
  OneStep out;
  out.terms = algorithm->accumulate(batch, info, 1.0);
  out.policy_grad = grad_abs_sum(p.denoiser->trainable_parameters());
  for (const auto& g : algorithm->extra_parameter_groups()) out.flow_grad += grad_abs_sum(g.params);
  return out;
}

}  // namespace

TEST(SDBaselines, EveryReFLConfigHasANonZeroGradientOnItsReward) {
  for (const char* file : {"sd15_aesthetic_refl.jsonc", "sd15_hps_refl.jsonc"}) {
    SCOPED_TRACE(file);
    const Config c = tiny(file);
    OneStep s = one_step(c);
    EXPECT_LT(s.terms.at("reward_x0"), c.algorithm.refl.target);
    EXPECT_GT(s.terms.at("loss"), 0.0);
    EXPECT_GT(s.policy_grad, 0.0);
  }
}

TEST(SDBaselines, DagDbAndResidualDbRunOnStableDiffusion) {
  for (const char* file : {"sd15_aesthetic_dag_db.jsonc", "sd15_hps_residual_db.jsonc"}) {
    SCOPED_TRACE(file);
    OneStep s = one_step(tiny(file));
    for (const auto& [name, v] : s.terms) EXPECT_TRUE(std::isfinite(v)) << name;
    EXPECT_GT(s.terms.at("l_db"), 0.0);
    EXPECT_GT(s.policy_grad, 0.0);
    EXPECT_GT(s.flow_grad, 0.0);
  }
}

TEST(SDBaselines, ScalarFlowIsOneValuePerSampleStartingAtZero) {
  UNetFlowNetOptions o;
  o.block_out_channels = {16, 32};
  o.cross_attention_dim = 16;
  o.norm_num_groups = 8;
  o.heads = 2;
  UNetScalarFlowNet flow(o);
  at::Tensor x = at::randn({3, 4, 8, 8});
  at::Tensor t = at::tensor({999, 500, 1}, at::kLong);
  at::Tensor f = flow.forward(x, t, at::randn({3, 5, 16}));
  EXPECT_EQ(f.sizes(), (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(f.abs().max().item<double>(), 0.0);  // zero-initialised output layer
  // After moving the output layer the value depends on x, t and the prompt.
  for (auto& [name, p] : flow.named_state())
    if (name.rfind("out.", 0) == 0) p.detach().normal_();
  at::Tensor g = flow.forward(x, t, at::Tensor());
  EXPECT_GT((g[0] - g[1]).abs().item<double>(), 0.0);
  EXPECT_GT((g - flow.forward(x, t, at::randn({3, 5, 16}))).abs().max().item<double>(), 0.0);
  EXPECT_EQ(flow.named_state().size(), flow.parameters().size());
}
