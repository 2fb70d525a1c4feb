#pragma once
// model.attention: Reference is plain softmax(QKᵀ)V written out; Fused is at::scaled_dot_product_attention
// where libtorch has it (core/compat.h falls back to the reference on 1.13), or for fp32 heads of width
// 8 / 16 / 32 on CUDA the kernels of kernels/fused_attention.h. "auto" names Fused.
#include "config/enum_names.h"

namespace nablagfn {

enum class AttentionBackend { Reference, Fused };
NABLAGFN_ENUM_NAMES(AttentionBackend, {AttentionBackend::Fused, "auto"}, {AttentionBackend::Reference, "reference"},
                    {AttentionBackend::Fused, "fused"});

}  // namespace nablagfn
