// The fused CUDA kernels (src/kernels, through kernels/fused_ops.h) against their ATen references, op by
// op in fp32 / bf16 / fp16, then the UNet modules' fused channels-last paths against their reference
// paths: a tiny SD-1.5-shaped UNet (fp32 and bf16) and SD-1.5-sized ResnetBlock2D / Transformer2DModel
// (bf16). References run in fp32 from the same rounded inputs. Label gpu: needs a CUDA device.
#include <ATen/core/grad_mode.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/compat.h"
#include "kernels/fused_ops.h"
#include "models/attention.h"
#include "models/conv_layout.h"
#include "models/resnet.h"
#include "models/unet2d_condition.h"
#include "test_util.h"
#include "tiny_sd_unet.h"

using namespace nablagfn;

namespace {

const c10::Device kCuda(c10::kCUDA, 0);
const std::vector<at::ScalarType> kDtypes = {at::kFloat, at::kBFloat16, at::kHalf};

// Output rounding of each dtype, relative to max |reference|.
double tolerance(at::ScalarType t) { return t == at::kFloat ? 1e-5 : t == at::kBFloat16 ? 1e-2 : 2e-3; }

at::Tensor to_float(const at::Tensor& t) { return t.defined() ? t.to(at::kFloat) : t; }

at::Tensor randn(std::vector<int64_t> shape, at::ScalarType dtype) {
  return torch::randn(shape, torch::TensorOptions().dtype(dtype).device(kCuda));
}

at::Tensor channels_last(const at::Tensor& t) { return t.contiguous(at::MemoryFormat::ChannelsLast); }

// Runs f with the kernels switched off (the ATen references), then switches them back on.
template <class F>
auto reference(F&& f) {
  fused::set_enabled(false);
  auto out = f();
  fused::set_enabled(true);
  return out;
}

std::string label(at::ScalarType dtype, const std::vector<int64_t>& shape) {
  std::string s = c10::toString(dtype);
  for (int64_t d : shape) s += " " + std::to_string(d);
  return s;
}

}  // namespace

TEST(KernelsGpu, GroupNormMatchesReference) {
  ASSERT_TRUE(fused::kernels_built());
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  // {B, C, H, W, G}: a tiny model's odd sizes (2 channels per group), SD's widths, one sample of 64x64.
  const std::vector<std::vector<int64_t>> cases = {
      {2, 16, 5, 7, 8}, {2, 320, 16, 16, 32}, {3, 960, 8, 8, 32}, {2, 2560, 4, 4, 32}, {1, 320, 64, 64, 32}};
  for (at::ScalarType dtype : kDtypes) {
    for (const auto& c : cases) {
      const int64_t B = c[0], C = c[1], G = c[4];
      const at::Tensor x = channels_last(randn({B, C, c[2], c[3]}, dtype) * 2 + 3);
      const at::Tensor w = randn({C}, dtype), b = randn({C}, dtype);
      for (int64_t shift_rows : {int64_t{0}, int64_t{1}, B}) {
        const at::Tensor shift = shift_rows > 0 ? randn({shift_rows, C}, dtype) : at::Tensor();
        for (bool silu : {false, true}) {
          const at::Tensor got = fused::group_norm(x, G, w, b, 1e-5, shift, silu);
          EXPECT_TRUE(got.is_contiguous(at::MemoryFormat::ChannelsLast)) << "kernel path not taken";
          const at::Tensor expected = reference(
              [&] { return fused::group_norm(to_float(x), G, to_float(w), to_float(b), 1e-5, to_float(shift), silu); });
          EXPECT_CLOSE(got, expected, tolerance(dtype))
              << label(dtype, c) << " shift rows " << shift_rows << " silu " << silu;
        }
      }
    }
  }
}

