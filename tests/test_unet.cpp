// UNet2DConditionModel parity against diffusers (tiny SD-1.5 / SD-2 fixtures: output and input
// gradient), strict loading, config parsing, and the flow network g_φ built from the same class.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/tensor_io.h"
#include "models/attention.h"
#include "models/embeddings.h"
#include "models/state_dict.h"
#include "models/unet2d_condition.h"
#include "models/unet_flow_net.h"
#include "test_util.h"

using namespace nablagfn;
using test::data_path;
using test::temp_dir;

namespace {

void check_unet_parity(const std::string& fixture) {
  UNet2DConditionModel unet = load_unet(data_path(fixture));
  set_attention_backend(*unet, AttentionBackend::Reference);
  TensorMap io = load_safetensors(data_path(fixture + "/io.safetensors"));
  torch::Tensor sample = io.at("sample").clone().requires_grad_(true);
  torch::Tensor t = io.at("timestep").to(torch::kLong);
  torch::Tensor out = unet(sample, t, io.at("encoder_hidden_states"));
  const double err_out = test::rel_err(out, io.at("out"));
  torch::Tensor grad = torch::autograd::grad({(out * io.at("grad_weight")).sum()}, {sample})[0];
  const double err_grad = test::rel_err(grad, io.at("grad_sample"));
  std::printf("[%s] out rel err %.3g, grad_sample rel err %.3g\n", fixture.c_str(), err_out, err_grad);
  // About 10x the errors measured on libtorch 1.13 / OpenBLAS (out 6.4e-7 and 7.9e-7, grad 1.2e-6 and
  // 1.7e-6 for SD-1.5 / SD-2 tiny).
  EXPECT_ERR_LE(err_out, 1e-5);
  EXPECT_ERR_LE(err_grad, 2e-5);
}

}  // namespace

TEST(UNetParity, SD15TinyForwardAndInputGradient) { check_unet_parity("unet_sd15_tiny"); }

TEST(UNetParity, SD2TinyForwardAndInputGradient) { check_unet_parity("unet_sd2_tiny"); }

TEST(UNetConfig, SD2PerBlockHeadsAndFlags) {
  UNetConfig c = load_unet_config(data_path("unet_sd2_tiny/unet/config.json"));
  EXPECT_EQ(c.num_attention_heads, (std::vector<int64_t>{2, 4, 4, 4}));
  EXPECT_EQ(c.cross_attention_dim, (std::vector<int64_t>{24, 24, 24, 24}));
  EXPECT_TRUE(c.use_linear_projection);
  EXPECT_TRUE(c.upcast_attention);
}

TEST(UNetConfig, FullSizeSD15Config) {
  UNetConfig c = load_unet_config(data_path("sd15_configs/unet/config.json"));
  EXPECT_EQ(c.block_out_channels, (std::vector<int64_t>{320, 640, 1280, 1280}));
  EXPECT_EQ(c.num_attention_heads, (std::vector<int64_t>{8, 8, 8, 8}));
  EXPECT_EQ(c.cross_attention_dim, (std::vector<int64_t>{768, 768, 768, 768}));
  EXPECT_EQ(c.layers_per_block, (std::vector<int64_t>{2, 2, 2, 2}));
  EXPECT_EQ(c.norm_num_groups, 32);
  EXPECT_FALSE(c.use_linear_projection);
}

