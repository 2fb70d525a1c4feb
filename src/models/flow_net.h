#pragma once
// The learned residual flow-score network g_φ of residual ∇-DB (spec §3.5): a vector field with the
// shape of the state, g_φ(x, τ, c) ≈ ∇_x log F̃(x) − β·γ(x)·∇_x r(x̂(x)). The SD variant is a small
// UNet2DConditionModel, the toy one an MLP. Runs in float32.
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "io/tensor_io.h"

namespace nablagfn {

class FlowNet {
 public:
  virtual ~FlowNet() = default;
  // x [B, ...] float32, t [B] int64 noise level of x, context [B, L, D] or undefined -> [B, ...] float32.
  virtual at::Tensor forward(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context) = 0;
  virtual std::vector<at::Tensor> parameters() = 0;
  virtual std::vector<std::pair<std::string, at::Tensor>> named_state() = 0;
  virtual void load_state(const TensorMap& state) = 0;
};

}  // namespace nablagfn
