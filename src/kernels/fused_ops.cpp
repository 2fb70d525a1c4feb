// Fused memory-bound steps with ATen references: see fused_ops.h. The kernel paths compile only where
// CMake found nvcc (NABLAGFN_WITH_CUDA_KERNELS); elsewhere every function is its reference.
#include "kernels/fused_ops.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "kernels/kernel_build.h"

#if NABLAGFN_WITH_CUDA_KERNELS
#include "kernels/nhwc_kernels.h"
#endif

namespace nablagfn::fused {

namespace {

std::atomic<bool> g_enabled{true};

bool supported_dtype(at::ScalarType s) { return s == at::kFloat || s == at::kBFloat16 || s == at::kHalf; }

#if NABLAGFN_WITH_CUDA_KERNELS
kernels::DType kernel_dtype(at::ScalarType s) {
  return s == at::kFloat      ? kernels::DType::Float32
         : s == at::kBFloat16 ? kernels::DType::BFloat16
                              : kernels::DType::Float16;
}

// The conditions every kernel shares (fused_ops.h): on, CUDA tensors of one supported dtype on one
// device, no graph to record. Undefined (optional) tensors are skipped.
// first_may_need_grad: the kernel has a backward for the first tensor (the others stay constants).
bool kernel_inputs(std::initializer_list<const at::Tensor*> tensors, bool first_may_need_grad = false) {
  const at::Tensor& first = **tensors.begin();
  if (!g_enabled || !first.defined() || !first.is_cuda() || !supported_dtype(first.scalar_type())) return false;
  const bool recording = at::GradMode::is_enabled();
  for (const at::Tensor* t : tensors) {
    if (!t->defined()) continue;
    if (t->device() != first.device() || t->scalar_type() != first.scalar_type()) return false;
    if (recording && t->requires_grad() && !(first_may_need_grad && t == &first)) return false;
  }
  return true;
}

// A per-channel vector: undefined, or C contiguous elements.
bool channel_vector(const at::Tensor& t, int64_t C) { return !t.defined() || (t.numel() == C && t.is_contiguous()); }

const void* ptr(const at::Tensor& t) { return t.defined() ? t.data_ptr() : nullptr; }

#endif

}  // namespace

void set_enabled(bool enabled) { g_enabled = enabled; }
bool enabled() { return g_enabled; }
bool kernels_built() { return NABLAGFN_WITH_CUDA_KERNELS != 0; }

bool nhwc_path(const at::Tensor& x) {
  return kernels_built() && g_enabled && x.defined() && x.is_cuda() && x.dim() == 4 &&
         x.is_contiguous(at::MemoryFormat::ChannelsLast) && supported_dtype(x.scalar_type());
}

#if NABLAGFN_WITH_CUDA_KERNELS
namespace {

// Whether the GroupNorm kernels (forward and backward) take these operands: sizes, layout of the vectors,
// 16-byte alignment. x [B, C, H, W] channels-last; shift contiguous or undefined.
bool group_norm_kernel_takes(const at::Tensor& x, int64_t groups, const at::Tensor& weight, const at::Tensor& bias,
                             const at::Tensor& shift) {
  const int64_t B = x.size(0), C = x.size(1), P = x.size(2) * x.size(3);
  const bool shift_ok = !shift.defined() || (shift.dim() == 2 && (shift.size(0) == 1 || shift.size(0) == B) &&
                                             shift.size(1) == C && shift.is_contiguous());
  for (const at::Tensor* t : {&x, &weight, &bias, &shift}) {
    if (t->defined() && reinterpret_cast<uintptr_t>(t->data_ptr()) % 16 != 0) return false;
  }
  return shift_ok && channel_vector(weight, C) && channel_vector(bias, C) &&
         kernels::group_norm_workspace_floats(B, P, C, groups, kernel_dtype(x.scalar_type())) > 0;
}

// The GroupNorm kernel on operands group_norm_kernel_takes accepts; false (nothing written) if the launcher
// refuses them. stats (if not null): the per-(sample, group) (mean, rstd) [B·G·2] the backward takes.
bool group_norm_kernel(const at::Tensor& x, int64_t groups, const at::Tensor& weight, const at::Tensor& bias,
                       double eps, const at::Tensor& shift, bool silu, at::Tensor& y, at::Tensor* stats) {
  const int64_t B = x.size(0), C = x.size(1), P = x.size(2) * x.size(3);
  const int64_t workspace_floats = kernels::group_norm_workspace_floats(B, P, C, groups, kernel_dtype(x.scalar_type()));
  c10::cuda::CUDAGuard guard(x.device());
  const int64_t shift_stride = shift.defined() && shift.size(0) > 1 ? C : 0;
  y = at::empty_like(x, x.options(), at::MemoryFormat::ChannelsLast);
  at::Tensor workspace = at::empty({workspace_floats}, x.options().dtype(at::kFloat));
  if (!kernels::group_norm_nhwc(x.data_ptr(), ptr(shift), shift_stride, ptr(weight), ptr(bias), y.data_ptr(),
                                workspace.data_ptr<float>(), B, P, C, groups, static_cast<float>(eps), silu,
                                kernel_dtype(x.scalar_type()), current_stream(x))) {
    return false;
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  if (stats != nullptr) *stats = workspace.narrow(0, workspace_floats - B * groups * 2, B * groups * 2).clone();
  return true;
}

// GroupNorm's constant operands, any of them undefined. Handed to apply() outside its tensor arguments:
// autograd records every tensor argument as an input, and LibTorch 2.x refuses undefined ones there.
struct GroupNormConstants {
  at::Tensor weight, bias, shift;
};

// The kernel under autograd: the gradient of x (weight, bias and shift are constants: kernel_inputs
// checked that they need none).
class GroupNormNHWC : public torch::autograd::Function<GroupNormNHWC> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, int64_t groups,
                            const GroupNormConstants& k, double eps, bool silu) {
    const at::Tensor &weight = k.weight, &bias = k.bias, &shift = k.shift;
    at::Tensor y, stats;
    TORCH_CHECK(group_norm_kernel(x, groups, weight, bias, eps, shift, silu, y, &stats),
                "fused::group_norm: the kernel refused sizes it accepted before");
    ctx->save_for_backward({x, weight, bias, shift, stats});
    ctx->saved_data["groups"] = groups;
    ctx->saved_data["silu"] = silu;
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &weight = saved[1], &bias = saved[2], &shift = saved[3], &stats = saved[4];
    const int64_t groups = ctx->saved_data["groups"].toInt();
    const bool silu = ctx->saved_data["silu"].toBool();
    const at::Tensor dy = grad_out[0].to(x.scalar_type()).contiguous(at::MemoryFormat::ChannelsLast);
    const int64_t B = x.size(0), C = x.size(1), P = x.size(2) * x.size(3);
    c10::cuda::CUDAGuard guard(x.device());
    at::Tensor dx = at::empty_like(x, x.options(), at::MemoryFormat::ChannelsLast);
    at::Tensor workspace =
        at::empty({kernels::group_norm_workspace_floats(B, P, C, groups, kernel_dtype(x.scalar_type()))},
                  x.options().dtype(at::kFloat));
    const int64_t shift_stride = shift.defined() && shift.size(0) > 1 ? C : 0;
    TORCH_CHECK(kernels::group_norm_nhwc_backward(x.data_ptr(), ptr(shift), shift_stride, ptr(weight), ptr(bias),
                                                  stats.data_ptr<float>(), dy.data_ptr(), dx.data_ptr(),
                                                  workspace.data_ptr<float>(), B, P, C, groups, silu,
                                                  kernel_dtype(x.scalar_type()), current_stream(x)),
                "fused::group_norm: the backward kernel refused the forward's sizes");
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return {dx, {}, {}, {}, {}};
  }
};

}  // namespace
#endif

