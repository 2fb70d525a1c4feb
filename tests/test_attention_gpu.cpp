// The narrow-head fp32 attention kernels (kernels/fused_attention.h) against the written-out reference
// in float64: outputs and the gradients of q, k and v, for head widths 8 / 16 / 32, self- and
// cross-attention, sizes that are not whole tiles, large scores (the online softmax's max), q / k / v as
// the transposed views Attention makes and as dense tensors; then an Attention module of the flow
// network's shape under autograd. Label gpu: needs a CUDA device.
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/compat.h"
#include "kernels/fused_attention.h"
#include "kernels/fused_ops.h"
#include "models/attention.h"
#include "test_util.h"

using namespace nablagfn;

namespace {

const c10::Device kCuda(c10::kCUDA, 0);

// [B, h, N, d]: a transposed view of [B, N, h·d] memory (what Attention passes) or a dense tensor.
at::Tensor heads(int64_t B, int64_t h, int64_t N, int64_t d, bool transposed, double magnitude) {
  const auto o = torch::TensorOptions().dtype(at::kFloat).device(kCuda);
  if (transposed) return (torch::randn({B, N, h * d}, o) * magnitude).view({B, N, h, d}).transpose(1, 2);
  return torch::randn({B, h, N, d}, o) * magnitude;
}

at::Tensor reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) {
  return compat::attention_reference(q.to(at::kDouble), k.to(at::kDouble), v.to(at::kDouble), {}, scale);
}

struct Case {
  int64_t B, h, Nq, Nk, d;
  double magnitude;  // of q and k: 4 gives scores of ~±50 at width 8
};

std::string label(const Case& c, bool transposed) {
  return "B " + std::to_string(c.B) + " h " + std::to_string(c.h) + " Nq " + std::to_string(c.Nq) + " Nk " +
         std::to_string(c.Nk) + " d " + std::to_string(c.d) + " |q| " + std::to_string(c.magnitude) +
         (transposed ? " transposed" : " dense");
}

const std::vector<Case> kCases = {
    {2, 3, 300, 300, 8, 1.0},  {2, 8, 200, 77, 8, 1.0},    {1, 2, 5, 1, 8, 1.0},      {2, 3, 129, 33, 16, 1.0},
    {2, 4, 300, 300, 32, 1.0}, {1, 8, 1024, 1024, 8, 4.0}, {2, 2, 257, 300, 16, 4.0},
};

}  // namespace

TEST(SmallHeadAttentionGpu, ForwardAndGradientsMatchReference) {
  ASSERT_TRUE(fused::kernels_built());
  torch::manual_seed(0);
  for (const Case& c : kCases) {
    for (bool transposed : {true, false}) {
      const at::Tensor q = heads(c.B, c.h, c.Nq, c.d, transposed, c.magnitude).requires_grad_();
      const at::Tensor k = heads(c.B, c.h, c.Nk, c.d, transposed, c.magnitude).requires_grad_();
      const at::Tensor v = heads(c.B, c.h, c.Nk, c.d, transposed, 1.0).requires_grad_();
      const double scale = 1.0 / std::sqrt(static_cast<double>(c.d));
      ASSERT_TRUE(fused::small_head_attention_takes(q, k, v)) << label(c, transposed);
      const at::Tensor out = fused::attention(q, k, v, scale);
      EXPECT_EQ(out.strides(), q.strides()) << label(c, transposed);

      const at::Tensor qd = q.detach().to(at::kDouble).requires_grad_();
      const at::Tensor kd = k.detach().to(at::kDouble).requires_grad_();
      const at::Tensor vd = v.detach().to(at::kDouble).requires_grad_();
      const at::Tensor expected = compat::attention_reference(qd, kd, vd, {}, scale);
      EXPECT_CLOSE(out, expected, 1e-5) << label(c, transposed);

      const at::Tensor d_out = torch::randn_like(expected);
      const auto got = torch::autograd::grad({out}, {q, k, v}, {d_out.to(at::kFloat)});
      const auto want = torch::autograd::grad({expected}, {qd, kd, vd}, {d_out});
      EXPECT_CLOSE(got[0], want[0], 2e-5) << "dq " << label(c, transposed);
      EXPECT_CLOSE(got[1], want[1], 2e-5) << "dk " << label(c, transposed);
      EXPECT_CLOSE(got[2], want[2], 2e-5) << "dv " << label(c, transposed);
    }
  }
}