TEST(KernelsGpu, GroupNormBackwardMatchesReference) {
  torch::manual_seed(8);
  // {B, C, H, W, G}: as above, plus the VAE decoder's 128 channels at a 512x512 image's width.
  const std::vector<std::vector<int64_t>> cases = {
      {2, 16, 5, 7, 8}, {2, 320, 16, 16, 32}, {3, 960, 8, 8, 32}, {1, 128, 96, 96, 32}};
  for (at::ScalarType dtype : kDtypes) {
    for (const auto& c : cases) {
      const int64_t B = c[0], C = c[1], G = c[4];
      const at::Tensor x = channels_last(randn({B, C, c[2], c[3]}, dtype) * 2 + 3);
      const at::Tensor dy = channels_last(randn({B, C, c[2], c[3]}, dtype));
      const at::Tensor w = randn({C}, dtype), b = randn({C}, dtype);
      for (int64_t shift_rows : {int64_t{0}, int64_t{1}, B}) {
        const at::Tensor shift = shift_rows > 0 ? randn({shift_rows, C}, dtype) : at::Tensor();
        for (bool silu : {false, true}) {
          const at::Tensor leaf = x.detach().requires_grad_();
          const at::Tensor y = fused::group_norm(leaf, G, w, b, 1e-5, shift, silu);
          EXPECT_TRUE(y.is_contiguous(at::MemoryFormat::ChannelsLast)) << "kernel path not taken";
          const at::Tensor got = torch::autograd::grad({y}, {leaf}, {dy})[0];
          const at::Tensor leaf_ref = to_float(x).requires_grad_();
          const at::Tensor y_ref = reference(
              [&] { return fused::group_norm(leaf_ref, G, to_float(w), to_float(b), 1e-5, to_float(shift), silu); });
          const at::Tensor expected = torch::autograd::grad({y_ref}, {leaf_ref}, {to_float(dy)})[0];
          EXPECT_CLOSE(got, expected, 2 * tolerance(dtype))
              << label(dtype, c) << " shift rows " << shift_rows << " silu " << silu;
        }
      }
    }
  }
}

TEST(KernelsGpu, GroupNormStatisticsSurviveLargeMean) {
  // mean 50, std 0.01: E[x²] − mean² in fp32 would lose every digit of the variance.
  torch::NoGradGuard no_grad;
  torch::manual_seed(1);
  const at::Tensor x = channels_last(randn({2, 64, 32, 32}, at::kFloat) * 0.01 + 50);
  const at::Tensor got = fused::group_norm(x, 8, {}, {}, 1e-6, {}, false);
  const at::Tensor expected = at::group_norm(x.to(at::kDouble).cpu(), 8, {}, {}, 1e-6);
  // fp32 inputs near 50 carry ±2e-6 (2e-4 of σ); the normalised output inherits that.
  EXPECT_CLOSE(got, expected, 1e-3);
}

TEST(KernelsGpu, AddBiasResidualMatchesReference) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(2);
  for (at::ScalarType dtype : kDtypes) {
    for (const auto& shape : std::vector<std::vector<int64_t>>{{2, 320, 8, 8}, {3, 16, 5, 7}}) {
      const int64_t C = shape[1];
      const at::Tensor a = channels_last(randn(shape, dtype)), b = channels_last(randn(shape, dtype));
      const at::Tensor a_bias = randn({C}, dtype), b_bias = randn({C}, dtype);
      for (int variant = 0; variant < 4; ++variant) {
        const at::Tensor rb = variant >= 1 ? b : at::Tensor();
        const at::Tensor ab = variant != 1 ? a_bias : at::Tensor();
        const at::Tensor bb = variant == 3 ? b_bias : at::Tensor();
        const double divisor = variant == 3 ? 2.0 : 1.0;
        const at::Tensor got = fused::add_bias_residual(a, ab, rb, bb, divisor);
        const at::Tensor expected = reference(
            [&] { return fused::add_bias_residual(to_float(a), to_float(ab), to_float(rb), to_float(bb), divisor); });
        EXPECT_CLOSE(got, expected, tolerance(dtype)) << label(dtype, shape) << " variant " << variant;
      }
    }
  }
}

TEST(KernelsGpu, GEGLUMatchesReference) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(3);
  for (at::ScalarType dtype : kDtypes) {
    for (const auto& shape : std::vector<std::vector<int64_t>>{{2, 77, 2560}, {3, 5, 32}}) {
      const at::Tensor hg = randn(shape, dtype) * 2;
      const at::Tensor got = fused::geglu(hg);
      ASSERT_EQ(got.size(-1), shape.back() / 2);
      const at::Tensor expected = reference([&] { return fused::geglu(to_float(hg)); });
      EXPECT_CLOSE(got, expected, tolerance(dtype)) << label(dtype, shape);
    }
  }
}

