#pragma once
// Preparing a Stable Diffusion denoiser for fast no-grad sampling on CUDA. Plain LibTorch, no CUDA
// headers: it compiles (and runs, more slowly) on the CPU build too.
//  - MergedLoRA: the adapter folded into copies of the frozen projection weights, W' = W + (alpha/r)·B·A,
//    as peft's `LoraLayer.merge` / `get_delta_weight` do (peft/tuners/lora/layer.py, v0.21). One GEMM per
//    projection instead of the base GEMM plus the fp32 branch (cast, two thin GEMMs, add, cast back).
//    What changed: the merged weights are separate tensors swapped in for one scope (the adapter's own
//    matrices and the frozen weights stay untouched, so training keeps its own path: the exact branch, or
//    lora_merged_linear with LoRAGate::merged_backward), and refresh() re-merges in place, so a CUDA graph
//    captured with the merged weights stays valid across optimizer updates.
// The merged result is rounded once to the base dtype (bf16): it agrees with the branch path to bf16
// rounding, not bit for bit.

#include <string>
#include <vector>

#include "models/sd_denoiser.h"

namespace nablagfn {

class MergedLoRA {
 public:
  // One merged copy (base dtype and device) of every projection the denoiser's adapter targets,
  // filled by refresh().
  explicit MergedLoRA(SDDenoiser& denoiser);

  // merged = W + (alpha/r)·B·A from the adapter's current matrices (no grad, in place).
  void refresh();

  // While a Scope lives, the targeted projections compute with the merged weights. Call the denoiser
  // with Adapter::Off inside it (the branch is already in the weights; Adapter::On would add it twice).
  class Scope {
   public:
    explicit Scope(MergedLoRA& merged);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    MergedLoRA& merged_;
  };

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string name;       // "<module path>.<target>", as the adapter names its branches
    at::Tensor weight;      // the projection's frozen weight [out, in] (the parameter itself)
    at::Tensor frozen;      // its storage while a Scope lives
    at::Tensor merged;      // [out, in], base dtype
    at::Tensor lora_A;      // [r, in] fp32
    at::Tensor lora_B;      // [out, r] fp32
  };
  double scale_;
  std::vector<Entry> entries_;
};

}  // namespace nablagfn
