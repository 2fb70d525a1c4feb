#pragma once
// Attention on the hand-written fp32 kernels for narrow heads (kernels/attention_kernels.h), with a
// backward, where they apply; sdpa (core/compat.h attention_fused) everywhere else.
// The kernels run when: the build has them (NABLAGFN_WITH_CUDA_KERNELS), fused::enabled() and
// set_small_head_attention(true) (the default); q, k, v are fp32 CUDA tensors on one device with the
// head width contiguous, 16-byte aligned, head width 8, 16 or 32. That is the flow networks' attention
// (model.flow_block_out_channels with 8 heads: widths 8 / 16 / 32), which sdpa runs in fp32 on its
// memory-efficient kernel, tiled for widths of 64 and up. Under autograd q, k and v all get gradients,
// first order only (a backward with create_graph is an error).
// Legend: B batch, h heads, Nq / Nk query / key tokens, d head width.
#include <ATen/core/Tensor.h>

namespace nablagfn::fused {

// Process-wide switch for the kernels here, on by default (benchmarks compare with sdpa).
void set_small_head_attention(bool enabled);

// Whether attention(q, k, v, scale) runs the narrow-head kernels for these operands.
bool small_head_attention_takes(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// q [B, h, Nq, d], k / v [B, h, Nk, d] -> [B, h, Nq, d]. reference: softmax(q kᵀ · scale) v. The
// kernels' output has q's strides (a transposed view of [B, Nq, h, d] memory stays one).
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale);

}  // namespace nablagfn::fused