TEST(KernelsGpu, AddLayerNormMatchesReference) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(4);
  for (at::ScalarType dtype : kDtypes) {
    for (const auto& shape : std::vector<std::vector<int64_t>>{{2, 64, 320}, {2, 16, 1280}, {3, 7, 16}}) {
      const int64_t C = shape.back();
      const at::Tensor x = randn(shape, dtype) + 1, r = randn(shape, dtype);
      const at::Tensor w = randn({C}, dtype), b = randn({C}, dtype), h_bias = randn({C}, dtype);
      for (int variant = 0; variant < 4; ++variant) {
        const at::Tensor rr = variant % 2 ? r : at::Tensor(), hb = variant / 2 ? h_bias : at::Tensor();
        const auto got = fused::add_layer_norm(x, rr, w, b, 1e-5, hb);
        // The kernel normalises h rounded to the dtype, as the reference does after its add.
        const at::Tensor h = rr.defined() ? x + rr : x;
        const auto expected = reference(
            [&] { return fused::add_layer_norm(to_float(h), {}, to_float(w), to_float(b), 1e-5, to_float(hb)); });
        EXPECT_CLOSE(got.first, expected.first, tolerance(dtype)) << label(dtype, shape) << " variant " << variant;
        EXPECT_CLOSE(got.second, expected.second, tolerance(dtype)) << label(dtype, shape) << " variant " << variant;
      }
    }
  }
}

TEST(KernelsGpu, ConcatAndUpsampleMatchReference) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(8);
  for (at::ScalarType dtype : kDtypes) {
    const at::Tensor a = channels_last(randn({2, 64, 5, 7}, dtype)), b = channels_last(randn({2, 32, 5, 7}, dtype));
    const at::Tensor cat = fused::concat_channels(a, b);
    EXPECT_TRUE(cat.is_contiguous(at::MemoryFormat::ChannelsLast));
    EXPECT_TRUE(at::equal(cat, at::cat({a, b}, 1))) << c10::toString(dtype);
    const at::Tensor up = fused::upsample_nearest2x(a);
    EXPECT_TRUE(up.is_contiguous(at::MemoryFormat::ChannelsLast));
    EXPECT_TRUE(at::equal(up, reference([&] { return fused::upsample_nearest2x(a.contiguous()); })))
        << c10::toString(dtype);
  }
}

TEST(KernelsGpu, UnsupportedSizesAndAutogradTakeTheReference) {
  torch::manual_seed(5);
  {
    // 12 bf16 channels are not whole 16-byte vectors: the reference runs, with the same result.
    torch::NoGradGuard no_grad;
    const at::Tensor x = channels_last(randn({2, 12, 4, 4}, at::kBFloat16));
    const at::Tensor got = fused::group_norm(x, 4, {}, {}, 1e-5, {}, true);
    EXPECT_CLOSE(got, reference([&] { return fused::group_norm(x, 4, {}, {}, 1e-5, {}, true); }), 0.0);
  }
  // A shift that needs a gradient (the kernel's backward has none for it): the reference's graph and gradients.
  const at::Tensor x = channels_last(randn({2, 32, 4, 4}, at::kFloat)).requires_grad_();
  const at::Tensor shift = randn({2, 32}, at::kFloat).requires_grad_();
  const at::Tensor y = fused::group_norm(x, 8, {}, {}, 1e-5, shift, true);
  ASSERT_TRUE(y.requires_grad());
  const auto grads = torch::autograd::grad({y.pow(2).sum()}, {x, shift});
  const at::Tensor y_ref = at::silu(at::group_norm(x + shift.view({2, 32, 1, 1}), 8, {}, {}, 1e-5));
  const auto grads_ref = torch::autograd::grad({y_ref.pow(2).sum()}, {x, shift});
  EXPECT_CLOSE(grads[0], grads_ref[0], 1e-6);
  EXPECT_CLOSE(grads[1], grads_ref[1], 1e-6);
}

namespace {

// Perturbs every 1-D parameter (norm scales and shifts, biases) so none is the identity.
void perturb_vectors(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& p : m.parameters()) {
    if (p.dim() == 1) p.add_(torch::randn_like(p) * 0.1);
  }
}

// A module's output on NCHW inputs (reference path) and on channels-last inputs and weights (fused path).
template <class F>
std::pair<at::Tensor, at::Tensor> reference_and_fused(torch::nn::Module& m, const at::Tensor& x, F&& forward) {
  torch::NoGradGuard no_grad;
  const at::Tensor expected = forward(x.contiguous());
  set_conv_layout(m, true);
  const at::Tensor got = forward(channels_last(x));
  return {expected, got};
}

UNet2DConditionModel tiny_unet(at::ScalarType dtype) {
  torch::manual_seed(0);
  UNet2DConditionModel unet(test::tiny_sd_unet_config());
  perturb_vectors(*unet);
  unet->to(kCuda, dtype);
  unet->eval();
  return unet;
}

}  // namespace

