#pragma once
// Everything that differs between Debian's libtorch 1.13 (CPU) and PyTorch 2.11's libtorch (CUDA)
// lives here, and nowhere else.
//  - fused attention: at::scaled_dot_product_attention exists from 2.0; 1.13 has only a private variant.
//  - autocast: 2.4 replaced the per-device setters with set_autocast_enabled(device_type, ...).
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#if TORCH_VERSION_MAJOR >= 2
#define NABLAGFN_HAS_SDPA 1
#else
#define NABLAGFN_HAS_SDPA 0
#endif

namespace nablagfn::compat {

// softmax(q kᵀ · scale + mask) v, written out. The reference path every fused path is tested against.
// q [B, H, Lq, D], k/v [B, H, Lk, D], mask broadcastable to [B, H, Lq, Lk] (additive) or undefined.
inline at::Tensor attention_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                      const at::Tensor& mask, double scale) {
  at::Tensor scores = at::matmul(q, k.transpose(-2, -1)) * scale;  // [B, H, Lq, Lk]
  if (mask.defined()) scores = scores + mask;
  // Softmax in fp32 for low-precision inputs, as diffusers' upcast_softmax does; float64 stays float64.
  const at::ScalarType softmax_dtype = q.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor probs = at::softmax(scores.to(softmax_dtype), -1).to(q.scalar_type());
  return at::matmul(probs, v);  // [B, H, Lq, D]
}

// Fused attention where libtorch has it (flash / memory-efficient kernels on CUDA); the reference otherwise.
inline at::Tensor attention_fused(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  const at::Tensor& mask, double scale) {
#if NABLAGFN_HAS_SDPA
  c10::optional<at::Tensor> m;
  if (mask.defined()) m = mask.to(q.scalar_type());
  return at::scaled_dot_product_attention(q, k, v, m, 0.0, false, scale);
#else
  return attention_reference(q, k, v, mask, scale);
#endif
}

inline bool has_fused_attention() { return NABLAGFN_HAS_SDPA != 0; }

// Turns bf16/fp16 autocast on or off for one device type. C++ autocast has no RAII guard of its
// own: use AutocastGuard.
inline void set_autocast(at::DeviceType device, bool enabled, at::ScalarType dtype) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_enabled(device, enabled);
  at::autocast::set_autocast_dtype(device, dtype);
#else
  if (device == at::kCUDA) {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
#endif
  if (!enabled) at::autocast::clear_cache();
}

class AutocastGuard {
 public:
  AutocastGuard(at::DeviceType device, at::ScalarType dtype) : device_(device) {
    set_autocast(device_, true, dtype);
  }
  ~AutocastGuard() { set_autocast(device_, false, at::kBFloat16); }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  at::DeviceType device_;
};

}  // namespace nablagfn::compat
