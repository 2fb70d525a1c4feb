#pragma once
// LoRA on the attention projections of a diffusion UNet, with the switches the algorithms need.
// Follows peft's `LoraLayer` / `Linear` (peft/tuners/lora/layer.py, v0.21): y = W x + (alpha/r)·B(A(x)),
// A [r, in] ~ init, B [out, r] = 0; checkpoints in peft names (`<module>.lora_A.weight`) or in the
// diffusers layout `StableDiffusionPipeline.save_lora_weights` writes after
// `convert_state_dict_to_diffusers` (diffusers loaders/lora_pipeline.py, utils/state_dict_utils.py, v0.40):
// `unet.<module>.lora.down.weight` / `.lora.up.weight`.
// What changed:
//  - one shared gate per adapter switches the update off for a whole call (the pretrained ε_#, spec §10)
//    or per sample through a [B] mask, so a policy row and a reference row share one UNet pass.
//  - the branch computes in fp32 (its parameters stay fp32 when the base is bf16, as peft casts x to
//    A's dtype); the sum is cast back to the base output's dtype.
//  - no dropout, no DoRA / rsLoRA, no fan_in_fan_out; a branch is not a submodule of the model, so the
//    model's own state dict stays the pretrained one.
//  - optionally (LoRAGate::merged_backward) a grad-mode pass with every row on runs the projection as one
//    GEMM with the merged weight and a hand-written backward (models/lora_merged_linear.h).
// Legend: B batch, r rank, in/out the projection's widths.
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/tensor_io.h"
#include "models/lora_init.h"

namespace nablagfn {

struct LoRAConfig {
  int64_t rank = 4;
  double alpha = 4.0;  // the update is scaled by alpha / rank
  // Gaussian: A ~ N(0, 1/r²) (peft init_lora_weights="gaussian"); Kaiming: peft's default
  // kaiming_uniform(a=√5). B = 0 in both, so a fresh adapter leaves the model unchanged.
  LoRAInit init = LoRAInit::Gaussian;
  std::vector<std::string> target_modules = {"to_q", "to_k", "to_v", "to_out.0"};
};

// The switch every branch of one adapter reads at forward time.
struct LoRAGate {
  bool enabled = true;
  at::Tensor sample_mask;  // [B] bool: rows with false get no update; undefined = every row
  // Grad-mode passes with no sample_mask run one GEMM with W' = W + (alpha/r)·B·A rounded to the base
  // dtype, and their own backward (models/lora_merged_linear.h: equal to the branch up to one rounding of
  // W' and of the rank-r products), instead of the fp32 branch. No-grad passes and masked passes keep the
  // branch. Set once per adapter (model.lora_merged_backward); LoRAGateGuard leaves it as it is.
  bool merged_backward = false;
};

class LoRALinearImpl : public torch::nn::Module {
 public:
  LoRALinearImpl(int64_t in_features, int64_t out_features, const LoRAConfig& config,
                 std::shared_ptr<const LoRAGate> gate);
  // x [B, ..., in] the input of the frozen projection (weight [out, in], bias [out] or undefined)
  // -> x Wᵀ + bias + gated (alpha/r)·B(A(x)) [B, ..., out] in x's dtype (no update when the gate is off).
  torch::Tensor project(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

  torch::nn::Linear lora_A{nullptr}, lora_B{nullptr};

 private:
  // x [B, ..., in], y [B, ..., out] the frozen output -> y + the gated fp32 branch, in y's dtype.
  torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& y);

  double scale_;
  std::shared_ptr<const LoRAGate> gate_;
};
TORCH_MODULE(LoRALinear);

enum class LoRAFormat { Peft, Diffusers, Kohya };  // models/lora_export.h describes each

class LoRAAdapter {
 public:
  // Attaches a branch to every target projection of every Attention inside model (fp32, on the
  // projection's device). Error when the model has no Attention or a target is unknown.
  LoRAAdapter(torch::nn::Module& model, const LoRAConfig& config);

  const LoRAConfig& config() const { return config_; }
  LoRAGate& gate() { return *gate_; }

  // fp32 leaves, requires_grad, in a fixed order (module path, then A before B).
  std::vector<at::Tensor> parameters() const;
  // peft names: "<module path>.lora_A.weight" / ".lora_B.weight", same order as parameters().
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;
  // Copies peft-named tensors in; Error listing every missing / unexpected / mismatched key.
  void load_state(const TensorMap& state, const std::string& source);

  // Writes the adapter into dir in format's layout (models/lora_export.h: write_lora).
  void save(const std::string& dir, LoRAFormat format) const;
  // A directory written by save() (peft or diffusers layout) or one .safetensors file in any key layout
  // (peft names, optionally "base_model.model."- or "unet."-prefixed; diffusers names; kohya names). A
  // rank or alpha recorded in the files must equal this adapter's (Error with a hint otherwise).
  void load(const std::string& path);

 private:
  LoRAConfig config_;
  std::shared_ptr<LoRAGate> gate_;
  std::vector<std::pair<std::string, LoRALinear>> branches_;  // "<module path>", e.g. "...attn1.to_q"
};

// Sets an adapter's gate for one scope (one forward) and restores the previous setting.
class LoRAGateGuard {
 public:
  LoRAGateGuard(LoRAGate& gate, bool enabled, const at::Tensor& sample_mask = {});
  ~LoRAGateGuard();
  LoRAGateGuard(const LoRAGateGuard&) = delete;
  LoRAGateGuard& operator=(const LoRAGateGuard&) = delete;

 private:
  LoRAGate& gate_;
  LoRAGate saved_;
};

}  // namespace nablagfn
