// Parity of AutoencoderKL with diffusers on the tiny fixture vae_tiny (2 levels, widths 16/32): decode,
// encode mean, the decoder's input gradient; the VAEDecoder contract; strict loading and config checks.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/tensor_io.h"
#include "models/vae.h"
#include "models/vae_decoder.h"
#include "test_util.h"

namespace nablagfn {
namespace {

const TensorMap& vae_io() {
  static const TensorMap io = load_safetensors(test::data_path("vae_tiny/io.safetensors"));
  return io;
}

AutoencoderKL tiny_vae(bool fused_attention) {
  VAEConfig config = load_vae_config(test::data_path("vae_tiny/vae/config.json"));
  config.fused_attention = fused_attention;
  AutoencoderKL vae(config);
  vae->load(load_safetensors(test::data_path("vae_tiny/vae/diffusion_pytorch_model.safetensors")), "vae_tiny");
  return vae;
}

TEST(VAEParity, DecodeEncodeAndGradient) {
  AutoencoderKL vae = load_autoencoder_kl(test::data_path("vae_tiny/vae"));
  at::Tensor latent = vae_io().at("latent").clone().requires_grad_(true);
  at::Tensor decoded = vae->decode(latent);
  (decoded * vae_io().at("grad_weight")).sum().backward();
  at::Tensor mean;
  {
    torch::NoGradGuard no_grad;
    mean = vae->encode(vae_io().at("image")).mean;
  }
  const double e_dec = test::rel_err(decoded, vae_io().at("decoded"));
  const double e_enc = test::rel_err(mean, vae_io().at("encoded_mean"));
  const double e_grad = test::rel_err(latent.grad(), vae_io().at("grad_latent"));
  std::printf("vae_tiny: decode %.2e encode mean %.2e grad latent %.2e\n", e_dec, e_enc, e_grad);
  EXPECT_ERR_LE(e_dec, 1e-5);
  EXPECT_ERR_LE(e_enc, 1e-5);
  EXPECT_ERR_LE(e_grad, 2e-5);
}

// The fused attention path (sdpa on libtorch >= 2) against the same fixture.
TEST(VAEParity, FusedAttentionPath) {
  AutoencoderKL vae = tiny_vae(/*fused_attention=*/true);
  torch::NoGradGuard no_grad;
  EXPECT_CLOSE(vae->decode(vae_io().at("latent")), vae_io().at("decoded"), 1e-5);
  EXPECT_CLOSE(vae->encode(vae_io().at("image")).mean, vae_io().at("encoded_mean"), 1e-5);
}

// set_vae_attention_fused switches every mid-block attention; the reference path still matches the fixture.
TEST(VAEParity, AttentionKernelSwitch) {
  AutoencoderKL vae = tiny_vae(/*fused_attention=*/true);
  auto attentions = [&](bool fused) {
    int64_t n = 0;
    for (const auto& m : vae->modules()) {
      auto a = std::dynamic_pointer_cast<VAEAttentionImpl>(m);
      if (a && a->fused() == fused) ++n;
    }
    return n;
  };
  const int64_t n = attentions(true);
  EXPECT_EQ(n, 2);  // the encoder's and the decoder's mid block
  set_vae_attention_fused(*vae, false);
  EXPECT_EQ(attentions(false), n);
  torch::NoGradGuard no_grad;
  EXPECT_CLOSE(vae->decode(vae_io().at("latent")), vae_io().at("decoded"), 1e-5);
}

// decode(z) = clamp(vae.decode(z / scaling) / 2 + 0.5, 0, 1), float32, differentiable in z.
TEST(VAEDecoder, DecodesScaledLatentsToUnitRange) {
  VAEDecoder decoder(tiny_vae(false), torch::kCPU, torch::kFloat);
  const double scaling = decoder.vae()->config().scaling_factor;
  EXPECT_DOUBLE_EQ(scaling, 0.18215);
  at::Tensor z = (vae_io().at("latent") * scaling).requires_grad_(true);
  at::Tensor images = decoder.decode(z);
  EXPECT_EQ(images.scalar_type(), torch::kFloat);
  EXPECT_CLOSE(images, (vae_io().at("decoded") / 2 + 0.5).clamp(0, 1), 1e-5);
  EXPECT_GE(images.min().item<double>(), 0.0);
  EXPECT_LE(images.max().item<double>(), 1.0);
  images.sum().backward();
  ASSERT_TRUE(z.grad().defined());
  EXPECT_GT(z.grad().abs().sum().item<double>(), 0.0);
  for (const auto& p : decoder.vae()->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(VAEDecoder, StrictLoadListsEveryProblem) {
  TensorMap weights = load_safetensors(test::data_path("vae_tiny/vae/diffusion_pytorch_model.safetensors"));
  weights.erase("decoder.mid_block.attentions.0.to_q.bias");
  weights["decoder.up_blocks.0.resnets.1.conv1.weight"] = torch::zeros({32, 32, 1, 1});
  weights["encoder.down_blocks.2.resnets.0.conv1.weight"] = torch::zeros({1});
  AutoencoderKL vae(load_vae_config(test::data_path("vae_tiny/vae/config.json")));
  try {
    vae->load(weights, "broken");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const char* key : {"decoder.mid_block.attentions.0.to_q.bias", "decoder.up_blocks.0.resnets.1.conv1.weight",
                            "encoder.down_blocks.2.resnets.0.conv1.weight"})
      EXPECT_NE(msg.find(key), std::string::npos) << key << " not in: " << msg;
  }
}

TEST(VAEDecoder, ConfigParsingAndRejection) {
  VAEConfig sd15 = load_vae_config(test::data_path("sd15_configs/vae/config.json"));
  EXPECT_EQ(sd15.block_out_channels, (std::vector<int64_t>{128, 256, 512, 512}));
  EXPECT_EQ(sd15.layers_per_block, 2);
  EXPECT_EQ(sd15.norm_num_groups, 32);
  EXPECT_EQ(sd15.latent_channels, 4);
  EXPECT_DOUBLE_EQ(sd15.scaling_factor, 0.18215);
  EXPECT_DOUBLE_EQ(sd15.shift_factor, 0.0);

  const nlohmann::json base = nlohmann::json::parse(read_file(test::data_path("vae_tiny/vae/config.json")));
  nlohmann::json bad = base;
  bad["up_block_types"][0] = "AttnUpDecoderBlock2D";
  EXPECT_THROW(vae_config_from_json(bad, "bad"), Error);
  bad = base;
  bad["act_fn"] = "gelu";
  EXPECT_THROW(vae_config_from_json(bad, "bad"), Error);
  bad = base;
  bad.erase("block_out_channels");
  EXPECT_THROW(vae_config_from_json(bad, "bad"), Error);
  EXPECT_THROW(load_autoencoder_kl(test::data_path("no_such_vae")), Error);
}

}  // namespace
}  // namespace nablagfn
