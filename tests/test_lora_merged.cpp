// The merged-weight LoRA projection (models/lora_merged_linear.h) against the fp32 branch it replaces:
// outputs and the gradients of x, A and B of one projection (fp32, fp64, a bf16 base), a finite-difference
// Jacobian check in float64, when LoRALinear takes which path, the tiny SD UNet with the switch on and
// off, and model.lora_merged_backward through the SD pipeline to ∇-DB's training terms.
#include <torch/torch.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "algorithms/nabla_db.h"
#include "io/tensor_io.h"
#include "models/attention.h"
#include "models/lora.h"
#include "models/lora_merged_linear.h"
#include "models/sd_denoiser.h"
#include "models/unet2d_condition.h"
#include "problems/stable_diffusion.h"
#include "test_util.h"
#include "tiny_sd_config.h"

using namespace nablagfn;
using test::data_path;

namespace {

constexpr int64_t kIn = 12, kOut = 10;

LoRAConfig lora_config() {
  LoRAConfig c;
  c.rank = 3;
  c.alpha = 5.0;  // scale 5/3: not a power of two, so where the scale is applied shows in the rounding
  return c;
}

// One frozen projection with a LoRA whose B is non-zero, all in dtype (the LoRA matrices stay in
// lora_dtype).
struct Projection {
  std::shared_ptr<LoRAGate> gate = std::make_shared<LoRAGate>();
  LoRALinear lora{nullptr};
  at::Tensor weight, bias;

  Projection(at::ScalarType dtype, at::ScalarType lora_dtype, bool with_bias) {
    at::manual_seed(0);
    lora = LoRALinear(kIn, kOut, lora_config(), gate);
    lora->to(lora_dtype);
    torch::NoGradGuard no_grad;
    lora->lora_B->weight.normal_(0.0, 0.5);
    weight = (at::randn({kOut, kIn}) / 3.0).to(dtype);
    if (with_bias) bias = at::randn({kOut}).to(dtype);
  }
};

struct Result {
  at::Tensor y, grad_x, grad_A, grad_B;
};

// y = project(x) and the gradients of sum(y · v) w.r.t. x, A and B, with the switch set to merged.
Result run(Projection& p, const at::Tensor& x_value, const at::Tensor& v, bool merged) {
  p.gate->merged_backward = merged;
  at::Tensor x = x_value.detach().requires_grad_(true);
  at::Tensor y = p.lora->project(x, p.weight, p.bias);
  auto g = torch::autograd::grad({(y * v).sum()}, {x, p.lora->lora_A->weight, p.lora->lora_B->weight});
  return {y.detach(), g[0], g[1], g[2]};
}

void expect_agree(const Result& merged, const Result& branch, double tol) {
  EXPECT_CLOSE(merged.y, branch.y, tol);
  EXPECT_CLOSE(merged.grad_x, branch.grad_x, tol);
  EXPECT_CLOSE(merged.grad_A, branch.grad_A, tol);
  EXPECT_CLOSE(merged.grad_B, branch.grad_B, tol);
}

// Number of nodes in y's graph whose name contains needle.
int count_nodes(const at::Tensor& y, const std::string& needle) {
  std::set<torch::autograd::Node*> seen;
  std::vector<torch::autograd::Node*> stack{y.grad_fn().get()};
  int n = 0;
  while (!stack.empty()) {
    torch::autograd::Node* node = stack.back();
    stack.pop_back();
    if (node == nullptr || !seen.insert(node).second) continue;
    if (node->name().find(needle) != std::string::npos) ++n;
    for (const auto& edge : node->next_edges()) stack.push_back(edge.function.get());
  }
  return n;
}

}  // namespace

TEST(LoRAMergedLinear, MatchesBranchInFloat32AndFloat64) {
  for (const auto dtype : {at::kFloat, at::kDouble}) {
    for (const bool with_bias : {true, false}) {
      Projection p(dtype, dtype, with_bias);
      const std::vector<int64_t> lead = with_bias ? std::vector<int64_t>{2, 5} : std::vector<int64_t>{3, 2, 2};
      std::vector<int64_t> x_shape = lead, y_shape = lead;
      x_shape.push_back(kIn);
      y_shape.push_back(kOut);
      const at::Tensor x = at::randn(x_shape).to(dtype);  // [..., in]
      const at::Tensor v = at::randn(y_shape).to(dtype);  // [..., out]
      const Result branch = run(p, x, v, false);
      const Result merged = run(p, x, v, true);
      EXPECT_EQ(merged.y.sizes(), at::IntArrayRef(y_shape));
      EXPECT_EQ(merged.grad_A.scalar_type(), dtype);
      expect_agree(merged, branch, dtype == at::kFloat ? 1e-5 : 1e-12);
    }
  }
}

