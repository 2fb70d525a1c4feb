// Attention kernels: the reference equals softmax written out (float64 kept float64); the fused path
// (sdpa on libtorch >= 2.0; on 1.13 it is the reference, bit for bit) agrees with it, alone and inside a
// UNet; the backend switch reaches every Attention.
#include <torch/torch.h>

#include "core/compat.h"
#include "core/error.h"
#include "models/attention.h"
#include "models/unet2d_condition.h"
#include "test_util.h"

using namespace nablagfn;
using test::data_path;

namespace {

int count_backend(torch::nn::Module& root, AttentionBackend backend, int* total) {
  int n = 0;
  *total = 0;
  for (const auto& m : root.modules()) {
    if (auto attn = std::dynamic_pointer_cast<AttentionImpl>(m)) {
      ++*total;
      n += attn->backend() == backend;
    }
  }
  return n;
}

// Where libtorch has scaled_dot_product_attention (>= 2.0) the fused path agrees with the reference to
// rounding. libtorch 1.13 has none: there attention_fused is documented to BE the reference (core/compat.h),
// so the two must be bit-identical. The CUDA kernels are compared in test_kernels_gpu (gpu).
void expect_fused_matches_reference(const torch::Tensor& fused, const torch::Tensor& reference) {
  if (compat::has_fused_attention()) {
    EXPECT_CLOSE(fused, reference, 1e-5);
  } else {
    EXPECT_TRUE(fused.equal(reference));
  }
}

}  // namespace

TEST(Attention, ReferenceEqualsSoftmaxWrittenOut) {
  torch::manual_seed(0);
  torch::Tensor q = torch::randn({2, 3, 7, 8}), k = torch::randn({2, 3, 5, 8}), v = torch::randn({2, 3, 5, 8});
  torch::Tensor probs = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) * 0.35, -1);
  EXPECT_CLOSE(compat::attention_reference(q, k, v, {}, 0.35), torch::matmul(probs, v), 1e-6);
  // float64 stays float64 through the softmax (gradchecks rely on it).
  torch::Tensor qd = q.to(torch::kDouble), kd = k.to(torch::kDouble), vd = v.to(torch::kDouble);
  torch::Tensor probs_d = torch::softmax(torch::matmul(qd, kd.transpose(-2, -1)) * 0.35, -1);
  torch::Tensor ref_d = compat::attention_reference(qd, kd, vd, {}, 0.35);
  EXPECT_EQ(ref_d.scalar_type(), torch::kDouble);
  EXPECT_CLOSE(ref_d, torch::matmul(probs_d, vd), 1e-14);
}

TEST(Attention, FusedKernelAgreesWithReference) {
  torch::manual_seed(0);
  torch::Tensor q = torch::randn({2, 3, 7, 8}), k = torch::randn({2, 3, 5, 8}), v = torch::randn({2, 3, 5, 8});
  expect_fused_matches_reference(compat::attention_fused(q, k, v, {}, 0.35),
                                 compat::attention_reference(q, k, v, {}, 0.35));
}

TEST(Attention, BackendNamesAndSwitchReachEveryModule) {
  EXPECT_EQ(parse_enum<AttentionBackend>("reference", "model.attention"), AttentionBackend::Reference);
  EXPECT_EQ(parse_enum<AttentionBackend>("auto", "model.attention"), AttentionBackend::Fused);
  EXPECT_EQ(parse_enum<AttentionBackend>("fused", "model.attention"), AttentionBackend::Fused);
  EXPECT_EQ(to_string(AttentionBackend::Reference), "reference");
  EXPECT_THROW(parse_enum<AttentionBackend>("flash", "model.attention"), Error);

  UNet2DConditionModel unet(load_unet_config(data_path("unet_sd15_tiny/unet/config.json")));
  int total = 0;
  EXPECT_EQ(count_backend(*unet, AttentionBackend::Fused, &total), total);
  EXPECT_EQ(total, 2 * 16);  // 16 transformers (3·2 down, 1 mid, 3·3 up), attn1 + attn2 each
  set_attention_backend(*unet, AttentionBackend::Reference);
  EXPECT_EQ(count_backend(*unet, AttentionBackend::Reference, &total), total);
}

TEST(Attention, UNetForwardReferenceEqualsFused) {
  UNet2DConditionModel unet = load_unet(data_path("unet_sd2_tiny"));
  torch::manual_seed(0);
  torch::Tensor x = torch::randn({2, 4, 8, 8}), c = torch::randn({2, 7, 24});
  torch::Tensor t = torch::tensor({3, 700}, torch::kLong);
  set_attention_backend(*unet, AttentionBackend::Fused);
  torch::Tensor fused = unet(x, t, c);
  set_attention_backend(*unet, AttentionBackend::Reference);
  torch::Tensor ref = unet(x, t, c);
  expect_fused_matches_reference(fused, ref);
}

namespace {
// A 2-head self-attention of width 16 on the reference backend, weights from seed 0.
Attention small_attention(bool upcast) {
  torch::manual_seed(0);
  AttentionOptions o;
  o.query_dim = 16;
  o.heads = 2;
  o.dim_head = 8;
  o.upcast_attention = upcast;
  Attention attn(o);
  attn->set_backend(AttentionBackend::Reference);
  return attn;
}
}  // namespace

TEST(Attention, UpcastReferenceInBFloat16IsCloseToFloat32) {
  Attention attn = small_attention(true);
  torch::Tensor x = torch::randn({2, 9, 16});
  torch::Tensor ref = attn(x);
  attn->to(torch::kBFloat16);
  torch::Tensor low = attn(x.to(torch::kBFloat16));
  EXPECT_EQ(low.scalar_type(), torch::kBFloat16);
  EXPECT_CLOSE(low.to(torch::kFloat), ref, 3e-2);
}

TEST(Attention, UpcastLeavesFloat64Alone) {
  // The same weights with and without upcasting: identical in float64 (an fp32 detour would differ by ~1e-7).
  Attention attn = small_attention(true), plain = small_attention(false);
  attn->to(torch::kDouble);
  plain->to(torch::kDouble);
  torch::Tensor x = torch::randn({2, 9, 16}, torch::kDouble);
  torch::Tensor out = attn(x);
  EXPECT_EQ(out.scalar_type(), torch::kDouble);
  EXPECT_CLOSE(out, plain(x), 1e-15);
}
