// Narrow-head fp32 attention on the hand-written kernels, sdpa elsewhere: see fused_attention.h.
#include "kernels/fused_attention.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <atomic>
#include <cstdint>

#include "core/compat.h"
#include "kernels/fused_ops.h"
#include "kernels/kernel_build.h"

#if NABLAGFN_WITH_CUDA_KERNELS
#include "kernels/attention_kernels.h"
#endif

namespace nablagfn::fused {

namespace {

std::atomic<bool> g_small_head{true};

#if NABLAGFN_WITH_CUDA_KERNELS
kernels::AttentionSizes sizes_of(const at::Tensor& q, const at::Tensor& k) {
  return {q.size(0), q.size(1), q.size(2), k.size(2), q.size(3)};
}

// t [B, h, N, d] as the kernels address it: operand (T = const float) or output (T = float).
template <typename T = const float>
kernels::AttentionTensor<T> view(const at::Tensor& t) {
  return {t.data_ptr<float>(), t.stride(0), t.stride(1), t.stride(2)};
}

// The kernels' layout: the head width contiguous, rows 16-byte aligned (kernels/attention_kernels.h).
bool kernel_layout(const at::Tensor& t) { return t.stride(3) == 1 && kernels::attention_layout_ok(view(t)); }

// A fresh tensor shaped as t with t's strides when they are dense (a transposed view stays one).
at::Tensor empty_as(const at::Tensor& t) { return at::empty_like(t, t.options(), at::MemoryFormat::Preserve); }

// out [B, h, Nq, d] and, when lse is not null, the rows' base-2 log-sum-exp [B, h, Nq].
at::Tensor forward_kernel(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                          at::Tensor* lse) {
  c10::cuda::CUDAGuard guard(q.device());
  at::Tensor out = empty_as(q);
  if (lse != nullptr) *lse = at::empty({q.size(0), q.size(1), q.size(2)}, q.options());
  TORCH_CHECK(kernels::small_head_attention_forward(view(q), view(k), view(v), view<float>(out),
                                                    lse != nullptr ? lse->data_ptr<float>() : nullptr, sizes_of(q, k),
                                                    static_cast<float>(scale), current_stream(q)),
              "fused::attention: the kernel refused operands it accepted before");
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

class SmallHeadAttention : public torch::autograd::Function<SmallHeadAttention> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, double scale) {
    at::Tensor lse;
    at::Tensor out = forward_kernel(q, k, v, scale, &lse);
    ctx->save_for_backward({q, k, v, out, lse});
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    // The kernels' gradients carry no graph: a backward with create_graph would drop the second order.
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "fused::attention's narrow-head kernels have no double backward; set model.attention=reference "
                "for create_graph");
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &out = saved[3], &lse = saved[4];
    const double scale = ctx->saved_data["scale"].toDouble();
    at::Tensor d_out = grad_out[0].to(at::kFloat);
    if (!kernel_layout(d_out)) d_out = d_out.contiguous();
    const at::Tensor delta = (d_out * out).sum(-1).contiguous();  // [B, h, Nq]
    c10::cuda::CUDAGuard guard(q.device());
    at::Tensor dq = empty_as(q), dk = empty_as(k), dv = empty_as(v);
    TORCH_CHECK(kernels::small_head_attention_backward(view(q), view(k), view(v), view(d_out), lse.data_ptr<float>(),
                                                       delta.data_ptr<float>(), view<float>(dq), view<float>(dk),
                                                       view<float>(dv), sizes_of(q, k), static_cast<float>(scale),
                                                       current_stream(q)),
                "fused::attention: the backward kernels refused the forward's operands");
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return {dq, dk, dv, {}};
  }
};
#endif

}  // namespace

void set_small_head_attention(bool enabled) { g_small_head = enabled; }

bool small_head_attention_takes(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
#if NABLAGFN_WITH_CUDA_KERNELS
  if (!g_small_head || !enabled() || q.dim() != 4 || k.dim() != 4 || v.dim() != 4) return false;
  for (const at::Tensor* t : {&q, &k, &v}) {
    if (!t->is_cuda() || t->scalar_type() != at::kFloat || t->device() != q.device() || !kernel_layout(*t))
      return false;
  }
  const int64_t B = q.size(0), h = q.size(1), d = q.size(3);
  for (const at::Tensor* t : {&k, &v}) {
    if (t->size(0) != B || t->size(1) != h || t->size(2) != k.size(2) || t->size(3) != d) return false;
  }
  return kernels::small_head_attention_supported(sizes_of(q, k));
#else
  (void)q, (void)k, (void)v;
  return false;
#endif
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) {
#if NABLAGFN_WITH_CUDA_KERNELS
  if (small_head_attention_takes(q, k, v)) {
    const bool grad = at::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad());
    if (grad) return SmallHeadAttention::apply(q, k, v, scale);
    return forward_kernel(q, k, v, scale, nullptr);
  }
#endif
  return compat::attention_fused(q, k, v, {}, scale);
}

}  // namespace nablagfn::fused