TEST(LoRAMergedLinear, JacobianMatchesFiniteDifferencesInFloat64) {
  at::manual_seed(1);
  auto f64 = at::TensorOptions().dtype(at::kDouble);
  const int64_t r = 2, in = 3, out = 4;
  const at::Tensor weight = at::randn({out, in}, f64), bias = at::randn({out}, f64);
  std::vector<at::Tensor> inputs = {at::randn({2, 3, in}, f64), at::randn({r, in}, f64), at::randn({out, r}, f64)};
  auto f = [&](const std::vector<at::Tensor>& xs) {
    return lora_merged_linear(xs[0], weight, bias, xs[1], xs[2], 1.5);  // [2, 3, out]
  };
  for (auto& t : inputs) t.requires_grad_(true);
  const at::Tensor y = f(inputs).flatten();
  const double h = 1e-6;
  double worst = 0.0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    for (int64_t j = 0; j < inputs[i].numel(); ++j) {
      // Column j of input i: backprop (one VJP per output) against central differences.
      std::vector<at::Tensor> plus, minus;
      for (const auto& t : inputs) {
        plus.push_back(t.detach().clone());
        minus.push_back(t.detach().clone());
      }
      plus[i].view(-1)[j] += h;
      minus[i].view(-1)[j] -= h;
      const at::Tensor numeric = (f(plus) - f(minus)).flatten() / (2 * h);  // [2·3·out]
      at::Tensor analytic = at::empty_like(numeric);
      for (int64_t k = 0; k < y.numel(); ++k) {
        analytic[k] = torch::autograd::grad({y[k]}, {inputs[i]}, {}, /*retain_graph=*/true)[0].view(-1)[j];
      }
      worst = std::max(worst, (numeric - analytic).abs().max().item<double>());
    }
  }
  EXPECT_ERR_LE(worst, 1e-8);
}

TEST(LoRAMergedLinear, Bfloat16BaseAgreesWithTheFp32BranchToBf16Rounding) {
  Projection p(at::kBFloat16, at::kFloat, true);
  const at::Tensor x = at::randn({2, 5, kIn}).to(at::kBFloat16);   // [2, 5, in]
  const at::Tensor v = at::randn({2, 5, kOut}).to(at::kBFloat16);  // [2, 5, out]
  const Result branch = run(p, x, v, false);
  const Result merged = run(p, x, v, true);
  EXPECT_EQ(merged.y.scalar_type(), at::kBFloat16);
  EXPECT_EQ(merged.grad_x.scalar_type(), at::kBFloat16);
  EXPECT_EQ(merged.grad_A.scalar_type(), at::kFloat);
  EXPECT_EQ(merged.grad_B.scalar_type(), at::kFloat);
  expect_agree(merged, branch, 5e-2);  // measured 0.4-1 %: a few bf16 roundings (2^-8 = 0.4 % each)
}

TEST(LoRAMergedLinear, TakenOnlyWithGradAndEveryRowOn) {
  Projection p(at::kFloat, at::kFloat, true);
  p.gate->merged_backward = true;
  const at::Tensor x = at::randn({2, 5, kIn});
  auto merged_nodes = [&](const at::Tensor& y) { return y.grad_fn() ? count_nodes(y, "LoRAMergedLinear") : 0; };
  EXPECT_EQ(merged_nodes(p.lora->project(x, p.weight, p.bias)), 1);
  // A sample mask (even all true) keeps the branch, bit for bit.
  const at::Tensor mask = at::ones({2}, at::kBool);
  at::Tensor masked;
  {
    LoRAGateGuard guard(*p.gate, true, mask);
    masked = p.lora->project(x, p.weight, p.bias);
  }
  EXPECT_TRUE(p.gate->merged_backward);
  EXPECT_EQ(merged_nodes(masked), 0);
  p.gate->merged_backward = false;
  at::Tensor branch_masked;
  {
    LoRAGateGuard guard(*p.gate, true, mask);
    branch_masked = p.lora->project(x, p.weight, p.bias);
  }
  EXPECT_TRUE(torch::equal(masked, branch_masked));
  p.gate->merged_backward = true;
  {
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal(p.lora->project(x, p.weight, p.bias), branch_masked));
  }
  {
    LoRAGateGuard guard(*p.gate, false);
    EXPECT_TRUE(torch::equal(p.lora->project(x, p.weight, p.bias), at::linear(x, p.weight, p.bias)));
  }
}

TEST(LoRAMergedLinear, RefusesDoubleBackwardAndATrainableBase) {
  Projection p(at::kFloat, at::kFloat, false);
  p.gate->merged_backward = true;
  at::Tensor x = at::randn({4, kIn}).requires_grad_(true);
  at::Tensor y = p.lora->project(x, p.weight, p.bias);
  EXPECT_THROW(torch::autograd::grad({y.pow(2).sum()}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true),
               c10::Error);
  at::Tensor trainable = p.weight.clone().requires_grad_(true);
  EXPECT_THROW(p.lora->project(x, trainable, p.bias), c10::Error);
}

