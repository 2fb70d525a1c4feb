// Parity of CLIPTextModel (and the shared CLIP encoder layers) with transformers, on the tiny fixtures
// clip_text_tiny (quick_gelu) and clip_text_tiny_gelu: last hidden state, pooled output, penultimate state.
#include <filesystem>

#include <unistd.h>

#include <torch/torch.h>

#include "core/error.h"
#include "io/tensor_io.h"
#include "models/clip_prompt_encoder.h"
#include "models/clip_text.h"
#include "test_util.h"

namespace nablagfn {
namespace {

void expect_clip_text_parity(const std::string& fixture) {
  CLIPTextModel model = load_clip_text_model(test::data_path(fixture + "/text_encoder"));
  TensorMap io = load_safetensors(test::data_path(fixture + "/io.safetensors"));
  torch::NoGradGuard no_grad;
  CLIPTextOutput out = model->forward(io.at("input_ids").to(torch::kLong));
  double e_last = test::rel_err(out.last_hidden_state, io.at("last_hidden_state"));
  double e_pool = test::rel_err(out.pooler_output, io.at("pooler_output"));
  double e_pen = test::rel_err(out.penultimate_hidden_state, io.at("penultimate_hidden_state"));
  std::printf("%s: last %.2e pooled %.2e penultimate %.2e\n", fixture.c_str(), e_last, e_pool, e_pen);
  // About 10x the errors measured on libtorch 1.13 (3.2e-7 .. 5.0e-7).
  EXPECT_ERR_LE(e_last, 5e-6);
  EXPECT_ERR_LE(e_pool, 5e-6);
  EXPECT_ERR_LE(e_pen, 5e-6);
}

TEST(CLIPTextParity, QuickGELU) { expect_clip_text_parity("clip_text_tiny"); }

TEST(CLIPTextParity, GELU) { expect_clip_text_parity("clip_text_tiny_gelu"); }

TEST(CLIPTextModel, ConfigParsesSD15) {
  CLIPTextConfig c = load_clip_text_config(test::data_path("sd15_configs/text_encoder/config.json"));
  EXPECT_EQ(c.encoder.hidden_size, 768);
  EXPECT_EQ(c.encoder.num_hidden_layers, 12);
  EXPECT_EQ(c.encoder.num_attention_heads, 12);
  EXPECT_EQ(c.encoder.hidden_act, CLIPActivation::QuickGELU);
  EXPECT_EQ(c.eos_token_id, 2);
  EXPECT_EQ(c.max_position_embeddings, 77);
}

// The causal mask: changing a token never changes the hidden states before it.
TEST(CLIPTextModel, CausalMaskHidesLaterTokens) {
  CLIPTextModel model = load_clip_text_model(test::data_path("clip_text_tiny/text_encoder"));
  torch::NoGradGuard no_grad;
  at::Tensor ids = torch::tensor({{49406, 320, 1125, 539, 320, 2368, 49407}}, torch::kLong);
  at::Tensor ids2 = ids.clone();
  ids2[0][4] = 1000;
  at::Tensor a = model->forward(ids).last_hidden_state, b = model->forward(ids2).last_hidden_state;
  EXPECT_TRUE(torch::equal(a.slice(1, 0, 4), b.slice(1, 0, 4)));
  EXPECT_GT((a.slice(1, 4) - b.slice(1, 4)).abs().max().item<double>(), 1e-4);
}

// Pooling: the first eos for a real eos_token_id; the largest id for the legacy eos_token_id == 2.
TEST(CLIPTextModel, PoolingFollowsTransformersEosRule) {
  CLIPTextConfig config = load_clip_text_config(test::data_path("clip_text_tiny/text_encoder/config.json"));
  TensorMap weights = load_safetensors(test::data_path("clip_text_tiny/text_encoder/model.safetensors"));
  CLIPTextModel modern(config);
  modern->load(weights, "clip_text_tiny");
  config.eos_token_id = 2;
  CLIPTextModel legacy(config);
  legacy->load(weights, "clip_text_tiny");
  torch::NoGradGuard no_grad;
  // One eos at position 2 followed by padding with 0: both rules pick it.
  at::Tensor ids = torch::tensor({{49406, 320, 49407, 0, 0}}, torch::kLong);
  CLIPTextOutput m = modern->forward(ids), l = legacy->forward(ids);
  EXPECT_TRUE(torch::equal(m.pooler_output, m.last_hidden_state.select(1, 2)));
  EXPECT_TRUE(torch::equal(l.pooler_output, l.last_hidden_state.select(1, 2)));
  // No eos: the legacy rule takes the largest id (1125 at 1), the modern one position 0.
  at::Tensor no_eos = torch::tensor({{320, 1125, 5}}, torch::kLong);
  m = modern->forward(no_eos);
  l = legacy->forward(no_eos);
  EXPECT_TRUE(torch::equal(m.pooler_output, m.last_hidden_state.select(1, 0)));
  EXPECT_TRUE(torch::equal(l.pooler_output, l.last_hidden_state.select(1, 1)));
}

TEST(CLIPTextModel, StrictLoadListsProblems) {
  CLIPTextConfig config = load_clip_text_config(test::data_path("clip_text_tiny/text_encoder/config.json"));
  TensorMap weights = load_safetensors(test::data_path("clip_text_tiny/text_encoder/model.safetensors"));
  weights.erase("final_layer_norm.weight");
  weights["encoder.layers.9.mlp.fc1.weight"] = torch::zeros({1});
  weights["embeddings.position_ids"] = torch::arange(77).unsqueeze(0);  // ignored on purpose
  CLIPTextModel model(config);
  try {
    model->load(weights, "broken");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("final_layer_norm.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("encoder.layers.9.mlp.fc1.weight"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("position_ids"), std::string::npos) << msg;
  }
}

TEST(CLIPTextModel, MissingFolderIsAnError) {
  EXPECT_THROW(load_clip_text_model(test::data_path("no_such_folder")), Error);
}

// The prompt encoder end to end (tokenizer + text model from a diffusers-shaped folder): the fixture's
// ids are the tokenization of these three prompts.
TEST(CLIPTextModel, PromptEncoderMatchesFixture) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("nablagfn_clip_prompt_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  EXPECT_THROW(CLIPPromptEncoder::from_folder(dir.string(), torch::kCPU, torch::kFloat), Error);
  fs::create_directory_symlink(test::data_path("clip_tokenizer"), dir / "tokenizer");
  fs::create_directory_symlink(test::data_path("clip_text_tiny/text_encoder"), dir / "text_encoder");
  CLIPPromptEncoder encoder = CLIPPromptEncoder::from_folder(dir.string(), torch::kCPU, torch::kFloat);
  // Entry by entry: fs::remove_all crashes when pip libtorch's exported std::filesystem symbols win.
  for (const char* name : {"tokenizer", "text_encoder", ""}) fs::remove(dir / name);
  at::Tensor context = encoder.encode({"a photo of a cat", "an astronaut riding a horse on mars", ""});
  TensorMap io = load_safetensors(test::data_path("clip_text_tiny/io.safetensors"));
  EXPECT_FALSE(context.requires_grad());
  EXPECT_CLOSE(context, io.at("last_hidden_state"), 5e-6);
}

}  // namespace
}  // namespace nablagfn
