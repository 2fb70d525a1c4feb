// LoRA on the UNet's attention projections: parity with peft (output with the adapter, gradient of
// every LoRA matrix), the adapter switches (off, per-sample mask), checkpoint formats (peft, diffusers),
// and SDDenoiser built on them.
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/tensor_io.h"
#include "models/attention.h"
#include "models/lora.h"
#include "models/lora_export.h"
#include "models/sd_denoiser.h"
#include "models/state_dict.h"
#include "models/unet2d_condition.h"
#include "test_util.h"

using namespace nablagfn;
using test::data_path;
using test::temp_dir;

namespace {

LoRAConfig fixture_config() {
  LoRAConfig c;
  c.rank = 4;
  c.alpha = 8.0;
  return c;
}

struct Fixture {
  UNet2DConditionModel unet = load_unet(data_path("unet_sd15_tiny"));
  TensorMap io = load_safetensors(data_path("unet_sd15_tiny_lora/io.safetensors"));
  torch::Tensor t = io.at("timestep").to(torch::kLong);

  Fixture() { set_attention_backend(*unet, AttentionBackend::Reference); }
  torch::Tensor forward(const torch::Tensor& x) { return unet(x, t, io.at("encoder_hidden_states")); }
};

}  // namespace

TEST(LoRAParity, OutputAndEveryLoRAGradientMatchPeft) {
  Fixture f;
  LoRAAdapter lora(*f.unet, fixture_config());
  lora.load(data_path("unet_sd15_tiny_lora/lora_peft.safetensors"));
  torch::Tensor out = f.forward(f.io.at("sample"));
  const double err_out = test::rel_err(out, f.io.at("out"));
  EXPECT_ERR_LE(err_out, 1e-5);

  auto named = lora.named_parameters();
  std::vector<torch::Tensor> params;
  for (const auto& kv : named) params.push_back(kv.second);
  auto grads = torch::autograd::grad({(out * f.io.at("grad_weight")).sum()}, params);
  TensorMap expected = load_safetensors(data_path("unet_sd15_tiny_lora/lora_grads.safetensors"));
  ASSERT_EQ(expected.size(), named.size());
  // Per tensor relative to the largest gradient of the adapter: some tensors' gradients are ~1e-9
  // (attn2 keys see a near-constant context), where float32 rounding alone exceeds 1e-3 of themselves.
  double global_max = 0.0;
  for (const auto& kv : expected) global_max = std::max(global_max, kv.second.abs().max().item<double>());
  double worst = 0.0, worst_own = 0.0;
  for (size_t i = 0; i < named.size(); ++i) {
    const torch::Tensor& ref = expected.at(named[i].first);
    const double abs_err = (grads[i] - ref).abs().max().item<double>();
    worst = std::max(worst, abs_err / global_max);
    const double own_max = ref.abs().max().item<double>();
    if (own_max > 1e-3 * global_max) worst_own = std::max(worst_own, abs_err / own_max);
  }
  std::printf("[lora] out rel err %.3g, grads: max err / max |grad| %.3g, worst per-tensor rel err %.3g\n", err_out,
              worst, worst_own);
  EXPECT_ERR_LE(worst, 1e-5);
  EXPECT_ERR_LE(worst_own, 1e-4);
}

TEST(LoRAGate, OffEqualsBaseAndMaskEqualsPerCall) {
  Fixture f;
  torch::Tensor base = f.forward(f.io.at("sample"));
  LoRAAdapter lora(*f.unet, fixture_config());
  lora.load(data_path("unet_sd15_tiny_lora/lora_peft.safetensors"));
  torch::Tensor on = f.forward(f.io.at("sample"));
  torch::Tensor off, mixed;
  {
    LoRAGateGuard guard(lora.gate(), false);
    off = f.forward(f.io.at("sample"));
  }
  {
    LoRAGateGuard guard(lora.gate(), true, torch::tensor({false, true}));
    mixed = f.forward(f.io.at("sample"));
  }
  EXPECT_TRUE(lora.gate().enabled);
  EXPECT_FALSE(lora.gate().sample_mask.defined());
  EXPECT_TRUE(torch::equal(off, base));
  EXPECT_GT(test::rel_err(on, base), 1e-3);
  EXPECT_CLOSE(mixed[0], base[0], 1e-6);
  EXPECT_CLOSE(mixed[1], on[1], 1e-6);
}

