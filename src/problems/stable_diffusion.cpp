// Stable Diffusion problem, evaluator and bundle: see stable_diffusion.h.
// Legend: B batch, C latent channels, h/w latent size, L/D context tokens / width.
#include "problems/stable_diffusion.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/strings.h"
#include "io/atomic_file.h"
#include "io/image_tensor.h"
#include "io/tensor_io.h"
#include "models/attention.h"
#include "models/clip_prompt_encoder.h"
#include "models/unet_flow_net.h"
#include "models/unet_scalar_flow_net.h"
#include "models/vae_decoder.h"
#include "problems/eval_metrics.h"
#include "problems/eval_shards.h"
#include "rewards/graphed_reward.h"
#include "rewards/registry.h"
#include "schedulers/factory.h"

namespace nablagfn {

namespace sd_problem_detail {

const char* const kFolderHint =
    "a diffusers Stable Diffusion folder holds model_index.json, unet/, vae/, text_encoder/, tokenizer/ and "
    "scheduler/ with safetensors weights (.fp16.safetensors accepted for unet/ and vae/); convert .bin weights "
    "once with safetensors.torch.save_file";

// The release's simple_animals prompt set (ddpo-pytorch assets/simple_animals.txt, spec §5.4).
const std::vector<std::string> kSimpleAnimals = {
    "cat",    "dog",    "horse", "monkey",    "rabbit", "zebra",   "spider",  "bird",     "sheep",
    "deer",   "cow",    "goat",  "lion",      "tiger",  "bear",    "raccoon", "fox",      "wolf",
    "lizard", "beetle", "ant",   "butterfly", "fish",   "shark",   "whale",   "dolphin",  "squirrel",
    "mouse",  "rat",    "snake", "turtle",    "frog",   "chicken", "duck",    "goose",    "bee",
    "pig",    "turkey", "fly",   "llama",     "camel",  "bat",     "gorilla", "hedgehog", "kangaroo"};

// The first of names that exists in dir, or "" when none does.
std::string first_existing(const std::filesystem::path& dir, const std::vector<std::string>& names) {
  for (const auto& n : names)
    if (std::filesystem::exists(dir / n)) return (dir / n).string();
  return "";
}

const std::vector<std::string> kWeightNames = {"diffusion_pytorch_model.safetensors",
                                               "diffusion_pytorch_model.fp16.safetensors"};

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n";
  const size_t b = s.find_first_not_of(ws);
  return b == std::string::npos ? "" : s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// The VAE of folder/vae, its mid-block attention fused when backend says so — except on CUDA: sdpa has no
// flash kernel for its one head of width 512, and the written-out attention beat sdpa's memory-efficient
// kernel there by 6-8 % of a whole ∇-DB training step on an H100 (bench/README.md, 2026-12-06).
AutoencoderKL load_sd_vae(const std::string& folder, AttentionBackend backend, c10::Device device) {
  const std::filesystem::path dir = std::filesystem::path(folder) / "vae";
  VAEConfig config = load_vae_config((dir / "config.json").string());
  config.fused_attention = backend == AttentionBackend::Fused && !device.is_cuda();
  AutoencoderKL vae(config);
  const std::string weights = first_existing(dir, kWeightNames);
  vae->load(load_safetensors(weights), weights);
  return vae;
}

// Flow-UNet options for this problem: the configured widths; GroupNorm 32 (diffusers' default) where
// every width allows it, else the base UNet's group count (tiny test models).
UNetFlowNetOptions flow_options(const ModelConfig& m, const UNetConfig& base, int64_t text_width) {
  require(!m.flow_block_out_channels.empty() && m.flow_layers_per_block >= 1,
          "model.flow_block_out_channels must be non-empty and model.flow_layers_per_block >= 1",
          "the release's flow UNet is [64, 128, 256, 256] with 1 layer per block");
  UNetFlowNetOptions o;
  o.block_out_channels.assign(m.flow_block_out_channels.begin(), m.flow_block_out_channels.end());
  o.layers_per_block = m.flow_layers_per_block;
  o.cross_attention_dim = text_width;
  o.channels = base.in_channels;
  bool all32 = true;
  for (int64_t c : o.block_out_channels) all32 = all32 && c % 32 == 0;
  o.norm_num_groups = all32 ? 32 : base.norm_num_groups;
  for (int64_t c : o.block_out_channels)
    require(c > 0 && c % o.norm_num_groups == 0 && c % o.heads == 0,
            "model.flow_block_out_channels: width " + std::to_string(c) + " is not a multiple of the " +
                std::to_string(o.norm_num_groups) + " GroupNorm groups and " + std::to_string(o.heads) + " heads",
            "use multiples of 32, e.g. [64, 128, 256, 256]");
  return o;
}

}  // namespace sd_problem_detail

void check_diffusers_folder(const std::string& path) {
  namespace fs = std::filesystem;
  using sd_problem_detail::kFolderHint;
  require(!path.empty(), "model.path is empty",
          "set model.path (--model for sample) to a diffusers Stable Diffusion folder");
  require(!fs::exists(path) || fs::is_directory(path), "model folder '" + path + "' is a file, not a folder",
          "pass the folder that holds model_index.json, unet/, vae/, ... (here perhaps '" +
              fs::path(path).parent_path().string() + "')");
  require(fs::is_directory(path), "model folder '" + path + "' does not exist", kFolderHint);
  const fs::path dir(path);
  std::vector<std::string> missing;
  auto need = [&](const std::string& rel) {
    if (!fs::exists(dir / rel)) missing.push_back(rel);
  };
  need("model_index.json");
  need("unet/config.json");
  if (sd_problem_detail::first_existing(dir / "unet", sd_problem_detail::kWeightNames).empty())
    missing.push_back("unet/diffusion_pytorch_model.safetensors");
  need("vae/config.json");
  if (sd_problem_detail::first_existing(dir / "vae", sd_problem_detail::kWeightNames).empty())
    missing.push_back("vae/diffusion_pytorch_model.safetensors");
  need("text_encoder/config.json");
  need("text_encoder/model.safetensors");
  need("tokenizer/vocab.json");
  need("tokenizer/merges.txt");
  need("scheduler/scheduler_config.json");
  if (!missing.empty()) throw Error("model folder '" + path + "' lacks " + join(missing, ", "), kFolderHint);
}

at::ScalarType sd_dtype(ModelDType dtype, c10::Device device) {
  switch (dtype) {
    case ModelDType::Float32: return at::kFloat;
    case ModelDType::BFloat16: return at::kBFloat16;
    case ModelDType::Float16:
      require(device.is_cuda(), "model.dtype float16 needs a CUDA device (the CPU kernels lack half precision)",
              "use bfloat16 or float32 on the CPU");
      return at::kHalf;
    case ModelDType::Float64: break;
  }
  throw Error("model.dtype " + to_string(dtype) + " is for the toy problem", "use float32, bfloat16 or float16");
}

std::vector<std::string> load_prompt_set(const std::string& spec) {
  namespace fs = std::filesystem;
  require(!sd_problem_detail::trim(spec).empty(), "sample.prompts is empty",
          "use simple_animals, a .txt file (one prompt per line) or a literal prompt");
  if (spec == "simple_animals") return sd_problem_detail::kSimpleAnimals;
  if (spec.size() > 4 && spec.compare(spec.size() - 4, 4, ".txt") == 0) {
    require(fs::exists(spec), "prompt file '" + spec + "' does not exist",
            "sample.prompts names a .txt file with one prompt per line, or is a prompt itself");
    std::vector<std::string> prompts;
    std::istringstream lines(read_file(spec));
    for (std::string line; std::getline(lines, line);) {
      std::string p = sd_problem_detail::trim(line);
      if (!p.empty()) prompts.push_back(p);
    }
    require(!prompts.empty(), "prompt file '" + spec + "' holds no prompts", "write one prompt per line");
    return prompts;
  }
  return {spec};
}

StableDiffusion make_sd_pipeline(const Config& config) {
  const ModelConfig& m = config.model;
  require(m.kind == "sd", "model.kind is '" + m.kind + "', not sd", "set model.kind=sd for a diffusers folder");
  check_diffusers_folder(m.path);
  const c10::Device device = parse_device(config.run.device);
  const at::ScalarType dtype = sd_dtype(m.dtype, device);
  const AttentionBackend backend = m.attention;
  LoRAConfig lora;
  require(m.lora_rank >= 1 && m.lora_alpha > 0, "model.lora_rank must be >= 1 and model.lora_alpha > 0",
          "the release uses rank 8, alpha 8");
  lora.rank = m.lora_rank;
  lora.alpha = m.lora_alpha;
  lora.init = m.lora_init;

  UNet2DConditionModel unet = load_unet(m.path, dtype, device);
  set_attention_backend(*unet, backend);
  const UNetConfig unet_config = unet->config();
  StableDiffusion sd;
  sd.denoiser = std::make_shared<SDDenoiser>(std::move(unet), lora);
  sd.denoiser->lora().gate().merged_backward = m.lora_merged_backward;
  const bool channels_last = channels_last_on(m.memory_format, device.is_cuda());
  sd.denoiser->set_channels_last(channels_last);
  Problem& p = sd.problem;
  p.denoiser = sd.denoiser;
  p.device = device;
  p.latent_dtype = dtype;
  auto text = std::make_shared<CLIPPromptEncoder>(CLIPPromptEncoder::from_folder(m.path, device, dtype));
  p.text = text;
  p.uncond_context = text->encode({""});  // [1, L, D]
  const int64_t D = p.uncond_context.size(2);
  require(unet_config.cross_attention_dim[0] == D,
          "the text encoder of '" + m.path + "' gives " + std::to_string(D) +
              "-wide hidden states but the UNet's cross-attention takes " +
              std::to_string(unet_config.cross_attention_dim[0]),
          "the folder mixes parts of different models (SD-1.x: 768, SD-2.x: 1024)");
  AutoencoderKL vae = sd_problem_detail::load_sd_vae(m.path, backend, device);
  require(vae->config().latent_channels == unet_config.in_channels,
          "the VAE of '" + m.path + "' has " + std::to_string(vae->config().latent_channels) +
              " latent channels but the UNet takes " + std::to_string(unet_config.in_channels),
          "the folder mixes parts of different models");
  auto decoder = std::make_shared<VAEDecoder>(std::move(vae), device, dtype);
  decoder->set_channels_last(channels_last);
  p.decoder = decoder;

  const SchedulerFileConfig sc = read_scheduler_config(m.path + "/scheduler/scheduler_config.json");
  p.scheduler = make_scheduler(config.sample, NoiseSchedule(sc.schedule), sc.steps_offset, sc.timestep_spacing);
  p.guidance_scale = config.sample.guidance_scale;
  p.latent_shape = {unet_config.in_channels, unet_config.sample_size, unet_config.sample_size};
  p.prompts = load_prompt_set(config.sample.prompts);
  return sd;
}

StableDiffusion make_stable_diffusion(const Config& config) {
  StableDiffusion sd = make_sd_pipeline(config);
  Problem& p = sd.problem;
  p.reward = reward_registry().create(config.reward.name, config.reward, p.device);
  p.features = reward_embedding_features(p.reward);
  if (config.reward.cuda_graph && p.device.is_cuda()) p.reward = graphed_reward(p.reward);
  const UNetFlowNetOptions flow =
      sd_problem_detail::flow_options(config.model, sd.denoiser->unet()->config(), p.uncond_context.size(2));
  const c10::Device device = p.device;
  p.make_flow_net = [flow, device]() { return std::make_shared<UNetFlowNet>(flow, device); };
  p.make_scalar_flow_net = [flow, device]() { return std::make_shared<UNetScalarFlowNet>(flow, device); };
  return sd;
}

SDEvaluator::Drawn SDEvaluator::draw(Problem& problem, Adapter adapter, bool grid, bool latents) const {
  const int64_t n = config_.eval.n_samples;
  const int64_t kGridMax = 64;
  const int64_t kFinalMaxBytes = int64_t{64} << 20;
  const EvalShards shards(n, config_.sample.batch_size, config_.eval.seed, comm_);
  int64_t sample_numel = 1;
  for (int64_t d : problem.latent_shape) sample_numel *= d;
  const bool keep_latents = latents && n * (sample_numel + 1) * 4 < kFinalMaxBytes;
  const std::vector<int64_t> prompt_index = cycled_prompt_index(n, static_cast<int64_t>(problem.prompts.size()));

  std::vector<at::Tensor> rewards, features, kept, shown;
  for (const EvalChunk& c : shards.mine()) {
    // Initial noise from a CPU generator (the same on every device), step noise on the problem's device.
    auto [gen, noise_gen] = chunk_generators(c, problem.device);
    std::vector<int64_t> shape{c.size()};
    shape.insert(shape.end(), problem.latent_shape.begin(), problem.latent_shape.end());
    at::Tensor x0 = at::randn(shape, gen, at::TensorOptions().dtype(problem.latent_dtype));  // [b, C, h, w]
    std::vector<std::string> prompts;
    for (int64_t i = c.begin; i < c.end; ++i) prompts.push_back(problem.prompts[prompt_index[i]]);
    at::Tensor z = sample_final(problem, x0.to(problem.device), prompts, noise_gen, adapter);  // [b, C, h, w]
    at::NoGradGuard no_grad;
    at::Tensor images = problem.decoder->decode(z);  // [b, 3, H, W] float32 in [0, 1]
    rewards.push_back(problem.reward->score(images, prompts).to(at::kFloat).cpu());
    if (problem.features) features.push_back(features_of(problem, images));  // [b, F]
    if (keep_latents) kept.push_back(z.to(at::kFloat).cpu());
    if (grid) shown.push_back(images.slice(0, 0, std::max<int64_t>(0, std::min(c.end, kGridMax) - c.begin)).cpu());
  }
  Drawn d;
  d.reward = shards.gather(rewards, "SD evaluation rewards");                            // [n]
  if (problem.features) d.features = shards.gather(features, "SD evaluation features");  // [n, F]
  if (keep_latents) d.latents = shards.gather(kept, "SD evaluation latents");            // [n, C, h, w]
  if (grid) d.grid = shards.gather(shown, "SD evaluation grid", kGridMax);               // [min(n, 64), 3, H, W]
  d.prompt_index = prompt_index;
  return d;
}

std::map<std::string, double> SDEvaluator::evaluate(Problem& problem, const RunDir& run, int epoch, bool final) {
  const Drawn d = draw(problem, Adapter::On, /*grid=*/true, /*latents=*/final);
  const int64_t n = d.reward.size(0);
  std::map<std::string, double> out;
  out["reward_eval"] = d.reward.mean().item<double>();
  out["reward_eval_std"] = n > 1 ? d.reward.std().item<double>() : 0.0;
  auto drift = reference_.compare(problem, d.features, d.prompt_index,
                                  [&](Adapter a) { return draw(problem, a, false, false).features; });
  out.insert(drift.begin(), drift.end());
  if (comm_ != nullptr && !comm_->is_main()) return out;  // the main process writes

  const int n_cols = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(d.grid.size(0)))));
  char name[64];
  if (epoch < 0)
    std::snprintf(name, sizeof name, "samples/pretrained.png");
  else
    std::snprintf(name, sizeof name, "samples/epoch_%04d.png", epoch);
  write_png(run.path(name), make_grid(d.grid, n_cols));
  images_ = {{epoch < 0 ? "samples_pretrained" : "samples", run.path(name)}};
  if (final) {
    denoiser_->lora().save(run.root(), LoRAFormat::Diffusers);
    if (d.latents.defined())
      save_safetensors(run.path("final_samples.safetensors"),
                       std::vector<std::pair<std::string, at::Tensor>>{{"latents", d.latents}, {"rewards", d.reward}});
    else
      NABLAGFN_INFO("final_samples.safetensors not written: %lld samples exceed 64 MiB", static_cast<long long>(n));
  }
  return out;
}

namespace {
class SDBundle : public ProblemBundle {
 public:
  explicit SDBundle(const Config& config) : sd_(make_stable_diffusion(config)), evaluator_(sd_.denoiser, config) {}
  Problem& problem() override { return sd_.problem; }
  Evaluator* evaluator() override { return &evaluator_; }

 private:
  StableDiffusion sd_;
  SDEvaluator evaluator_;
};
}  // namespace

std::unique_ptr<ProblemBundle> make_sd_bundle(const Config& config) { return std::make_unique<SDBundle>(config); }

}  // namespace nablagfn
