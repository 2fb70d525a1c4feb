// Attention kernels: the fused path (sdpa on libtorch >= 2.0, the reference on 1.13) agrees with the
// written-out reference, alone and inside a UNet; the backend switch reaches every Attention.
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

}  // namespace

TEST(Attention, FusedKernelAgreesWithReference) {
  torch::manual_seed(0);
  torch::Tensor q = torch::randn({2, 3, 7, 8}), k = torch::randn({2, 3, 5, 8}), v = torch::randn({2, 3, 5, 8});
  torch::Tensor ref = compat::attention_reference(q, k, v, {}, 0.35);
  EXPECT_CLOSE(compat::attention_fused(q, k, v, {}, 0.35), ref, 1e-5);
  // Against softmax written independently.
  torch::Tensor probs = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) * 0.35, -1);
  EXPECT_CLOSE(ref, torch::matmul(probs, v), 1e-6);
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
  EXPECT_CLOSE(fused, ref, 1e-5);
}

TEST(Attention, UpcastReferenceInBFloat16IsCloseToFloat32) {
  torch::manual_seed(0);
  AttentionOptions o;
  o.query_dim = 16;
  o.heads = 2;
  o.dim_head = 8;
  o.upcast_attention = true;
  Attention attn(o);
  attn->set_backend(AttentionBackend::Reference);
  torch::Tensor x = torch::randn({2, 9, 16});
  torch::Tensor ref = attn(x);
  attn->to(torch::kBFloat16);
  torch::Tensor low = attn(x.to(torch::kBFloat16));
  EXPECT_EQ(low.scalar_type(), torch::kBFloat16);
  EXPECT_CLOSE(low.to(torch::kFloat), ref, 3e-2);
}