TEST(LoRAInit, GaussianLeavesModelUnchanged) {
  Fixture f;
  torch::Tensor base = f.forward(f.io.at("sample"));
  LoRAConfig c;
  c.rank = 8;
  torch::manual_seed(0);
  LoRAAdapter lora(*f.unet, c);
  EXPECT_TRUE(torch::equal(f.forward(f.io.at("sample")), base));
  auto named = lora.named_parameters();
  EXPECT_EQ(named.size(), 256u);
  torch::Tensor a = named[0].second;  // a lora_A [8, in]
  EXPECT_EQ(named[0].first, "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight");
  EXPECT_EQ(a.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(a.requires_grad());
  std::vector<torch::Tensor> as;
  for (const auto& kv : named) {
    if (kv.first.find("lora_A") != std::string::npos) as.push_back(kv.second.flatten());
  }
  const double std = torch::cat(as).std().item<double>();
  EXPECT_NEAR(std, 1.0 / 8.0, 0.01);
  EXPECT_EQ(named[1].second.abs().max().item<float>(), 0.0f);
  EXPECT_THROW(parse_enum<LoRAInit>("uniform", "model.lora_init"), Error);
}

TEST(LoRAFormat, PeftRoundTrip) {
  Fixture f;
  LoRAAdapter src(*f.unet, fixture_config());
  src.load(data_path("unet_sd15_tiny_lora/lora_peft.safetensors"));
  const std::string dir = temp_dir("peft");
  src.save(dir, LoRAFormat::Peft);
  TensorMap written = load_safetensors(dir + "/adapter_model.safetensors");
  TensorMap fixture = load_safetensors(data_path("unet_sd15_tiny_lora/lora_peft.safetensors"));
  ASSERT_EQ(written.size(), fixture.size());
  for (const auto& kv : fixture) EXPECT_TRUE(torch::equal(written.at(kv.first), kv.second)) << kv.first;
  auto config = nlohmann::json::parse(read_file(dir + "/adapter_config.json"));
  EXPECT_EQ(config.at("r"), 4);
  EXPECT_EQ(config.at("lora_alpha"), 8.0);
  EXPECT_EQ(config.at("target_modules"), nlohmann::json({"to_q", "to_k", "to_v", "to_out.0"}));

  UNet2DConditionModel other = load_unet(data_path("unet_sd15_tiny"));
  LoRAAdapter dst(*other, fixture_config());
  dst.load(dir);
  auto a = src.named_parameters(), b = dst.named_parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;

  LoRAConfig wrong_alpha = fixture_config();
  wrong_alpha.alpha = 4.0;
  LoRAAdapter mismatched(*other, wrong_alpha);
  EXPECT_THROW(mismatched.load(dir), Error);
}

TEST(LoRAFormat, DiffusersRoundTripAndKeyNames) {
  Fixture f;
  LoRAAdapter src(*f.unet, fixture_config());
  src.load(data_path("unet_sd15_tiny_lora/lora_peft.safetensors"));
  const std::string dir = temp_dir("diffusers");
  src.save(dir, LoRAFormat::Diffusers);
  TensorMap written = load_safetensors(dir + "/pytorch_lora_weights.safetensors");
  EXPECT_EQ(written.size(), 256u);
  EXPECT_TRUE(written.count("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora.down.weight"));
  EXPECT_TRUE(written.count("unet.up_blocks.3.attentions.2.transformer_blocks.0.attn2.to_out.0.lora.up.weight"));
  for (const auto& kv : written) EXPECT_EQ(kv.first.find("lora_A"), std::string::npos) << kv.first;

  UNet2DConditionModel other = load_unet(data_path("unet_sd15_tiny"));
  LoRAAdapter from_dir(*other, fixture_config());
  from_dir.load(dir);
  LoRAAdapter from_file(*other, fixture_config());
  from_file.load(dir + "/pytorch_lora_weights.safetensors");
  auto a = src.named_parameters(), b = from_dir.named_parameters(), c = from_file.named_parameters();
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
    EXPECT_TRUE(torch::equal(a[i].second, c[i].second)) << a[i].first;
  }
}

