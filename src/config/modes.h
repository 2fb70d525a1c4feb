#pragma once
// The modes of the shared config sections (config.h), each an enum with its names. What each value means
// is documented on its config key (`nablagfn config --defaults`).
#include "config/enum_names.h"

namespace nablagfn {

// algorithm.gamma_mode: γ of the predicted-reward gradient, ᾱ, √ᾱ or 1.
enum class GammaMode { Squared, Sqrt, None };
NABLAGFN_ENUM_NAMES(GammaMode, {GammaMode::Squared, "squared"}, {GammaMode::Sqrt, "sqrt"}, {GammaMode::None, "none"});

// algorithm.guess_model: whose x̂ the predicted-reward guess uses.
enum class GuessModel { Policy, Pretrained };
NABLAGFN_ENUM_NAMES(GuessModel, {GuessModel::Policy, "policy"}, {GuessModel::Pretrained, "pretrained"});

// algorithm.reverse_target: what g_φ + G regresses in the reverse condition.
enum class ReverseTarget { Sample, Expected, Backup };
NABLAGFN_ENUM_NAMES(ReverseTarget, {ReverseTarget::Sample, "sample"}, {ReverseTarget::Expected, "expected"},
                    {ReverseTarget::Backup, "backup"});

// algorithm.fold_passes: how nabla_db forms its terms (folded VJPs or one pass per term).
enum class FoldPasses { Auto, Folded, Separate };
NABLAGFN_ENUM_NAMES(FoldPasses, {FoldPasses::Auto, "auto"}, {FoldPasses::Folded, "folded"},
                    {FoldPasses::Separate, "separate"});

// algorithm.score_precision: the dtype nabla_db forms its scores and predicted-reward gradients in.
enum class ScorePrecision { Float32, Float64, Model };
NABLAGFN_ENUM_NAMES(ScorePrecision, {ScorePrecision::Float32, "float32"}, {ScorePrecision::Float64, "float64"},
                    {ScorePrecision::Model, "model"});

// algorithm.condition_weighting: weight of each squared ∇-DB residual.
enum class ConditionWeighting { None, Noise, Eps };
NABLAGFN_ENUM_NAMES(ConditionWeighting, {ConditionWeighting::None, "none"}, {ConditionWeighting::Noise, "noise"},
                    {ConditionWeighting::Eps, "eps"});

// model.flow_conditioning: the text input of g_φ.
enum class FlowConditioning { Auto, Prompt, Zero };
NABLAGFN_ENUM_NAMES(FlowConditioning, {FlowConditioning::Auto, "auto"}, {FlowConditioning::Prompt, "prompt"},
                    {FlowConditioning::Zero, "zero"});

// model.memory_format: the layout of the SD UNet's and VAE decoder's activations; auto = channels_last on
// CUDA, contiguous (NCHW) on the CPU.
enum class MemoryFormat { Auto, ChannelsLast, Contiguous };
NABLAGFN_ENUM_NAMES(MemoryFormat, {MemoryFormat::Auto, "auto"}, {MemoryFormat::ChannelsLast, "channels_last"},
                    {MemoryFormat::Contiguous, "contiguous"});
inline bool channels_last_on(MemoryFormat f, bool cuda) {
  return f == MemoryFormat::ChannelsLast || (f == MemoryFormat::Auto && cuda);
}

// train.lr_schedule.
enum class LRSchedule { Constant, Cosine };
NABLAGFN_ENUM_NAMES(LRSchedule, {LRSchedule::Constant, "constant"}, {LRSchedule::Cosine, "cosine"});

// model.dtype: the dtype of the frozen networks (float64 for the toy's exact tests only).
enum class ModelDType { Float32, BFloat16, Float16, Float64 };
NABLAGFN_ENUM_NAMES(ModelDType, {ModelDType::Float32, "float32"}, {ModelDType::BFloat16, "bfloat16"},
                    {ModelDType::Float16, "float16"}, {ModelDType::Float64, "float64"});

}  // namespace nablagfn
