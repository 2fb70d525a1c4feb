// Stable Diffusion assembled from a diffusers folder (problems/stable_diffusion.h) against the
// pipeline_tiny fixture: tokenizer ids, every latent x_k and guided ε_k of the 50-step CFG-5 DDIM-η=1 run
// with the fixture's step noises, the decoded image and the tiny aesthetic reward. Plus the folder checks,
// the prompt sets and the evaluator's files.
// tests/data/sd_tiny is the diffusers layout of the tiny stack (links to unet_sd15_tiny, vae_tiny,
// clip_text_tiny, clip_tokenizer, sd15_configs/scheduler).
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "core/error.h"
#include "io/png.h"
#include "io/fs_util.h"
#include "io/run_dir.h"
#include "io/tensor_io.h"
#include "models/clip_prompt_encoder.h"
#include "models/vae_decoder.h"
#include "problems/stable_diffusion.h"
#include "test_util.h"
#include "tiny_sd_config.h"

using namespace nablagfn;
using test::data_path;
using test::tiny_sd_config;

namespace {

std::string pipeline_temp_dir(const std::string& name) {
  const std::string dir = join_path(::testing::TempDir(), "nablagfn_test_pipeline_" + name);
  remove_tree(dir);
  return dir;
}

// Whether every convolution weight of root is in the given layout (and there is at least one).
bool convs_in_layout(torch::nn::Module& root, at::MemoryFormat format) {
  int64_t n = 0;
  for (const at::Tensor& p : root.parameters()) {
    if (p.dim() != 4) continue;
    if (!p.is_contiguous(format)) return false;
    ++n;
  }
  return n > 0;
}

// The fixture's run, step by step, with the UNet and decoder in NCHW or (model.memory_format=channels_last) NHWC.
void check_pipeline_parity(bool channels_last) {
  Config config = tiny_sd_config();
  config.model.memory_format = channels_last ? MemoryFormat::ChannelsLast : MemoryFormat::Auto;
  StableDiffusion sd = make_stable_diffusion(config);
  Problem& p = sd.problem;
  const at::MemoryFormat layout = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  EXPECT_TRUE(convs_in_layout(*sd.denoiser->unet(), layout));
  EXPECT_TRUE(convs_in_layout(*std::dynamic_pointer_cast<VAEDecoder>(p.decoder)->vae(), layout));
  TensorMap io = load_safetensors(data_path("pipeline_tiny/io.safetensors"));
  const std::vector<std::string> prompts = {"a photo of a cat", "an astronaut riding a horse on mars"};

  const auto& tokenizer = dynamic_cast<CLIPPromptEncoder&>(*p.text).tokenizer();
  EXPECT_TRUE(tokenizer.encode_batch(prompts).equal(io.at("input_ids").to(at::kLong)));
  EXPECT_TRUE(tokenizer.encode_batch({""}).equal(io.at("uncond_input_ids").to(at::kLong)));
  ASSERT_EQ(p.latent_shape, (std::vector<int64_t>{4, 8, 8}));
  ASSERT_EQ(p.scheduler->n_steps(), 50);
  EXPECT_EQ(p.scheduler->timestep(0), 981);
  EXPECT_EQ(p.scheduler->timestep(49), 1);

  at::NoGradGuard no_grad;
  Conditioning c = p.conditioning(p.text->encode(prompts));
  at::Tensor x = io.at("x_0");
  double worst_x = 0.0, worst_eps = 0.0;
  for (int k = 0; k < 50; ++k) {
    const std::string ks = std::to_string(k);
    at::Tensor kk = at::full({2}, k, at::kLong);
    at::Tensor eps = guided_eps(*p.denoiser, x, at::full({2}, p.scheduler->timestep(k), at::kLong), c, Adapter::On);
    EXPECT_TRUE(eps.is_contiguous());  // ε in the layout of x, whatever the UNet's
    worst_eps = std::max(worst_eps, test::rel_err(eps, io.at("eps_" + ks)));
    at::Tensor std = p.scheduler->step_std(kk, x).view({2, 1, 1, 1});
    x = p.scheduler->step_mean(kk, x, eps) + std * io.at("noise_" + ks);  // [2, 4, 8, 8]
    worst_x = std::max(worst_x, test::rel_err(x, io.at("x_" + std::to_string(k + 1))));
  }
  at::Tensor image = p.decoder->decode(x);
  at::Tensor reward = p.reward->score(image, prompts);
  const double err_image = test::rel_err(image, io.at("image"));
  const double err_reward = test::rel_err(reward, io.at("reward"));
  EXPECT_TRUE(image.is_contiguous());
  std::printf("[pipeline%s] worst rel err: x_k %.3g, eps_k %.3g, image %.3g, reward %.3g\n",
              channels_last ? ", channels-last" : "", worst_x, worst_eps, err_image, err_reward);
  EXPECT_ERR_LE(worst_x, 1e-5);
  EXPECT_ERR_LE(worst_eps, 4e-5);
  EXPECT_ERR_LE(err_image, 1e-5);
  EXPECT_ERR_LE(err_reward, 2e-6);
}

}  // namespace

