// The embedded Fashion-MNIST problem, its evaluator and bundle: see fashion.h.
#include "problems/fashion.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cctype>
#include <cstdio>
#include <filesystem>

#include "algorithms/trajectory.h"
#include "core/device.h"
#include "core/error.h"
#include "core/strings.h"
#include "io/image_tensor.h"
#include "models/attention.h"
#include "models/pixel_decoder.h"
#include "models/unet_flow_net.h"
#include "models/unet_scalar_flow_net.h"
#include "problems/eval_shards.h"
#include "problems/fashion_data.h"
#include "problems/stable_diffusion.h"
#include "rewards/registry.h"
#include "schedulers/factory.h"

namespace nablagfn {

namespace {

const char* const kPretrainHint = "the folder `nablagfn pretrain --config configs/fashion_pretrain.jsonc` writes, "
                                  "or leave model.path empty for the shipped assets/fashion";

// "t-shirt/top" -> "t-shirt_top": a class name as a file name.
std::string slug(const std::string& name) {
  std::string s;
  for (char c : name) s += std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? c : '_';
  return s;
}

// The classifier's penultimate layer as the embedding of diversity and prior_fid.
class ClassifierFeatures : public FeatureExtractor {
 public:
  explicit ClassifierFeatures(FashionClassifier classifier) : classifier_(std::move(classifier)) {}
  std::string name() const override { return "fashion classifier features"; }
  at::Tensor features(const at::Tensor& images) override {
    at::NoGradGuard no_grad;
    return classifier_->features(images).to(at::kFloat).cpu();  // [B, 1, 32, 32] -> [B, D]
  }

