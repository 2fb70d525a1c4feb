#pragma once
// `nablagfn pretrain` of the embedded Fashion-MNIST model (config.pretrain): writes a model folder that
// model.kind "fashion" loads (problems/fashion.h):
//   unet/config.json, unet/diffusion_pytorch_model.safetensors   the UNet2DConditionModel (EMA weights)
//   scheduler/scheduler_config.json                               linear DDPM schedule, 1000 steps
//   prompt_embedding.safetensors                                  the class-name context tokens (EMA)
//   classifier.safetensors                                        the classifier CNN of the metrics
//   pretrain.json                                                 classifier test accuracy, class agreement
// The diffusion model learns the ε-prediction loss E‖ε − ε_θ(√ᾱ x₀ + √(1−ᾱ) ε, τ, c)‖² (Ho et al. 2020,
// Eq. 14) with the class prompt c replaced by the empty prompt with probability cfg_dropout (Ho &
// Salimans 2022), Adam with linear warm-up, gradient norm clipped at 1.
#include "config/config.h"
#include "io/run_dir.h"
#include "models/class_prompt_encoder.h"
#include "models/fashion_classifier.h"
#include "models/unet2d_condition.h"
#include "schedulers/noise_schedule.h"

namespace nablagfn {

// The UNet of config.pretrain: 1 channel, 32×32, no attention at the 32×32 level, cross-attention on
// the context tokens below it (SD's block pattern otherwise).
UNetConfig fashion_unet_config(const PretrainConfig& c);

// The linear DDPM schedule of Ho et al. 2020 (β from 1e-4 to 0.02 over 1000 steps) the model trains on.
NoiseScheduleConfig fashion_noise_schedule();

// Writes a model folder (the files listed above but pretrain.json) into dir, creating it.
void save_fashion_model(const std::string& dir, UNet2DConditionModel& unet, ClassEmbedding& embedding,
                        FashionClassifier& classifier);

// Trains the classifier, then the diffusion model, then measures the class agreement of the pretrained
// model's samples (config.sample's sampler and guidance); every file goes into run.
void pretrain_fashion(const Config& config, const RunDir& run);

}  // namespace nablagfn