at::Tensor group_norm(const at::Tensor& x, int64_t groups, const at::Tensor& weight, const at::Tensor& bias, double eps,
                      const at::Tensor& shift, bool silu) {
#if NABLAGFN_WITH_CUDA_KERNELS
  if (x.dim() == 4 && x.is_contiguous(at::MemoryFormat::ChannelsLast) &&
      kernel_inputs({&x, &weight, &bias, &shift}, /*first_may_need_grad=*/true)) {
    const at::Tensor s = shift.defined() ? shift.contiguous() : shift;
    if (group_norm_kernel_takes(x, groups, weight, bias, s)) {
      if (at::GradMode::is_enabled() && x.requires_grad())
        return GroupNormNHWC::apply(x, groups, GroupNormConstants{weight, bias, s}, eps, silu);
      at::Tensor y;
      if (group_norm_kernel(x, groups, weight, bias, eps, s, silu, y, nullptr)) return y;
    }
  }
#endif
  const at::Tensor in = shift.defined() ? x + shift.view({shift.size(0), shift.size(1), 1, 1}) : x;
  at::Tensor y = at::group_norm(in, groups, weight, bias, eps);
  return silu ? at::silu(y) : y;
}

at::Tensor add_bias_residual(const at::Tensor& a, const at::Tensor& a_bias, const at::Tensor& b,
                             const at::Tensor& b_bias, double divisor) {
#if NABLAGFN_WITH_CUDA_KERNELS
  const bool layout = a.dim() == 4 && a.is_contiguous(at::MemoryFormat::ChannelsLast) &&
                      (!b.defined() || (b.sizes() == a.sizes() && b.is_contiguous(at::MemoryFormat::ChannelsLast)));
  if (layout && kernel_inputs({&a, &a_bias, &b, &b_bias})) {
    const int64_t C = a.size(1);
    if (C > 0 && channel_vector(a_bias, C) && channel_vector(b_bias, C)) {
      c10::cuda::CUDAGuard guard(a.device());
      at::Tensor out = at::empty_like(a, a.options(), at::MemoryFormat::ChannelsLast);
      if (kernels::add_bias_residual(a.data_ptr(), ptr(a_bias), ptr(b), ptr(b_bias), out.data_ptr(), a.numel() / C, C,
                                     static_cast<float>(divisor), kernel_dtype(a.scalar_type()), current_stream(a))) {
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        return out;
      }
    }
  }
#endif
  auto with_bias = [](const at::Tensor& t, const at::Tensor& bias) {
    return bias.defined() ? t + bias.view({1, -1, 1, 1}) : t;
  };
  const at::Tensor out = b.defined() ? with_bias(b, b_bias) + with_bias(a, a_bias) : with_bias(a, a_bias);
  return divisor == 1.0 ? out : out / divisor;
}

