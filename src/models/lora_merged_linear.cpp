// The merged-weight LoRA projection and its backward: see lora_merged_linear.h.
#include "models/lora_merged_linear.h"

#include <torch/torch.h>

namespace nablagfn {

namespace lora_merged_detail {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct LoRAMergedLinearFunction : torch::autograd::Function<LoRAMergedLinearFunction> {
  // The indices needs_input_grad takes: the tensor arguments in order. The bias comes last, as an optional
  // (libtorch 1.13 rejects an undefined Tensor argument, and an absent optional is not counted).
  enum Input { kX = 0, kLoRAA, kLoRAB };

  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& lora_A,
                            const at::Tensor& lora_B, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                            double scale) {
    TORCH_CHECK(!weight.requires_grad() && !(bias.has_value() && bias->requires_grad()),
                "lora_merged_linear: the base weight and bias must be frozen (requires_grad off)");
    TORCH_CHECK(x.scalar_type() == weight.scalar_type(), "lora_merged_linear: x is ", x.scalar_type(),
                " but the base weight is ", weight.scalar_type());
    TORCH_CHECK(weight.dim() == 2 && lora_A.dim() == 2 && lora_B.dim() == 2 && lora_A.size(1) == weight.size(1) &&
                    lora_B.size(0) == weight.size(0) && lora_B.size(1) == lora_A.size(0),
                "lora_merged_linear: need weight [out, in], lora_A [r, in], lora_B [out, r], got ", weight.sizes(),
                ", ", lora_A.sizes(), ", ", lora_B.sizes());
    // W' = W + s·B A in the wider dtype, rounded once to W's: [out, r] x [r, in] -> [out, in]
    const at::ScalarType wide = at::promote_types(weight.scalar_type(), lora_A.scalar_type());
    const at::Tensor merged =
        at::addmm(weight.to(wide), lora_B.to(wide), lora_A.to(wide), /*beta=*/1.0, /*alpha=*/scale)
            .to(weight.scalar_type());
    ctx->save_for_backward({x, merged, lora_A, lora_B});
    ctx->saved_data["scale"] = scale;
    return at::linear(x, merged, bias);  // [..., in] -> [..., out]
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // Under create_graph the result would miss every path through W' (a constant here).
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "lora_merged_linear has no double backward; set model.lora_merged_backward=false for create_graph");
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& merged = saved[1];
    const at::Tensor& lora_A = saved[2];
    const at::Tensor& lora_B = saved[3];
    const double scale = ctx->saved_data["scale"].toDouble();
    const at::Tensor g = grads[0].reshape({-1, merged.size(0)});  // [..., out] -> [N, out]
    const at::Tensor x_rows = x.reshape({-1, x.size(-1)});        // [..., in] -> [N, in]
    at::Tensor grad_x, grad_A, grad_B;
    if (ctx->needs_input_grad(kX)) grad_x = at::mm(g, merged).view(x.sizes());  // [N, in] -> [..., in]
    if (ctx->needs_input_grad(kLoRAB)) {
      const at::Tensor u = at::mm(x_rows, lora_A.to(x.scalar_type()).t());  // [N, in] x [in, r] -> [N, r]
      grad_B = at::mm(g.t(), u).to(lora_B.scalar_type()).mul_(scale);       // [out, N] x [N, r] -> [out, r]
    }
    if (ctx->needs_input_grad(kLoRAA)) {
      const at::Tensor gb = at::mm(g, lora_B.to(g.scalar_type()));           // [N, out] x [out, r] -> [N, r]
      grad_A = at::mm(gb.t(), x_rows).to(lora_A.scalar_type()).mul_(scale);  // [r, N] x [N, in] -> [r, in]
    }
    // One entry per forward argument: x, lora_A, lora_B, weight, bias, scale.
    return {grad_x, grad_A, grad_B, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace lora_merged_detail

at::Tensor lora_merged_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                              const at::Tensor& lora_A, const at::Tensor& lora_B, double scale) {
  const c10::optional<at::Tensor> bias_arg = bias.defined() ? c10::optional<at::Tensor>(bias) : c10::nullopt;
  return lora_merged_detail::LoRAMergedLinearFunction::apply(x, lora_A, lora_B, weight, bias_arg, scale);
}

}  // namespace nablagfn