TEST(LoRAFormat, StrictLoadListsMismatches) {
  Fixture f;
  LoRAAdapter lora(*f.unet, fixture_config());
  TensorMap state = load_safetensors(data_path("unet_sd15_tiny_lora/lora_peft.safetensors"));
  state.erase("mid_block.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight");
  state["mid_block.attentions.0.transformer_blocks.0.attn1.to_z.lora_A.weight"] = torch::zeros({4, 32});
  try {
    lora.load_state(state, "s");
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("missing [mid_block.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight]"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("unexpected [mid_block.attentions.0.transformer_blocks.0.attn1.to_z"), std::string::npos) << msg;
  }
}

TEST(LoRASDDenoiser, MixedPassEqualsPerCallAndStateRoundTrip) {
  TensorMap io = load_safetensors(data_path("unet_sd15_tiny_lora/io.safetensors"));
  SDDenoiser denoiser(load_unet(data_path("unet_sd15_tiny")), fixture_config());
  set_attention_backend(*denoiser.unet(), AttentionBackend::Reference);
  denoiser.load_trainable_state(load_safetensors(data_path("unet_sd15_tiny_lora/lora_peft.safetensors")));
  torch::Tensor x = io.at("sample"), t = io.at("timestep").to(torch::kLong), c = io.at("encoder_hidden_states");
  torch::Tensor on = denoiser.eps(x, t, c, Adapter::On);
  torch::Tensor off = denoiser.eps(x, t, c, Adapter::Off);
  EXPECT_CLOSE(on, io.at("out"), 1e-5);
  torch::Tensor mask = torch::tensor({true, false});
  torch::Tensor mixed = denoiser.eps_mixed(x, t, c, mask);
  torch::Tensor two_pass = denoiser.Denoiser::eps_mixed(x, t, c, mask);
  EXPECT_CLOSE(mixed, two_pass, 1e-6);
  EXPECT_CLOSE(mixed[1], off[1], 1e-6);

  // Off rows give the LoRA no gradient; trainable_state names are peft's.
  auto params = denoiser.trainable_parameters();
  auto g_off = torch::autograd::grad({denoiser.eps_mixed(x, t, c, torch::tensor({false, false})).sum()}, params, {},
                                     false, false, /*allow_unused=*/true);
  for (const auto& g : g_off) EXPECT_TRUE(!g.defined() || g.abs().max().item<float>() == 0.0f);
  auto state = denoiser.trainable_state();
  EXPECT_EQ(state.size(), 256u);
  EXPECT_EQ(state.size(), params.size());
  EXPECT_EQ(state[1].first, "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_B.weight");
  EXPECT_THROW(denoiser.load_trainable_state(TensorMap{}), Error);
}

TEST(LoRABFloat16, Float32BranchOnBFloat16Base) {
  TensorMap io = load_safetensors(data_path("unet_sd15_tiny_lora/io.safetensors"));
  SDDenoiser denoiser(load_unet(data_path("unet_sd15_tiny"), torch::kBFloat16), fixture_config());
  denoiser.load_trainable_state(load_safetensors(data_path("unet_sd15_tiny_lora/lora_peft.safetensors")));
  for (const auto& p : denoiser.trainable_parameters()) ASSERT_EQ(p.scalar_type(), torch::kFloat32);
  torch::Tensor eps = denoiser.eps(io.at("sample").to(torch::kBFloat16), io.at("timestep").to(torch::kLong),
                                   io.at("encoder_hidden_states").to(torch::kBFloat16), Adapter::On);
  EXPECT_EQ(eps.scalar_type(), torch::kBFloat16);
  EXPECT_CLOSE(eps.to(torch::kFloat), io.at("out"), 5e-2);
  auto grads = torch::autograd::grad({eps.to(torch::kFloat).sum()}, denoiser.trainable_parameters());
  EXPECT_EQ(grads[1].scalar_type(), torch::kFloat32);
  EXPECT_GT(grads[1].abs().max().item<float>(), 0.0f);
}