TEST(SmallHeadAttentionGpu, NoGradForwardMatchesReference) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(1);
  const Case c{2, 8, 4096, 4096, 8, 1.0};  // the flow net's 64 x 64 level
  const at::Tensor q = heads(c.B, c.h, c.Nq, c.d, true, 1.0), k = heads(c.B, c.h, c.Nk, c.d, true, 1.0),
                   v = heads(c.B, c.h, c.Nk, c.d, true, 1.0);
  const double scale = 1.0 / std::sqrt(8.0);
  EXPECT_CLOSE(fused::attention(q, k, v, scale), reference(q, k, v, scale), 1e-5);
}

TEST(SmallHeadAttentionGpu, OtherOperandsTakeSdpa) {
  const at::Tensor q = heads(1, 2, 16, 64, false, 1.0);
  EXPECT_FALSE(fused::small_head_attention_takes(q, q, q)) << "head width 64";
  const at::Tensor b = heads(1, 2, 16, 8, false, 1.0).to(at::kBFloat16);
  EXPECT_FALSE(fused::small_head_attention_takes(b, b, b)) << "bf16";
  const at::Tensor c = heads(1, 2, 16, 8, false, 1.0).cpu();
  EXPECT_FALSE(fused::small_head_attention_takes(c, c, c)) << "CPU";
  const at::Tensor odd = torch::randn({1, 2, 16, 9}, torch::TensorOptions().device(kCuda)).narrow(3, 1, 8);
  EXPECT_FALSE(fused::small_head_attention_takes(odd, odd, odd)) << "misaligned rows";
  fused::set_small_head_attention(false);
  const at::Tensor x = heads(1, 2, 16, 8, false, 1.0);
  EXPECT_FALSE(fused::small_head_attention_takes(x, x, x)) << "switched off";
  fused::set_small_head_attention(true);
  EXPECT_TRUE(fused::small_head_attention_takes(x, x, x));
}

// Attention of the flow UNet's top level (64 channels, 8 heads of width 8) on a 32 x 32 map: the kernel
// path (Fused) against the written-out one (Reference), output and every parameter's gradient.
TEST(SmallHeadAttentionGpu, FlowNetAttentionModuleMatchesReference) {
  torch::manual_seed(2);
  Attention attn(AttentionOptions{64, 0, 8, 8, false});
  attn->to(kCuda);
  const at::Tensor x = torch::randn({2, 1024, 64}, torch::TensorOptions().device(kCuda));
  auto run = [&](AttentionBackend backend) {
    attn->set_backend(backend);
    attn->zero_grad();
    const at::Tensor y = attn(x);
    (y * y).sum().backward();
    std::vector<at::Tensor> grads;
    for (const auto& p : attn->parameters()) grads.push_back(p.grad().clone());
    return std::make_pair(y.detach(), grads);
  };
  at::globalContext().setAllowTF32CuBLAS(false);
  const auto [y_fused, g_fused] = run(AttentionBackend::Fused);
  const auto [y_ref, g_ref] = run(AttentionBackend::Reference);
  EXPECT_CLOSE(y_fused, y_ref, 1e-5);
  ASSERT_EQ(g_fused.size(), g_ref.size());
  for (size_t i = 0; i < g_fused.size(); ++i) EXPECT_CLOSE(g_fused[i], g_ref[i], 1e-4) << "parameter " << i;
}