at::Tensor geglu(const at::Tensor& hg) {
  TORCH_CHECK(hg.dim() >= 1 && hg.size(-1) % 2 == 0, "geglu: the last dim must be even, got ", hg.sizes());
#if NABLAGFN_WITH_CUDA_KERNELS
  if (hg.is_contiguous() && hg.numel() > 0 && kernel_inputs({&hg})) {
    const int64_t D = hg.size(-1) / 2;
    std::vector<int64_t> sizes = hg.sizes().vec();
    sizes.back() = D;
    c10::cuda::CUDAGuard guard(hg.device());
    at::Tensor out = at::empty(sizes, hg.options());  // [..., D]
    if (kernels::geglu(hg.data_ptr(), out.data_ptr(), hg.numel() / (2 * D), D, kernel_dtype(hg.scalar_type()),
                       current_stream(hg))) {
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      return out;
    }
  }
#endif
  const std::vector<at::Tensor> parts = hg.chunk(2, -1);  // [..., 2D] -> 2 x [..., D]
  return parts[0] * at::gelu(parts[1]);
}

std::pair<at::Tensor, at::Tensor> add_layer_norm(const at::Tensor& x, const at::Tensor& r, const at::Tensor& weight,
                                                 const at::Tensor& bias, double eps, const at::Tensor& h_bias) {
#if NABLAGFN_WITH_CUDA_KERNELS
  const bool layout =
      x.dim() >= 1 && x.is_contiguous() && (!r.defined() || (r.sizes() == x.sizes() && r.is_contiguous()));
  if (layout && x.numel() > 0 && kernel_inputs({&x, &r, &weight, &bias, &h_bias})) {
    const int64_t C = x.size(-1);
    if (channel_vector(weight, C) && channel_vector(bias, C) && channel_vector(h_bias, C)) {
      c10::cuda::CUDAGuard guard(x.device());
      const bool write_h = r.defined() || h_bias.defined();
      at::Tensor h = write_h ? at::empty_like(x, x.options(), at::MemoryFormat::Contiguous) : x;
      at::Tensor y = at::empty_like(x, x.options(), at::MemoryFormat::Contiguous);
      if (kernels::add_layer_norm(x.data_ptr(), ptr(r), ptr(weight), ptr(bias), ptr(h_bias),
                                  write_h ? h.data_ptr() : nullptr, y.data_ptr(), x.numel() / C, C,
                                  static_cast<float>(eps), kernel_dtype(x.scalar_type()), current_stream(x))) {
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        return {h, y};
      }
    }
  }
#endif
  const at::Tensor h = r.defined() ? x + r : x;
  at::Tensor y = at::layer_norm(h, {h.size(-1)}, weight, bias, eps);
  return {h_bias.defined() ? h + h_bias : h, y};
}

