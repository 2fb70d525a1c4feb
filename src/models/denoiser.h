#pragma once
// The denoiser interface the schedulers, the rollout and every algorithm talk to. A Stable Diffusion UNet
// with LoRA and the toy's exact-mixture ε with an MLP residual both implement it.
//
// Contract of eps(): x [B, ...] in the model's latent dtype, t [B] int64 DDPM timesteps in [0, 999],
// context [B, L, D] (text hidden states) or undefined for unconditional models. Returns ε [B, ...] with
// x's shape. With Adapter::On it is the finetuned policy ε_θ, with Adapter::Off the pretrained ε_#
// (the same base weights with the trainable part switched off, spec §10). The result carries an autograd
// graph to x (when x requires grad) and, with Adapter::On, to the trainable parameters.
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "io/tensor_io.h"

namespace nablagfn {

enum class Adapter { On, Off };

class Denoiser {
 public:
  virtual ~Denoiser() = default;

  virtual at::Tensor eps(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context, Adapter adapter) = 0;

  // Per-sample adapter switch: adapter_on [B] bool. Rows with false get ε_#. The default runs the batch
  // twice and selects; models that can mask the adapter inside one pass override it.
  virtual at::Tensor eps_mixed(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context,
                               const at::Tensor& adapter_on);

  // The trainable part (LoRA matrices, residual MLP), fp32 leaves.
  virtual std::vector<at::Tensor> trainable_parameters() = 0;
  // Named trainable tensors as written to checkpoints (peft / diffusers key names for LoRA).
  virtual std::vector<std::pair<std::string, at::Tensor>> trainable_state() = 0;
  // Loads tensors written by trainable_state(); Error listing every missing / unexpected / mismatched key.
  virtual void load_trainable_state(const TensorMap& state) = 0;
};

}  // namespace nablagfn