 private:
  FashionClassifier classifier_;
};

}  // namespace

std::string fashion_model_path(const ModelConfig& model) {
  namespace fs = std::filesystem;
  std::string path = model.path;
  if (path.empty()) {
    path = "assets/fashion";
    if (!fs::is_directory(path)) path = std::string(NABLAGFN_SOURCE_DIR) + "/assets/fashion";
  }
  require(fs::is_directory(path), "fashion model folder '" + path + "' does not exist", kPretrainHint);
  std::vector<std::string> missing;
  for (const std::string& rel : {std::string(FashionFiles::kUNetDir) + "/config.json",
                                std::string(FashionFiles::kUNetDir) + "/diffusion_pytorch_model.safetensors",
                                std::string(FashionFiles::kScheduler), std::string(FashionFiles::kPromptEmbedding),
                                std::string(FashionFiles::kClassifier)})
    if (!fs::exists(fs::path(path) / rel)) missing.push_back(rel);
  if (!missing.empty()) throw Error("fashion model folder '" + path + "' lacks " + join(missing, ", "), kPretrainHint);
  return path;
}

FashionModel make_fashion_pipeline(const Config& config) {
  const ModelConfig& m = config.model;
  require(m.kind == "fashion", "model.kind is '" + m.kind + "', not fashion", "set model.kind=fashion");
  const std::string path = fashion_model_path(m);
  const c10::Device device = parse_device(config.run.device);
  require(m.lora_rank >= 1 && m.lora_alpha > 0, "model.lora_rank must be >= 1 and model.lora_alpha > 0",
          "configs/fashion_*.jsonc use rank 4, alpha 4");
  LoRAConfig lora;
  lora.rank = m.lora_rank;
  lora.alpha = m.lora_alpha;
  lora.init = m.lora_init;

  // The model is small and trained in float32: model.dtype does not apply.
  UNet2DConditionModel unet = load_unet(path, at::kFloat, device);
  set_attention_backend(*unet, m.attention);
  const UNetConfig unet_config = unet->config();
  FashionModel fm;
  fm.denoiser = std::make_shared<SDDenoiser>(std::move(unet), lora);
  fm.denoiser->lora().gate().merged_backward = m.lora_merged_backward;
  fm.text = std::make_shared<ClassPromptEncoder>(
      ClassPromptEncoder::from_file(path + "/" + FashionFiles::kPromptEmbedding, fashion_class_names(), device));
  fm.classifier = load_fashion_classifier(path + "/" + FashionFiles::kClassifier);
  fm.classifier->to(device);
  fm.classifier->eval();

  Problem& p = fm.problem;
  p.denoiser = fm.denoiser;
  p.text = fm.text;
  p.device = device;
  p.latent_dtype = at::kFloat;
  p.uncond_context = fm.text->encode({""});  // [1, L, D]
  require(p.uncond_context.size(2) == unet_config.cross_attention_dim[0],
          "the prompt embedding of '" + path + "' is " + std::to_string(p.uncond_context.size(2)) +
              " wide but the UNet's cross-attention takes " + std::to_string(unet_config.cross_attention_dim[0]),
          "the folder mixes files of different pretraining runs");
  p.decoder = std::make_shared<PixelDecoder>();
  const SchedulerFileConfig sc = read_scheduler_config(path + "/" + FashionFiles::kScheduler);
  p.scheduler = make_scheduler(config.sample, NoiseSchedule(sc.schedule), sc.steps_offset, sc.timestep_spacing);
  p.guidance_scale = config.sample.guidance_scale;
  p.latent_shape = {unet_config.in_channels, unet_config.sample_size, unet_config.sample_size};
  p.prompts = fashion_class_names();
  p.features = std::make_shared<ClassifierFeatures>(fm.classifier);
  return fm;
}

FashionModel make_fashion(const Config& config) {
  FashionModel fm = make_fashion_pipeline(config);
  Problem& p = fm.problem;
  p.reward = reward_registry().create(config.reward.name, config.reward, p.device);
  const ModelConfig& m = config.model;
  require(!m.flow_block_out_channels.empty() && m.flow_layers_per_block >= 1,
          "model.flow_block_out_channels must be non-empty and model.flow_layers_per_block >= 1",
          "configs/fashion_nabla_db.jsonc uses [16, 32, 32] with 1 layer per block");
  UNetFlowNetOptions flow;
  flow.block_out_channels.assign(m.flow_block_out_channels.begin(), m.flow_block_out_channels.end());
  flow.layers_per_block = m.flow_layers_per_block;
  flow.cross_attention_dim = p.uncond_context.size(2);
  flow.channels = p.latent_shape[0];
  flow.norm_num_groups = fm.denoiser->unet()->config().norm_num_groups;
  flow.heads = 4;
  flow.attention_at_top = false;  // self-attention over 32×32 = 1024 tokens would dominate the cost
  for (int64_t c : flow.block_out_channels)
    require(c > 0 && c % flow.norm_num_groups == 0 && c % flow.heads == 0,
            "model.flow_block_out_channels: width " + std::to_string(c) + " is not a multiple of the " +
                std::to_string(flow.norm_num_groups) + " GroupNorm groups and " + std::to_string(flow.heads) +
                " heads",
            "use multiples of 16, e.g. [16, 32, 32]");
  const c10::Device device = p.device;
  p.make_flow_net = [flow, device]() { return std::make_shared<UNetFlowNet>(flow, device); };
  p.make_scalar_flow_net = [flow, device]() { return std::make_shared<UNetScalarFlowNet>(flow, device); };
  return fm;
}

at::Tensor sample_per_prompt(Problem& problem, const std::vector<std::string>& prompts, int64_t n,
                             const EvalShards& shards, Adapter adapter) {
  TORCH_CHECK(shards.n() == n * static_cast<int64_t>(prompts.size()), "sample_per_prompt: ", shards.n(),
              " evaluation rows for ", prompts.size(), " prompts x ", n);
  std::vector<at::Tensor> images;
  for (const EvalChunk& c : shards.mine()) {
    auto [gen, noise_gen] = chunk_generators(c, problem.device);
    std::vector<int64_t> shape{c.size()};
    shape.insert(shape.end(), problem.latent_shape.begin(), problem.latent_shape.end());
    at::Tensor x0 = at::randn(shape, gen);  // [b, C, H, W]
    std::vector<std::string> chunk_prompts;
    for (int64_t i = c.begin; i < c.end; ++i) chunk_prompts.push_back(prompts[i / n]);
    at::Tensor z = sample_final(problem, x0.to(problem.device), chunk_prompts, noise_gen, adapter);
    at::NoGradGuard no_grad;
    images.push_back(problem.decoder->decode(z));  // [b, C, H, W] in [0, 1]
  }
  return shards.gather(images, "fashion evaluation images");  // [P·n, C, H, W]
}

double class_agreement(FashionClassifier& classifier, const ClassPromptEncoder& text, const at::Tensor& images,
                       const std::vector<std::string>& prompts) {
  at::NoGradGuard no_grad;
  const int64_t n = images.size(0) / static_cast<int64_t>(prompts.size());
  at::Tensor wanted = text.class_ids(prompts).repeat_interleave(n).to(images.device());  // [P·n]
  at::Tensor predicted = classifier->logits(images).argmax(1);                            // [P·n]
  return predicted.eq(wanted).to(at::kFloat).mean().item<double>();
}

std::map<std::string, double> FashionEvaluator::evaluate(Problem& problem, const RunDir& run, int epoch, bool final) {
  const auto& prompts = problem.prompts;
  const int64_t n = std::max<int64_t>(1, config_.eval.n_samples / static_cast<int64_t>(prompts.size()));
  const EvalShards shards(n * static_cast<int64_t>(prompts.size()), config_.sample.batch_size, config_.eval.seed,
                          comm_);
  std::vector<std::string> row_prompts;
  std::vector<int64_t> prompt_index;  // prompt-major rows
  for (size_t p = 0; p < prompts.size(); ++p) {
    row_prompts.insert(row_prompts.end(), n, prompts[p]);
    prompt_index.insert(prompt_index.end(), n, static_cast<int64_t>(p));
  }
  std::map<std::string, double> out;
  // One evaluation of the policy (prefix "") or of the pretrained model ("pretrained_"), images on the CPU.
  auto measure = [&](const at::Tensor& images_cpu, const std::string& prefix) {
    at::NoGradGuard no_grad;
    const at::Tensor images = images_cpu.to(problem.device);
    at::Tensor r = problem.reward->score(images, row_prompts).to(at::kFloat).cpu();  // [P·n]
    out[prefix + "reward_eval"] = r.mean().item<double>();
    out[prefix + "reward_eval_std"] = r.numel() > 1 ? r.std().item<double>() : 0.0;
    out[prefix + "class_agreement"] = class_agreement(model_.classifier, *model_.text, images, prompts);
  };
  const at::Tensor after = sample_per_prompt(problem, prompts, n, shards, Adapter::On);  // [P·n, 1, H, W]
  measure(after, "");
  auto draw_before = [&](Adapter adapter) {
    before_ = sample_per_prompt(problem, prompts, n, shards, adapter);  // [P·n, 1, H, W]
    return features_of(problem, before_);
  };
  const at::Tensor after_features = features_of(problem, after);  // [P·n, D]
  for (const auto& [key, value] : reference_.compare(problem, after_features, prompt_index, draw_before))
    out[key] = value;
  if (final && !before_.defined()) draw_before(Adapter::Off);
  if (final) measure(before_, "pretrained_");
  if (comm_ != nullptr && !comm_->is_main()) return out;  // the main process writes
  char name[64];
  std::snprintf(name, sizeof name, "samples/epoch_%04d.png", epoch);
  write_png(run.path(name), make_grid(after, static_cast<int>(n)));
  if (final) {
    for (size_t p = 0; p < prompts.size(); ++p) {
      const int64_t b = static_cast<int64_t>(p) * n;
      write_png(run.path("samples/before_" + slug(prompts[p]) + ".png"), make_grid(before_.slice(0, b, b + n), 8));
      write_png(run.path("samples/after_" + slug(prompts[p]) + ".png"), make_grid(after.slice(0, b, b + n), 8));
    }
    model_.denoiser->lora().save(run.root(), LoRAFormat::Diffusers);
  }
  return out;
}

namespace {
class FashionBundle : public ProblemBundle {
 public:
  explicit FashionBundle(const Config& config) : model_(make_fashion(config)), evaluator_(model_, config) {}
  Problem& problem() override { return model_.problem; }
  Evaluator* evaluator() override { return &evaluator_; }

 private:
  FashionModel model_;
  FashionEvaluator evaluator_;
};
}  // namespace

std::unique_ptr<ProblemBundle> make_fashion_bundle(const Config& config) {
  return std::make_unique<FashionBundle>(config);
}

}  // namespace nablagfn