TEST(PipelineParity, EveryLatentGuidedEpsImageAndRewardMatchDiffusers) { check_pipeline_parity(false); }

TEST(PipelineParity, ChannelsLastMatchesDiffusersToo) { check_pipeline_parity(true); }

// model.memory_format=channels_last under autograd: the guided ε's gradients (input and every LoRA matrix) and the
// decoder's latent gradient agree with the NCHW layout's (fp32, CPU: ATen's channels-last kernels).
TEST(PipelineParity, ChannelsLastGradientsMatchNCHW) {
  TensorMap io = load_safetensors(data_path("pipeline_tiny/io.safetensors"));
  const std::vector<std::string> prompts = {"a photo of a cat", "an astronaut riding a horse on mars"};
  auto gradients = [&](bool channels_last) {
    Config config = tiny_sd_config();
    config.model.memory_format = channels_last ? MemoryFormat::ChannelsLast : MemoryFormat::Auto;
    StableDiffusion sd = make_stable_diffusion(config);
    Problem& p = sd.problem;
    torch::manual_seed(3);
    for (at::Tensor w : sd.denoiser->trainable_parameters()) w.data().normal_(0.0, 0.1);  // a non-zero LoRA
    Conditioning c = p.conditioning(p.text->encode(prompts));
    at::Tensor x = io.at("x_20").detach().requires_grad_(true);  // [2, 4, 8, 8]
    at::Tensor eps = guided_eps(*p.denoiser, x, at::full({2}, p.scheduler->timestep(20), at::kLong), c, Adapter::On);
    std::vector<at::Tensor> wrt{x};
    for (const at::Tensor& w : sd.denoiser->trainable_parameters()) wrt.push_back(w);
    std::vector<at::Tensor> g = torch::autograd::grad({(eps * eps.detach().sin()).sum()}, wrt);
    std::vector<at::Tensor> flat;
    for (const at::Tensor& gi : g) flat.push_back(gi.flatten());
    at::Tensor z = io.at("x_50").detach().requires_grad_(true);
    at::Tensor image = p.decoder->decode(z);
    flat.push_back(torch::autograd::grad({(image * image.detach().cos()).sum()}, {z})[0].flatten());
    return at::cat(flat);
  };
  const at::Tensor nchw = gradients(false), nhwc = gradients(true);
  EXPECT_GT(nchw.abs().max().item<double>(), 0.0);
  EXPECT_CLOSE(nhwc, nchw, 1e-5);
}

TEST(PipelineErrors, MissingFolderPartsAreListedInOneLine) {
  const std::string dir = pipeline_temp_dir("missing");
  make_directories(dir + "/unet");
  std::ofstream(dir + "/model_index.json") << "{}";
  std::ofstream(dir + "/unet/config.json") << "{}";
  try {
    check_diffusers_folder(dir);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos);
    for (const char* part :
         {"unet/diffusion_pytorch_model.safetensors", "vae/config.json", "text_encoder/model.safetensors",
          "tokenizer/merges.txt", "scheduler/scheduler_config.json"})
      EXPECT_NE(what.find(part), std::string::npos) << part;
    EXPECT_EQ(what.substr(0, what.find(" (hint")).find("model_index.json"), std::string::npos);  // present
    EXPECT_FALSE(e.hint().empty());
  }
  EXPECT_THROW(check_diffusers_folder(dir + "/nowhere"), Error);
  EXPECT_THROW(check_diffusers_folder(""), Error);
  remove_tree(dir);
}