TEST(LoRAMergedLinear, TinySDUNetGivesTheSameEpsAndGradients) {
  UNet2DConditionModel unet = load_unet(data_path("unet_sd15_tiny"));
  for (auto& param : unet->parameters()) param.set_requires_grad(false);
  set_attention_backend(*unet, AttentionBackend::Reference);
  LoRAConfig c;
  c.rank = 4;
  c.alpha = 8.0;
  LoRAAdapter lora(*unet, c);
  lora.load(data_path("unet_sd15_tiny_lora/lora_peft.safetensors"));  // non-zero B
  const TensorMap io = load_safetensors(data_path("unet_sd15_tiny_lora/io.safetensors"));
  const at::Tensor t = io.at("timestep").to(at::kLong);
  std::vector<at::Tensor> leaves = lora.parameters();
  const size_t n_lora = leaves.size();
  leaves.push_back(io.at("sample").clone().requires_grad_(true));
  auto pass = [&](bool merged) {
    lora.gate().merged_backward = merged;
    at::Tensor eps = unet(leaves.back(), t, io.at("encoder_hidden_states"));  // [B, C, H, W]
    EXPECT_EQ(count_nodes(eps, "LoRAMergedLinear"), merged ? static_cast<int>(n_lora / 2) : 0);
    std::vector<at::Tensor> out = torch::autograd::grad({(eps * io.at("grad_weight")).sum()}, leaves);
    out.push_back(eps.detach());
    return out;
  };
  const std::vector<at::Tensor> branch = pass(false), merged = pass(true);
  EXPECT_CLOSE(merged.back(), branch.back(), 1e-5);          // ε
  EXPECT_CLOSE(merged[n_lora], branch[n_lora], 1e-5);        // input gradient
  auto lora_grads = [&](const std::vector<at::Tensor>& g) {  // every LoRA gradient, flattened and joined
    std::vector<at::Tensor> flat;
    for (size_t i = 0; i < n_lora; ++i) flat.push_back(g[i].flatten());
    return at::cat(flat);
  };
  EXPECT_CLOSE(lora_grads(merged), lora_grads(branch), 1e-5);
}

// model.lora_merged_backward through make_stable_diffusion to ∇-DB's folded terms on the tiny SD stack
// (fp32, the nabla_db_tiny LoRA and flow network): the same loss and LoRA gradients as with the branch.
TEST(LoRAMergedLinear, NablaDBTermsOnTinySDMatchTheBranch) {
  Config c = test::tiny_sd_config();
  c.model.lora_merged_backward = true;
  c.model.flow_conditioning = FlowConditioning::Prompt;
  c.algorithm.fold_passes = FoldPasses::Folded;
  c.algorithm.beta = 100.0;
  StableDiffusion sd = make_stable_diffusion(c);
  LoRAGate& gate = sd.denoiser->lora().gate();
  EXPECT_TRUE(gate.merged_backward);
  sd.denoiser->lora().load(data_path("nabla_db_tiny/lora_peft.safetensors"));
  NablaDB algo(sd.problem, c);
  algo.flow()->load_state(load_safetensors(data_path("nabla_db_tiny/flow/diffusion_pytorch_model.safetensors")));
  const TensorMap traj = load_safetensors(data_path("pipeline_tiny/io.safetensors"));
  TrajectoryBatch mb;
  mb.prompts = {"a photo of a cat"};
  mb.cond = sd.problem.text->encode(mb.prompts);  // [1, 77, 16]
  std::vector<at::Tensor> xs, eps;
  for (int k = 0; k <= 50; ++k) xs.push_back(traj.at("x_" + std::to_string(k)).narrow(0, 0, 1));
  for (int k = 0; k < 50; ++k) eps.push_back(traj.at("eps_" + std::to_string(k)).narrow(0, 0, 1));
  mb.x = torch::stack(xs, 1);         // [1, 51, 4, 8, 8]
  mb.eps_old = torch::stack(eps, 1);  // [1, 50, 4, 8, 8]
  // The loss and its gradient of every LoRA element, [] and [n], with the switch as given.
  auto loss_and_grads = [&](bool merged) {
    gate.merged_backward = merged;
    const NablaDBTerms t = algo.terms(mb, torch::tensor({30}), mb.prompts);
    EXPECT_EQ(count_nodes(t.total, "LoRAMergedLinear") > 0, merged);
    std::vector<at::Tensor> grads = torch::autograd::grad({t.total}, sd.denoiser->trainable_parameters());
    for (auto& g : grads) g = g.flatten();
    return std::make_pair(t.total.detach(), at::cat(grads));
  };
  const auto merged = loss_and_grads(true), branch = loss_and_grads(false);
  EXPECT_GT(branch.second.abs().max().item<double>(), 0.0);
  // Measured up to 2e-6 and 1e-5 (1 or 2 threads): fp32 rounding, amplified where β·∇r(x̂) is pulled back.
  EXPECT_CLOSE(merged.first, branch.first, 5e-5);
  EXPECT_CLOSE(merged.second, branch.second, 5e-5);
}