at::Tensor concat_channels(const at::Tensor& a, const at::Tensor& b) {
#if NABLAGFN_WITH_CUDA_KERNELS
  const bool layout = a.dim() == 4 && b.dim() == 4 && a.size(0) == b.size(0) && a.size(2) == b.size(2) &&
                      a.size(3) == b.size(3) && a.is_contiguous(at::MemoryFormat::ChannelsLast) &&
                      b.is_contiguous(at::MemoryFormat::ChannelsLast);
  if (layout && kernel_inputs({&a, &b})) {
    c10::cuda::CUDAGuard guard(a.device());
    const int64_t Ca = a.size(1), Cb = b.size(1);
    at::Tensor out = at::empty({a.size(0), Ca + Cb, a.size(2), a.size(3)},
                               a.options().memory_format(at::MemoryFormat::ChannelsLast));
    const int64_t M = a.size(0) * a.size(2) * a.size(3);
    if (kernels::concat_channels(a.data_ptr(), b.data_ptr(), out.data_ptr(), M, Ca, Cb, kernel_dtype(a.scalar_type()),
                                 current_stream(a))) {
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      return out;
    }
  }
#endif
  return at::cat({a, b}, 1);
}

at::Tensor upsample_nearest2x(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 4, "upsample_nearest2x: x must be [B, C, H, W], got ", x.sizes());
  const std::vector<int64_t> size = {2 * x.size(2), 2 * x.size(3)};
#if NABLAGFN_WITH_CUDA_KERNELS
  if (x.is_contiguous(at::MemoryFormat::ChannelsLast) && kernel_inputs({&x})) {
    c10::cuda::CUDAGuard guard(x.device());
    at::Tensor y =
        at::empty({x.size(0), x.size(1), size[0], size[1]}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
    if (kernels::upsample_nearest2x(x.data_ptr(), y.data_ptr(), x.size(0), x.size(2), x.size(3), x.size(1),
                                    kernel_dtype(x.scalar_type()), current_stream(x))) {
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      return y;
    }
  }
#endif
  return at::upsample_nearest2d(x, size, c10::nullopt, c10::nullopt);
}

}  // namespace nablagfn::fused
