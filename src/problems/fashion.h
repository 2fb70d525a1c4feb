#pragma once
// The embedded default text-to-image model (model.kind "fashion"): a small UNet2DConditionModel on
// 32×32 Fashion-MNIST pixels, prompted by its ten class names through a learned class embedding
// (models/class_prompt_encoder.h), finetuned through SD's code path: the same UNet class with a LoRA
// adapter (SDDenoiser), classifier-free guidance against the empty prompt, the scheduler of the folder's
// scheduler/scheduler_config.json. The decoder is the identity on pixels (models/pixel_decoder.h). The
// folder is what `nablagfn pretrain` writes; assets/fashion ships one.
// Legend: B batch, P prompts, n samples per prompt, D classifier feature width.
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>

#include "algorithms/problem.h"
#include "algorithms/trainer.h"
#include "config/config.h"
#include "models/class_prompt_encoder.h"
#include "models/fashion_classifier.h"
#include "models/sd_denoiser.h"
#include "problems/eval_metrics.h"
#include "problems/eval_shards.h"
#include "problems/factory.h"

namespace nablagfn {

// Files of a fashion model folder, relative to it.
struct FashionFiles {
  static constexpr const char* kUNetDir = "unet";
  static constexpr const char* kScheduler = "scheduler/scheduler_config.json";
  static constexpr const char* kPromptEmbedding = "prompt_embedding.safetensors";
  static constexpr const char* kClassifier = "classifier.safetensors";
};

// model.path, or when empty the shipped assets/fashion (under the working directory, else under the
// source tree this binary was built from). Error listing the missing files of the folder.
std::string fashion_model_path(const ModelConfig& model);

struct FashionModel {
  Problem problem;
  std::shared_ptr<SDDenoiser> denoiser;  // problem.denoiser, typed (LoRA save)
  std::shared_ptr<ClassPromptEncoder> text;
  FashionClassifier classifier{nullptr};
};

// The sampling pipeline (no reward, no flow network) of config.model / config.sample / config.run.device;
// problem.prompts are the ten class names.
FashionModel make_fashion_pipeline(const Config& config);
// The training problem: the pipeline plus reward.name from the reward registry and make_flow_net
// (UNetFlowNet of model.flow_block_out_channels, without attention at the 32×32 level).
FashionModel make_fashion(const Config& config);

// n samples of each prompt, drawn in the chunks of shards (problems/eval_shards.h; its set is the P·n rows:
// initial noise from each chunk's CPU generator, step noise on the problem's device) and decoded -> images
// [P·n, 1, 32, 32] in [0, 1] on the CPU, prompt-major (rows p·n .. p·n + n − 1 show prompts[p]).
at::Tensor sample_per_prompt(Problem& problem, const std::vector<std::string>& prompts, int64_t n,
                             const EvalShards& shards, Adapter adapter);

// Share of images [P·n, 1, 32, 32] (prompt-major as above) that the classifier assigns to their prompt's class.
double class_agreement(FashionClassifier& classifier, const ClassPromptEncoder& text, const at::Tensor& images,
                       const std::vector<std::string>& prompts);

// Evaluation: eval.n_samples / 10 samples per class in chunks of sample.batch_size from seeds eval.seed + k
// (shared among the processes of a data-parallel run, which gather the images); reward_eval, reward_eval_std,
// class_agreement, diversity and prior_fid on the classifier's features against the pretrained model's
// samples from the same noise; samples/epoch_NNNN.png (one row per class). At the end also the pretrained
// model's own figures (pretrained_reward_eval, pretrained_class_agreement), before/after grids
// per prompt (samples/before_<class>.png, samples/after_<class>.png) and the LoRA in the diffusers layout.
class FashionEvaluator : public Evaluator {
 public:
  FashionEvaluator(FashionModel& model, const Config& config) : model_(model), config_(config) {}
  std::map<std::string, double> evaluate(Problem& problem, const RunDir& run, int epoch, bool final) override;
  bool share_with(Collectives* comm) override {
    comm_ = comm;
    return true;
  }

 private:
  FashionModel& model_;
  const Config& config_;
  Collectives* comm_ = nullptr;
  PriorReference reference_;
  at::Tensor before_;  // [P·n, 1, H, W] the pretrained model's evaluation samples (CPU), drawn once
};

// model.kind "fashion" for problems/factory.cpp.
std::unique_ptr<ProblemBundle> make_fashion_bundle(const Config& config);

}  // namespace nablagfn
