#pragma once
// A LoRA projection for training passes: the update merged into the weight, with a hand-written backward.
// peft's `Linear.forward` (peft/tuners/lora/layer.py, v0.21) computes y = W x + b + s·B(A(x)) as the frozen
// GEMM plus a branch (models/lora.h); this computes y = W' x + b with W' = W + s·B·A formed in the wider of
// W's and A's dtypes and rounded once to W's dtype, as peft's `merge` / `get_delta_weight` do.
// What changed against peft:
//  - W' is rebuilt on every call (one [out, r] x [r, in] GEMM), so optimizer updates are always seen.
//  - backward by hand: dx = g W', dB = s·gᵀ(x Aᵀ), dA = s·(g B)ᵀ x, every product in x's dtype, the two
//    LoRA gradients cast to their leaves' dtype; W and the bias are frozen and get none.
//  - first order only: W' is a constant of the graph; a backward with create_graph is an error.
// Precision: with a bf16 base it agrees with peft's fp32 branch to one bf16 rounding of W' and of the
// rank-r products (x Aᵀ, g B, gᵀ(x Aᵀ), (g B)ᵀ x), not bit for bit; with an fp32 / fp64 base, to that
// dtype's rounding.
// Legend: N rows (every leading dim flattened), in/out the projection's widths, r rank, s = alpha/r.
#include <ATen/core/Tensor.h>

namespace nablagfn {

// x [..., in] in weight's dtype, weight [out, in] and bias [out] (or undefined) frozen, lora_A [r, in] and
// lora_B [out, r] leaves (any float dtype), scale = alpha/r -> y [..., out] in x's dtype, with a graph to
// x, lora_A and lora_B.
at::Tensor lora_merged_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                              const at::Tensor& lora_A, const at::Tensor& lora_B, double scale);

}  // namespace nablagfn