// The fused-vs-reference comparison test_attention skips on libtorch 1.13 (no sdpa there); here sdpa's
// CUDA kernels (memory-efficient in fp32, flash in bf16) against the written-out reference.
TEST(KernelsGpu, FusedAttentionMatchesReference) {
  ASSERT_TRUE(compat::has_fused_attention());
  torch::manual_seed(0);
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    const at::Tensor q = randn({2, 3, 70, 64}, dtype), k = randn({2, 3, 50, 64}, dtype),
                     v = randn({2, 3, 50, 64}, dtype);
    const at::Tensor ref = compat::attention_reference(q.to(at::kFloat), k.to(at::kFloat), v.to(at::kFloat), {}, 0.125);
    // fp32: summation order only; bf16: inputs and output rounded to 8 bits of mantissa.
    EXPECT_CLOSE(compat::attention_fused(q, k, v, {}, 0.125).to(at::kFloat), ref, dtype == at::kFloat ? 1e-4 : 3e-2)
        << c10::toString(dtype);
  }
}

TEST(KernelsGpu, TinyUNetFusedPathMatchesReference) {
  at::globalContext().setAllowTF32CuDNN(false);
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    UNet2DConditionModel unet = tiny_unet(dtype);
    const at::Tensor x = randn({2, 4, 8, 8}, dtype), t = torch::tensor({999, 20}, at::kLong).to(kCuda);
    const at::Tensor context = randn({2, 5, 16}, dtype);
    const auto [expected, got] =
        reference_and_fused(*unet, x, [&](const at::Tensor& in) { return unet(in, t, context); });
    EXPECT_TRUE(got.is_contiguous(at::MemoryFormat::ChannelsLast));
    // fp32: rounding only. bf16: two differently rounded chains through 25 normalised layers.
    EXPECT_CLOSE(got, expected, dtype == at::kFloat ? 1e-4 : 5e-2) << c10::toString(dtype);
  }
}

TEST(KernelsGpu, TinyUNetChannelsLastGradientMatchesReference) {
  at::globalContext().setAllowTF32CuDNN(false);
  UNet2DConditionModel unet = tiny_unet(at::kFloat);
  const at::Tensor t = torch::tensor({500, 20}, at::kLong).to(kCuda);
  const at::Tensor context = randn({2, 5, 16}, at::kFloat);
  const at::Tensor x = randn({2, 4, 8, 8}, at::kFloat).requires_grad_();
  const at::Tensor grad_ref = torch::autograd::grad({unet(x, t, context).pow(2).sum()}, {x})[0];
  set_conv_layout(*unet, true);
  const at::Tensor x_cl = channels_last(x.detach()).requires_grad_();
  const at::Tensor grad = torch::autograd::grad({unet(x_cl, t, context).pow(2).sum()}, {x_cl})[0];
  EXPECT_CLOSE(grad, grad_ref, 1e-4);
}

TEST(KernelsGpu, SDSizedResnetBlockFusedPathMatchesReference) {
  torch::manual_seed(6);
  ResnetBlock2D block(ResnetBlock2DOptions{320, 640, 1280, 32, 1e-5, 1.0});
  perturb_vectors(*block);
  block->to(kCuda, at::kBFloat16);
  const at::Tensor x = randn({2, 320, 32, 32}, at::kBFloat16), temb = randn({2, 1280}, at::kBFloat16);
  const auto [expected, got] = reference_and_fused(*block, x, [&](const at::Tensor& in) { return block(in, temb); });
  EXPECT_TRUE(got.is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_CLOSE(got, expected, 2e-2);  // bf16, rounded once per fused step instead of once per op
}

TEST(KernelsGpu, SDSizedTransformerFusedPathMatchesReference) {
  torch::manual_seed(7);
  Transformer2DOptions o;
  o.in_channels = 640;
  o.heads = 8;
  o.dim_head = 80;
  o.cross_attention_dim = 768;
  Transformer2DModel transformer(o);
  perturb_vectors(*transformer);
  transformer->to(kCuda, at::kBFloat16);
  const at::Tensor x = randn({2, 640, 16, 16}, at::kBFloat16), context = randn({2, 77, 768}, at::kBFloat16);
  const auto [expected, got] =
      reference_and_fused(*transformer, x, [&](const at::Tensor& in) { return transformer(in, context); });
  EXPECT_TRUE(got.is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_CLOSE(got, expected, 2e-2);  // bf16, rounded once per fused step instead of once per op
}
