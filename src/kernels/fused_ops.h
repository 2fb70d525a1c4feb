#pragma once
// Fused memory-bound steps of the SD UNet and VAE decoder for fast sampling (GroupNorm: training too).
// Each function computes exactly what its ATen reference (the "reference:" line) computes; it runs the
// hand-written CUDA kernel of kernels/nhwc_kernels.h instead when all of these hold:
//  - the build has the kernels (CMake found nvcc: NABLAGFN_WITH_CUDA_KERNELS) and set_enabled(true);
//  - every tensor is on CUDA in one dtype of fp32 / bf16 / fp16, dense in the layout named per function;
//  - autograd is not recording, or nothing requires grad (the kernels have no backward), except for
//    group_norm, whose kernel has a backward for x (weight, bias and shift must not need gradients);
//  - the kernel handles the sizes (channels a multiple of 16 bytes, ...).
// Otherwise the reference runs, so results are right on every device and under autograd; tests compare
// the two (tests/test_kernels_gpu.cpp). The kernels round once where the reference rounds after each op.
// Legend: B batch, C channels, H/W spatial size, N tokens, D GEGLU output width.
#include <ATen/core/Tensor.h>

#include <utility>

namespace nablagfn::fused {

// Process-wide switch, on by default (benchmarks and tests turn it off to time or check the reference).
void set_enabled(bool enabled);
bool enabled();
// Whether this build has the CUDA kernels.
bool kernels_built();

// Whether a module should take its fused channels-last path for input x: enabled(), kernels_built(),
// x a 4-D channels-last CUDA tensor of a supported dtype. Under autograd each fused op runs its kernel
// where it has a backward and its reference otherwise, so the path is right in training too.
bool nhwc_path(const at::Tensor& x);

// x [B, C, H, W] channels-last; shift [B, C], [1, C] or undefined; weight / bias [C] or undefined.
// reference: act(group_norm(x + shift[:, :, None, None], groups, weight, bias, eps)), act = SiLU if silu.
at::Tensor group_norm(const at::Tensor& x, int64_t groups, const at::Tensor& weight, const at::Tensor& bias, double eps,
                      const at::Tensor& shift, bool silu);

// a, b [B, C, H, W] channels-last (b may be undefined); a_bias, b_bias [C] or undefined.
// reference: ((b + b_bias[:, None, None]) + (a + a_bias[:, None, None])) / divisor.
at::Tensor add_bias_residual(const at::Tensor& a, const at::Tensor& a_bias, const at::Tensor& b,
                             const at::Tensor& b_bias, double divisor = 1.0);

// hg [..., 2D] contiguous -> [..., D].  reference: h, gate = hg.chunk(2, -1); h * gelu(gate) (erf GELU).
at::Tensor geglu(const at::Tensor& hg);

// x, r [..., C] contiguous (r may be undefined); weight, bias, h_bias [C] or undefined. h_bias is a bias
// the caller owes to h (BasicTransformerBlock adds the FeedForward's output bias here, then accumulates
// that GEMM into the returned h in place); the first tensor is fresh unless r and h_bias are undefined.
// reference: h = x + r (h = x without r); returns (h + h_bias, layer_norm(h, [C], weight, bias, eps)).
std::pair<at::Tensor, at::Tensor> add_layer_norm(const at::Tensor& x, const at::Tensor& r, const at::Tensor& weight,
                                                 const at::Tensor& bias, double eps, const at::Tensor& h_bias = {});

// a [B, Ca, H, W], b [B, Cb, H, W] channels-last -> [B, Ca + Cb, H, W].  reference: cat({a, b}, 1).
at::Tensor concat_channels(const at::Tensor& a, const at::Tensor& b);

// x [B, C, H, W] channels-last -> [B, C, 2H, 2W].  reference: upsample_nearest2d(x, {2H, 2W}).
at::Tensor upsample_nearest2x(const at::Tensor& x);

}  // namespace nablagfn::fused