TEST(UNetConfig, UnsupportedValuesAndUnknownKeysAreErrors) {
  auto error_of = [](const std::string& json) -> std::string {
    try {
      parse_unet_config(json, "cfg");
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error_of(R"({"class_embed_type": "timestep"})").find("class_embed_type"), std::string::npos);
  EXPECT_NE(error_of(R"({"act_fn": "gelu"})").find("act_fn"), std::string::npos);
  EXPECT_NE(error_of(R"({"down_block_types": ["AttnDownBlock2D", "DownBlock2D", "DownBlock2D", "DownBlock2D"]})")
                .find("AttnDownBlock2D"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"attention_head_dim": [8, 8]})").find("attention_head_dim"), std::string::npos);
  EXPECT_NE(error_of(R"({"use_fancy_thing": true})").find("use_fancy_thing"), std::string::npos);
  EXPECT_EQ(error_of(R"({"_name_or_path": "x", "num_attention_heads": null, "dropout": 0.0})"), "");
}

TEST(UNetLoad, StrictLoadingReportsEveryMismatch) {
  UNet2DConditionModel unet(load_unet_config(data_path("unet_sd15_tiny/unet/config.json")));
  TensorMap weights = load_safetensors(data_path("unet_sd15_tiny/unet/diffusion_pytorch_model.safetensors"));
  weights.erase("mid_block.resnets.0.conv1.weight");
  weights["mid_block.resnets.0.extra.weight"] = torch::zeros({2});
  weights["conv_out.bias"] = torch::zeros({5});
  try {
    load_state_dict(*unet, weights, "w.safetensors");
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("missing [mid_block.resnets.0.conv1.weight]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unexpected [mid_block.resnets.0.extra.weight]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("mismatched [conv_out.bias"), std::string::npos) << msg;
  }
}

TEST(UNetLoad, RelabelledDtypeIsRefusedNotCast) {
  // conv_out.bias's float32 bytes declared I32: same byte count, so only the dtype check can catch it
  // (copy_ would cast 1.0f to 1065353216.0).
  UNet2DConditionModel unet(load_unet_config(data_path("unet_sd15_tiny/unet/config.json")));
  TensorMap weights = load_safetensors(data_path("unet_sd15_tiny/unet/diffusion_pytorch_model.safetensors"));
  weights["conv_out.bias"] = weights["conv_out.bias"].view(torch::kInt);
  const std::string path = temp_dir("relabel") + "/w.safetensors";
  save_safetensors(path, weights);
  try {
    load_state_dict(*unet, load_safetensors(path), path);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("mismatched [conv_out.bias (file Int[4], model Float[4])]"), std::string::npos) << msg;
  }
}

TEST(UNetLoad, StateDictKeysEqualTheDiffusersFile) {
  UNet2DConditionModel unet(load_unet_config(data_path("unet_sd2_tiny/unet/config.json")));
  TensorMap weights = load_safetensors(data_path("unet_sd2_tiny/unet/diffusion_pytorch_model.safetensors"));
  TensorMap own = state_dict(*unet);
  ASSERT_EQ(own.size(), weights.size());
  for (const auto& kv : weights) EXPECT_TRUE(own.count(kv.first)) << kv.first;
}

TEST(UNetLoad, BinOnlyFolderIsAnErrorWithHint) {
  const std::string dir = temp_dir("bin");
  std::filesystem::copy_file(data_path("unet_sd15_tiny/unet/config.json"), dir + "/config.json");
  std::ofstream(dir + "/diffusion_pytorch_model.bin") << "pickle";
  try {
    load_unet(dir);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("safetensors"), std::string::npos) << e.what();
  }
}

TEST(UNetForward, OddLatentSizeUsesSkipSizes) {
  UNet2DConditionModel unet = load_unet(data_path("unet_sd15_tiny"));
  torch::manual_seed(0);
  torch::Tensor x = torch::randn({1, 4, 6, 10});
  torch::Tensor out = unet(x, torch::tensor({500}, torch::kLong), torch::randn({1, 3, 16}));
  EXPECT_EQ(out.sizes(), x.sizes());
}

TEST(UNetEmbeddings, TimestepEmbeddingMatchesFormula) {
  torch::Tensor t = torch::tensor({0.0, 981.0});
  torch::Tensor emb = timestep_embedding(t, 6, /*flip_sin_to_cos=*/true, 1.0);
  // half = 3, freq_i = exp(−ln(10⁴)·i/(3 − 1)) = 1, 10⁻², 10⁻⁴; flip puts cos first.
  torch::Tensor freqs = torch::tensor({1.0, 1e-2, 1e-4});
  torch::Tensor expected = torch::cat({torch::cos(981.0 * freqs), torch::sin(981.0 * freqs)});
  EXPECT_CLOSE(emb[1], expected.to(torch::kFloat), 1e-6);
  EXPECT_CLOSE(emb[0], torch::tensor({1.0f, 1.0f, 1.0f, 0.0f, 0.0f, 0.0f}), 0.0);
}

TEST(UNetFlowNet, ReleaseInitZeroesOnlyTheOutputBias) {
  UNetFlowNetOptions o;
  o.block_out_channels = {16, 32};
  o.cross_attention_dim = 8;
  o.norm_num_groups = 8;
  torch::manual_seed(0);
  UNetFlowNet flow(o);
  EXPECT_EQ(flow.unet()->conv_out->bias.abs().max().item<float>(), 0.0f);
  EXPECT_GT(flow.unet()->conv_out->weight.abs().max().item<float>(), 0.0f);
  torch::Tensor x = torch::randn({2, 4, 8, 8});
  torch::Tensor t = torch::tensor({10, 900}, torch::kLong);
  torch::Tensor g = flow.forward(x, t, {});
  EXPECT_EQ(g.sizes(), x.sizes());
  EXPECT_GT(g.abs().max().item<float>(), 0.0f);
  // An undefined context is the zero context, whatever its length.
  EXPECT_CLOSE(g, flow.forward(x, t, torch::zeros({2, 5, 8})), 1e-6);
  // Block pattern of spec §3.5 and diffusers key names.
  auto state = flow.named_state();
  bool has_attn = false, has_last_attn = false;
  for (const auto& kv : state) {
    has_attn |= kv.first.rfind("down_blocks.0.attentions.0.", 0) == 0;
    has_last_attn |= kv.first.rfind("down_blocks.1.attentions.", 0) == 0;
  }
  EXPECT_TRUE(has_attn);
  EXPECT_FALSE(has_last_attn);
}

TEST(UNetFlowNet, FullZeroInitAndStateRoundTrip) {
  UNetFlowNetOptions o;
  o.block_out_channels = {16, 32};
  o.cross_attention_dim = 8;
  o.norm_num_groups = 8;
  o.zero_init_conv_out = true;
  torch::manual_seed(1);
  UNetFlowNet zero(o);
  torch::Tensor x = torch::randn({1, 4, 8, 8});
  torch::Tensor t = torch::tensor({100}, torch::kLong);
  EXPECT_EQ(zero.forward(x, t, {}).abs().max().item<float>(), 0.0f);

  o.zero_init_conv_out = false;
  UNetFlowNet a(o), b(o);
  TensorMap state;
  for (const auto& kv : a.named_state()) state[kv.first] = kv.second;
  b.load_state(state);
  EXPECT_TRUE(torch::equal(a.forward(x, t, {}), b.forward(x, t, {})));
  state.erase("conv_in.weight");
  EXPECT_THROW(b.load_state(state), Error);
}
