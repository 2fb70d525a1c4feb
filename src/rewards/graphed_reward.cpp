// Rewards replayed from CUDA graphs: see graphed_reward.h.
#include "rewards/graphed_reward.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

#if NABLAGFN_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include "models/cuda_graph_capture.h"
#endif

namespace nablagfn {

#if NABLAGFN_WITH_CUDA
namespace {

// The replayed rewards [B] with ∇_images r as their backward: grad_images = grad_r[b] · ∇r_b.
class ReplayedReward : public torch::autograd::Function<ReplayedReward> {
 public:
  // gradient: the replay's ∇_images Σ_b r_b [B, ...] (a copy: the next replay overwrites the graph's).
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& images, const at::Tensor& reward,
                            const at::Tensor& gradient) {
    ctx->saved_data["gradient"] = gradient;
    return reward.clone();
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    // The replayed gradient is a constant: a backward with create_graph would drop the second order.
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "a reward replayed from a CUDA graph has no double backward; set reward.cuda_graph=false for "
                "create_graph");
    const at::Tensor gradient = ctx->saved_data["gradient"].toTensor();
    std::vector<int64_t> shape(gradient.dim(), 1);
    shape[0] = gradient.size(0);
    return {gradient * grad_out[0].to(gradient.scalar_type()).view(shape), {}, {}};
  }
};

class GraphedReward : public Reward {
 public:
  explicit GraphedReward(std::shared_ptr<Reward> inner)
      : inner_(std::move(inner)), pool_(at::cuda::graph_pool_handle()) {}

  std::string name() const override { return inner_->name(); }
  bool differentiable() const override { return true; }
  bool uses_prompt() const override { return false; }

  at::Tensor score(const at::Tensor& images, const std::vector<std::string>& prompts) override {
    if (!images.is_cuda() || !at::GradMode::is_enabled() || !images.requires_grad()) {
      return inner_->score(images, prompts);
    }
    Capture& c = capture_for(images);
    {
      at::NoGradGuard no_grad;
      c.input.copy_(images);
    }
    c.graph.replay();
    return ReplayedReward::apply(images, c.reward, c.gradient.clone());
  }

 private:
  struct Capture {
    at::cuda::CUDAGraph graph;
    at::Tensor input;             // [B, ...] the graph's leaf; each call copies its images here
    at::Tensor reward, gradient;  // [B], [B, ...] written by each replay
  };

  // Captured by capture_cuda_graph (models/cuda_graph_capture.h) on zero images (the values do not matter:
  // each replay reads its own); every capture of this reward shares one memory pool (replays never overlap).
  Capture& capture_for(const at::Tensor& images) {
    const std::string key = c10::str(images.sizes(), images.scalar_type(), images.device());
    auto it = captures_.find(key);
    if (it != captures_.end()) return *it->second;
    auto c = std::make_unique<Capture>();
    c->input = at::zeros(images.sizes(), images.options()).requires_grad_(true);
    const std::vector<std::string> prompts(static_cast<size_t>(images.size(0)));
    c10::cuda::CUDAGuard device(images.device());
    constexpr int kWarmups = 2;
    bool recording = false;  // an error of an eager warm-up is the reward's own, not the capture's
    try {
      capture_cuda_graph(
          c->graph, pool_, kWarmups, [&](int i) { recording = i == kWarmups; },
          [&] {
            at::Tensor r = inner_->score(c->input, prompts);  // [B]
            c->gradient = torch::autograd::grad({r.sum()}, {c->input})[0];
            c->reward = r.detach();
          });
    } catch (const std::exception& e) {
      if (!recording) throw;
      const std::string what = e.what();
      throw Error("the reward '" + inner_->name() +
                      "' could not be captured as a CUDA graph: " + what.substr(0, what.find('\n')),
                  "set reward.cuda_graph=false");
    }
    return *captures_.emplace(key, std::move(c)).first->second;
  }

  std::shared_ptr<Reward> inner_;
  at::cuda::MempoolId_t pool_;
  std::map<std::string, std::unique_ptr<Capture>> captures_;
};

}  // namespace
#endif

std::shared_ptr<Reward> graphed_reward(std::shared_ptr<Reward> inner) {
#if NABLAGFN_WITH_CUDA
  if (inner->differentiable() && !inner->uses_prompt() && inner->capturable()) {
    return std::make_shared<GraphedReward>(std::move(inner));
  }
#endif
  return inner;
}

}  // namespace nablagfn