TEST(PipelineEvaluator, DiversityAndPriorDriftOnTheRewardEmbedding) {
  Config config = tiny_sd_config();
  config.sample.n_steps = 2;
  config.sample.batch_size = 4;
  config.sample.prompts = "a cat";
  config.eval.n_samples = 4;
  StableDiffusion sd = make_stable_diffusion(config);
  ASSERT_TRUE(static_cast<bool>(sd.problem.features));  // the aesthetic reward's CLIP tower
  const std::string dir = pipeline_temp_dir("eval_drift");
  RunDir run = RunDir::create(dir, false);
  SDEvaluator evaluator(sd.denoiser, config);
  auto pretrained = evaluator.evaluate(sd.problem, run, -1, false);
  EXPECT_TRUE(path_exists(run.path("samples/pretrained.png")));
  EXPECT_GT(pretrained.at("diversity"), 0.0);
  EXPECT_NEAR(pretrained.at("prior_fid"), 0.0, 1e-6);  // the fresh adapter is the identity
  // A moved adapter moves the samples away from the pretrained ones.
  for (auto& p : sd.denoiser->trainable_parameters()) {
    at::NoGradGuard no_grad;
    p.add_(0.5);
  }
  auto moved = evaluator.evaluate(sd.problem, run, 0, false);
  EXPECT_GT(moved.at("prior_fid"), 1e-6);
  remove_tree(dir);
}

TEST(PipelineErrors, BadDtypeAndPromptSets) {
  EXPECT_THROW(sd_dtype(ModelDType::Float64, c10::kCPU), Error);
  EXPECT_THROW(sd_dtype(ModelDType::Float16, c10::kCPU), Error);
  EXPECT_EQ(sd_dtype(ModelDType::BFloat16, c10::kCPU), at::kBFloat16);
  Config config = tiny_sd_config();
  config.model.dtype = ModelDType::Float64;
  EXPECT_THROW(make_sd_pipeline(config), Error);

  std::vector<std::string> animals = load_prompt_set("simple_animals");
  ASSERT_EQ(animals.size(), 45u);
  EXPECT_EQ(animals.front(), "cat");
  EXPECT_EQ(animals.back(), "kangaroo");
  EXPECT_EQ(load_prompt_set("a red fox"), std::vector<std::string>{"a red fox"});
  const std::string dir = pipeline_temp_dir("prompts");
  make_directories(dir);
  std::ofstream(dir + "/p.txt") << "a cat\n\n  a dog  \r\n";
  EXPECT_EQ(load_prompt_set(dir + "/p.txt"), (std::vector<std::string>{"a cat", "a dog"}));
  EXPECT_THROW(load_prompt_set(dir + "/absent.txt"), Error);
  EXPECT_THROW(load_prompt_set(""), Error);
  remove_tree(dir);
}

TEST(PipelineEvaluator, WritesGridLoRAAndFinalSamples) {
  Config config = tiny_sd_config();
  config.sample.n_steps = 2;
  config.sample.batch_size = 2;
  config.sample.prompts = "simple_animals";
  config.eval.n_samples = 3;
  StableDiffusion sd = make_stable_diffusion(config);
  ASSERT_TRUE(static_cast<bool>(sd.problem.make_flow_net));
  EXPECT_FALSE(sd.problem.make_flow_net()->parameters().empty());
  const std::string dir = pipeline_temp_dir("eval");
  RunDir run = RunDir::create(dir, false);
  SDEvaluator evaluator(sd.denoiser, config);
  auto first = evaluator.evaluate(sd.problem, run, 0, false);
  auto last = evaluator.evaluate(sd.problem, run, 7, true);
  EXPECT_TRUE(std::isfinite(first.at("reward_eval")));
  EXPECT_DOUBLE_EQ(first.at("reward_eval"), last.at("reward_eval"));  // fixed seed, unchanged policy
  EXPECT_EQ(first.count("diversity"), 0u);  // 3 samples over 45 prompts: no prompt has two
  Image grid = read_png(run.path("samples/epoch_0007.png"));
  EXPECT_EQ(grid.width, 2 * (16 + 2) + 2);  // 3 samples in 2 columns of 16x16 tiles
  EXPECT_EQ(grid.height, 2 * (16 + 2) + 2);
  EXPECT_TRUE(path_exists(run.path("samples/epoch_0000.png")));
  TensorMap final_samples = load_safetensors(run.path("final_samples.safetensors"));
  EXPECT_EQ(final_samples.at("latents").sizes(), (at::IntArrayRef{3, 4, 8, 8}));
  EXPECT_EQ(final_samples.at("rewards").size(0), 3);
  TensorMap lora = load_safetensors(run.path("pytorch_lora_weights.safetensors"));
  EXPECT_EQ(lora.size(), sd.denoiser->trainable_state().size());
  EXPECT_TRUE(lora.count("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora.down.weight"));
  remove_tree(dir);
}
