#pragma once
// Launchers of the fp32 attention kernels for narrow heads (src/kernels/small_head_attention.cu).
// Torch-free and CUDA-header-free, as nhwc_kernels.h. For head widths 8, 16 and 32 in fp32, where
// PyTorch's sdpa has only its memory-efficient kernel (tiles sized for width 64 and up, no tensor
// cores in fp32): the flow networks' 4096-token self-attention at width 8. One thread per query
// (forward, dQ) or key (dK / dV), keys or queries staged through shared memory in tiles, the softmax
// online (flash-attention's recurrence); arithmetic in fp32 FMAs, exponentials in base 2.
// Each operand is [B, H, N, d] addressed by element strides (b, h, n) with d contiguous; pointers
// 16-byte aligned and strides multiples of 4. A launcher returns false, launching nothing, when the
// sizes are outside what its kernels handle; it never synchronises.
// Legend: B batch, H heads, Nq query tokens, Nk key tokens, d head width.
#include <cstdint>

namespace nablagfn::kernels {

// An operand (T = const float) or output (T = float): row (b, h, n) at data + b·stride_b + h·stride_h + n·stride_n.
template <typename T>
struct AttentionTensor {
  T* data;
  int64_t stride_b, stride_h, stride_n;
};
using AttentionOperand = AttentionTensor<const float>;
using AttentionOutput = AttentionTensor<float>;

// Whether the kernels can address t: rows 16-byte aligned (data and every stride).
template <typename T>
bool attention_layout_ok(const AttentionTensor<T>& t) {
  return t.data != nullptr && reinterpret_cast<uintptr_t>(t.data) % 16 == 0 && t.stride_b % 4 == 0 &&
         t.stride_h % 4 == 0 && t.stride_n % 4 == 0;
}

struct AttentionSizes {
  int64_t B, H, Nq, Nk, d;
};

// Whether the kernels take head width d and these sizes.
bool small_head_attention_supported(const AttentionSizes& s);

// out = softmax(q kᵀ · scale) v, and lse [B·H·Nq] = log2 Σ_j exp2(q·k_j · scale · log2 e) (the row's
// log-sum-exp in base 2, what the backward takes), when lse is not null.
bool small_head_attention_forward(const AttentionOperand& q, const AttentionOperand& k, const AttentionOperand& v,
                                  const AttentionOutput& out, float* lse, const AttentionSizes& s, float scale,
                                  void* stream);

// dq, dk, dv of the forward above from d_out, the forward's lse, and delta [B·H·Nq] = Σ_d d_out · out per row.
bool small_head_attention_backward(const AttentionOperand& q, const AttentionOperand& k, const AttentionOperand& v,
                                   const AttentionOperand& d_out, const float* lse, const float* delta,
                                   const AttentionOutput& dq, const AttentionOutput& dk, const AttentionOutput& dv,
                                   const AttentionSizes& s, float scale, void* stream);

}  // namespace nablagfn::kernels
