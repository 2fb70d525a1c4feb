// Pretraining of the embedded Fashion-MNIST model: see fashion_pretrain.h.
// Legend: B batch, N training images, τ DDPM timestep.
#include "problems/fashion_pretrain.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "algorithms/parameter_ema.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "io/atomic_file.h"
#include "io/image_tensor.h"
#include "io/tensor_io.h"
#include "models/class_prompt_encoder.h"
#include "models/fashion_classifier.h"
#include "problems/fashion.h"
#include "problems/fashion_data.h"
#include "schedulers/noise_schedule.h"

namespace nablagfn {

namespace {

// The UNetConfig as the diffusers config.json that load_unet reads back.
nlohmann::json unet_config_json(const UNetConfig& c) {
  return {{"_class_name", "UNet2DConditionModel"},
          {"in_channels", c.in_channels},
          {"out_channels", c.out_channels},
          {"down_block_types", c.down_block_types},
          {"up_block_types", c.up_block_types},
          {"block_out_channels", c.block_out_channels},
          {"layers_per_block", c.layers_per_block},
          {"norm_num_groups", c.norm_num_groups},
          {"cross_attention_dim", c.cross_attention_dim},
          {"attention_head_dim", c.num_attention_heads},
          {"sample_size", c.sample_size}};
}

// Rows drawn uniformly with replacement from [0, n) -> [B] int64.
at::Tensor draw_rows(int64_t n, int64_t batch, at::Generator& gen) {
  return at::randint(n, {batch}, gen, at::TensorOptions().dtype(at::kLong));
}

// Classifier CNN on the training split; returns the test accuracy.
double train_classifier(FashionClassifier& classifier, const FashionMNIST& train, const FashionMNIST& test,
                        const PretrainConfig& c, at::Generator& gen) {
  torch::optim::Adam opt(classifier->parameters(), torch::optim::AdamOptions(c.classifier_lr));
  ProgressBar bar("classifier", c.classifier_steps);
  for (int step = 0; step < c.classifier_steps; ++step) {
    at::Tensor rows = draw_rows(train.images.size(0), c.batch_size, gen).to(train.images.device());
    at::Tensor loss = at::cross_entropy_loss(classifier->logits(train.images.index_select(0, rows)),
                                             train.labels.index_select(0, rows));
    opt.zero_grad();
    loss.backward();
    opt.step();
    bar.update(1, "loss " + std::to_string(loss.item<double>()));
  }
  bar.finish();
  at::NoGradGuard no_grad;
  classifier->eval();
  int64_t correct = 0;
  for (int64_t b = 0; b < test.images.size(0); b += 1000) {
    at::Tensor logits = classifier->logits(test.images.slice(0, b, b + 1000));  // [1000, 10]
    correct += logits.argmax(1).eq(test.labels.slice(0, b, b + 1000)).sum().item<int64_t>();
  }
  return static_cast<double>(correct) / static_cast<double>(test.images.size(0));
}

void check_pretrain_config(const PretrainConfig& c) {
  require(c.n_steps >= 1 && c.batch_size >= 1 && c.classifier_steps >= 1 && c.n_agreement_samples >= 1,
          "pretrain.n_steps, batch_size, classifier_steps and n_agreement_samples must be >= 1",
          "configs/fashion_pretrain.jsonc has working values");
  require(c.lr > 0 && c.classifier_lr > 0 && c.ema_decay >= 0 && c.ema_decay < 1 && c.cfg_dropout >= 0 &&
              c.cfg_dropout < 1,
          "pretrain.lr and classifier_lr must be > 0, ema_decay and cfg_dropout in [0, 1)",
          "configs/fashion_pretrain.jsonc has working values");
  require(c.block_out_channels.size() >= 2, "pretrain.block_out_channels needs at least two levels",
          "e.g. [32, 64, 64]: 32x32, 16x16, 8x8");
  for (int w : c.block_out_channels)
    require(w > 0 && w % c.norm_num_groups == 0 && w % c.attention_heads == 0,
            "pretrain.block_out_channels: width " + std::to_string(w) + " is not a multiple of norm_num_groups (" +
                std::to_string(c.norm_num_groups) + ") and attention_heads (" + std::to_string(c.attention_heads) +
                ")",
            "use multiples of 16 with 8 groups and 4 heads");
}

}  // namespace

UNetConfig fashion_unet_config(const PretrainConfig& c) {
  const size_t n = c.block_out_channels.size();
  UNetConfig u;
  u.in_channels = 1;
  u.out_channels = 1;
  u.sample_size = 32;
  u.block_out_channels.assign(c.block_out_channels.begin(), c.block_out_channels.end());
  u.down_block_types.assign(n, "CrossAttnDownBlock2D");
  u.down_block_types.front() = "DownBlock2D";
  u.up_block_types.assign(n, "CrossAttnUpBlock2D");
  u.up_block_types.back() = "UpBlock2D";
  u.layers_per_block.assign(n, 1);
  u.norm_num_groups = c.norm_num_groups;
  u.cross_attention_dim.assign(n, c.context_dim);
  u.transformer_layers_per_block.assign(n, 1);
  u.num_attention_heads.assign(n, c.attention_heads);
  u.validate("pretrain");
  return u;
}

NoiseScheduleConfig fashion_noise_schedule() {
  NoiseScheduleConfig s;
  s.beta_start = 1e-4;
  s.beta_end = 0.02;
  s.beta_schedule = "linear";
  return s;
}

void save_fashion_model(const std::string& dir, UNet2DConditionModel& unet, ClassEmbedding& embedding,
                        FashionClassifier& classifier) {
  namespace fs = std::filesystem;
  const fs::path root(dir);
  fs::create_directories(root / FashionFiles::kUNetDir);
  fs::create_directories((root / FashionFiles::kScheduler).parent_path());
  write_file_atomic((root / FashionFiles::kUNetDir / "config.json").string(),
                    unet_config_json(unet->config()).dump(2) + "\n");
  std::vector<std::pair<std::string, at::Tensor>> unet_tensors;
  for (const auto& item : unet->named_parameters()) unet_tensors.emplace_back(item.key(), item.value().detach());
  save_safetensors((root / FashionFiles::kUNetDir / "diffusion_pytorch_model.safetensors").string(), unet_tensors);
  save_class_embedding((root / FashionFiles::kPromptEmbedding).string(), embedding);
  save_fashion_classifier((root / FashionFiles::kClassifier).string(), classifier);
  const NoiseScheduleConfig s = fashion_noise_schedule();
  const nlohmann::json scheduler = {{"_class_name", "DDPMScheduler"}, {"num_train_timesteps", s.n_train_timesteps},
                                    {"beta_start", s.beta_start},       {"beta_end", s.beta_end},
                                    {"beta_schedule", s.beta_schedule}, {"prediction_type", "epsilon"},
                                    {"steps_offset", 1},                {"timestep_spacing", "leading"}};
  write_file_atomic((root / FashionFiles::kScheduler).string(), scheduler.dump(2) + "\n");
}

void pretrain_fashion(const Config& config, const RunDir& run) {
  const PretrainConfig& c = config.pretrain;
  check_pretrain_config(c);
  const c10::Device device = parse_device(config.run.device);
  at::Generator gen = at::detail::createCPUGenerator(static_cast<uint64_t>(config.run.seed));
  FashionMNIST train = load_fashion_mnist(c.data, "train");
  FashionMNIST test = load_fashion_mnist(c.data, "t10k");
  NABLAGFN_INFO("Fashion-MNIST: %lld training, %lld test images from %s", static_cast<long long>(train.images.size(0)),
                static_cast<long long>(test.images.size(0)), c.data.c_str());

  // 1. The classifier of the metrics.
  FashionClassifier classifier;
  classifier->to(device);
  train.images = train.images.to(device);
  train.labels = train.labels.to(device);
  test.images = test.images.to(device);
  test.labels = test.labels.to(device);
  const double accuracy = train_classifier(classifier, train, test, c, gen);
  NABLAGFN_INFO("classifier test accuracy %.4f", accuracy);

  // 2. The diffusion model and its class embedding, trained jointly.
  const UNetConfig unet_config = fashion_unet_config(c);
  UNet2DConditionModel unet(unet_config);
  const int64_t n_classes = static_cast<int64_t>(fashion_class_names().size());
  ClassEmbedding embedding(n_classes, c.context_tokens, c.context_dim);
  unet->to(device);
  embedding->to(device);
  std::vector<at::Tensor> params = unet->parameters();
  for (const auto& p : embedding->parameters()) params.push_back(p);
  torch::optim::Adam opt(params, torch::optim::AdamOptions(c.lr));
  ParameterEMA ema(params, c.ema_decay);  // the weights that are saved
  const NoiseSchedule schedule(fashion_noise_schedule());
  at::Tensor alpha_bar = at::tensor(schedule.alphas_cumprod(), at::kDouble).to(at::kFloat).to(device);  // [1000]

  ProgressBar bar("diffusion model", c.n_steps);
  double loss_avg = 0.0;
  for (int step = 0; step < c.n_steps; ++step) {
    const double lr = c.lr * std::min(1.0, (step + 1.0) / std::max(1, c.warmup_steps));
    for (auto& group : opt.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
    at::Tensor rows = draw_rows(train.images.size(0), c.batch_size, gen).to(device);
    at::Tensor x0 = train.images.index_select(0, rows) * 2.0 - 1.0;                          // [B, 1, 32, 32] in [-1, 1]
    at::Tensor labels = train.labels.index_select(0, rows);                                   // [B]
    at::Tensor drop = at::rand({c.batch_size}, gen).lt(c.cfg_dropout).to(device);             // [B] bool
    at::Tensor class_ids = at::where(drop, at::full_like(labels, n_classes), labels);          // [B]
    at::Tensor tau = at::randint(schedule.n_train_timesteps(), {c.batch_size}, gen, at::TensorOptions().dtype(at::kLong)).to(device);
    at::Tensor eps = at::randn(x0.sizes(), gen).to(device);                                    // [B, 1, 32, 32]
    at::Tensor ab = alpha_bar.index_select(0, tau).view({-1, 1, 1, 1});                       // [B, 1, 1, 1]
    at::Tensor x_t = ab.sqrt() * x0 + (1.0 - ab).sqrt() * eps;
    // ε-prediction loss, Ho et al. 2020 Eq. 14.
    at::Tensor loss = at::mse_loss(unet->forward(x_t, tau, embedding->forward(class_ids)), eps);
    opt.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(params, 1.0);
    opt.step();
    ema.update();
    loss_avg = step == 0 ? loss.item<double>() : 0.98 * loss_avg + 0.02 * loss.item<double>();
    char extra[48];
    std::snprintf(extra, sizeof extra, "loss %.4f", loss_avg);
    bar.update(1, extra);
  }
  bar.finish();
  ema.copy_to_params();

  save_fashion_model(run.root(), unet, embedding, classifier);

  // 3. Class agreement of the pretrained model's samples, through the problem's own loader.
  Config eval_config = config;
  eval_config.model.kind = "fashion";
  eval_config.model.path = run.root();
  FashionModel model = make_fashion_pipeline(eval_config);
  const EvalShards shards(c.n_agreement_samples * static_cast<int64_t>(model.problem.prompts.size()),
                          config.sample.batch_size, static_cast<uint64_t>(config.eval.seed));
  at::Tensor images = sample_per_prompt(model.problem, model.problem.prompts, c.n_agreement_samples, shards,
                                        Adapter::Off);  // [10·n, 1, 32, 32]
  const double agreement =
      class_agreement(model.classifier, *model.text, images.to(model.problem.device), model.problem.prompts);
  NABLAGFN_INFO("class agreement of the pretrained model's samples %.4f", agreement);
  write_png(run.path("samples/pretrained.png"), make_grid(images, c.n_agreement_samples));
  const nlohmann::json summary = {{"classifier_test_accuracy", accuracy},
                                  {"class_agreement", agreement},
                                  {"final_loss_ema", loss_avg},
                                  {"sample_steps", config.sample.n_steps},
                                  {"guidance_scale", config.sample.guidance_scale}};
  run.write_text("pretrain.json", summary.dump(2) + "\n");
}

}  // namespace nablagfn