// Every export layout, key by key against the fixture's peft names (each peft key maps to exactly one
// key of the layout, the kohya one adds one alpha per module), values unchanged, and each file loads back.
TEST(LoRAFormat, EveryLayoutKeyByKeyAgainstPeftNamesAndLoadsBack) {
  Fixture f;
  LoRAAdapter src(*f.unet, fixture_config());
  src.load(data_path("unet_sd15_tiny_lora/lora_peft.safetensors"));
  const TensorMap fixture = load_safetensors(data_path("unet_sd15_tiny_lora/lora_peft.safetensors"));
  auto expected_key = [](const std::string& peft, LoRAFormat format) {
    const bool is_a = peft.find(".lora_A.weight") != std::string::npos;
    const std::string module = peft.substr(0, peft.size() - std::string(".lora_A.weight").size());
    if (format == LoRAFormat::Peft) return peft;
    if (format == LoRAFormat::Diffusers) return "unet." + module + (is_a ? ".lora.down.weight" : ".lora.up.weight");
    std::string k = "lora_unet_" + module;
    std::replace(k.begin(), k.end(), '.', '_');
    return k + (is_a ? ".lora_down.weight" : ".lora_up.weight");
  };
  for (LoRAFormat format : {LoRAFormat::Peft, LoRAFormat::Diffusers, LoRAFormat::Kohya}) {
    const std::string dir = temp_dir("layout_" + lora_file_name(format));
    src.save(dir, format);
    const std::string file = dir + "/" + lora_file_name(format);
    const TensorMap written = load_safetensors(file);
    size_t n_alpha = 0;
    for (const auto& [key, value] : fixture) {
      auto it = written.find(expected_key(key, format));
      ASSERT_NE(it, written.end()) << key << " -> " << expected_key(key, format);
      EXPECT_TRUE(torch::equal(it->second, value)) << key;
    }
    for (const auto& [key, value] : written)
      if (key.size() > 6 && key.compare(key.size() - 6, 6, ".alpha") == 0) {
        ++n_alpha;
        EXPECT_EQ(value.dim(), 0) << key;
        EXPECT_EQ(value.item<double>(), 8.0) << key;
      }
    EXPECT_EQ(written.size(), fixture.size() + n_alpha);
    EXPECT_EQ(n_alpha, format == LoRAFormat::Kohya ? fixture.size() / 2 : 0u);
    if (format == LoRAFormat::Kohya) {  // how A1111 / ComfyUI spell a module (kohya-ss networks/lora.py)
      EXPECT_TRUE(written.count("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight"));
      EXPECT_TRUE(written.count("lora_unet_up_blocks_3_attentions_2_transformer_blocks_0_attn2_to_out_0.lora_up.weight"));
      EXPECT_TRUE(written.count("lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k.alpha"));
    }

    UNet2DConditionModel other = load_unet(data_path("unet_sd15_tiny"));
    LoRAAdapter back(*other, fixture_config());
    back.load(file);
    auto a = src.named_parameters(), b = back.named_parameters();
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

// The LoRA folded into the UNet's weights gives the UNet-with-adapter's output.
TEST(LoRAFormat, MergedUNetEqualsUNetWithAdapter) {
  Fixture f;
  LoRAAdapter lora(*f.unet, fixture_config());
  lora.load(data_path("unet_sd15_tiny_lora/lora_peft.safetensors"));
  torch::NoGradGuard no_grad;
  torch::Tensor with_adapter = f.forward(f.io.at("sample"));
  torch::Tensor without;
  {
    LoRAGateGuard off(lora.gate(), false);
    without = f.forward(f.io.at("sample"));
  }
  const TensorMap base = load_safetensors(find_unet_weights(data_path("unet_sd15_tiny/unet")));
  const TensorMap peft = load_safetensors(data_path("unet_sd15_tiny_lora/lora_peft.safetensors"));
  const TensorMap merged = merge_lora(base, peft, 8.0 / 4.0);
  size_t changed = 0;
  for (const auto& [k, v] : base) changed += !torch::equal(v, merged.at(k));
  EXPECT_EQ(changed, peft.size() / 2);  // every to_q / to_k / to_v / to_out.0 weight, nothing else
  UNet2DConditionModel plain = load_unet(data_path("unet_sd15_tiny"));
  set_attention_backend(*plain, AttentionBackend::Reference);
  load_state_dict(*plain, merged, "merged");
  torch::Tensor out = plain(f.io.at("sample"), f.t, f.io.at("encoder_hidden_states"));
  EXPECT_LE(test::rel_err(out, with_adapter), 1e-5);
  EXPECT_GT(test::rel_err(out, without), 1e-3);
}
