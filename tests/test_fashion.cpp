// The embedded Fashion-MNIST default (problems/fashion.h): the dataset reader on the Debian files, and,
// on an untrained tiny model folder written by save_fashion_model (the files `nablagfn pretrain` writes),
// the prompt encoder's closed prompt set and two training epochs of the shipped ∇-GFlowNet demo config,
// which must write the evaluator's metrics, grids and LoRA.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "algorithms/algorithm.h"
#include "algorithms/trainer.h"
#include "config/config.h"
#include "core/device.h"
#include "core/error.h"
#include "io/fs_util.h"
#include "io/run_dir.h"
#include "problems/factory.h"
#include "problems/fashion.h"
#include "problems/fashion_data.h"
#include "problems/eval_shards.h"
#include "problems/fashion_pretrain.h"

using namespace nablagfn;

namespace {
const std::string kData = "/usr/share/datasets/fashion-mnist";

// The demo config on a fresh tiny model folder (UNet widths [16, 16], 2 context tokens of width 16).
Config demo_on_tiny_model(const std::string& name) {
  Config c = load_config(std::string(NABLAGFN_SOURCE_DIR) + "/configs/fashion_nabla_db.jsonc");
  c.run.device = "cpu";
  c.model.path = ::testing::TempDir() + "/fashion_model_" + name;
  PretrainConfig pc;
  pc.block_out_channels = {16, 16};
  pc.context_dim = 16;
  at::manual_seed(0);
  UNet2DConditionModel unet(fashion_unet_config(pc));
  ClassEmbedding embedding(10, 2, 16);
  FashionClassifier classifier;
  save_fashion_model(c.model.path, unet, embedding, classifier);
  return c;
}
}  // namespace

TEST(Fashion, TestSplit) {
  ASSERT_TRUE(std::filesystem::exists(kData)) << kData << " is missing: install Debian's dataset-fashion-mnist (make deps)";
  FashionMNIST test = load_fashion_mnist(kData, "t10k");
  ASSERT_EQ(test.images.sizes().vec(), (std::vector<int64_t>{10000, 1, 32, 32}));
  EXPECT_EQ(test.images.slice(2, 0, 2).abs().max().item<double>(), 0.0);  // the padding border
  EXPECT_GE(test.labels.min().item<int64_t>(), 0);
  EXPECT_LE(test.labels.max().item<int64_t>(), 9);
  EXPECT_EQ(test.labels.bincount().min().item<int64_t>(), 1000);  // 1000 test images per class
}

TEST(Fashion, PromptsAreTheClassNames) {
  FashionModel model = make_fashion_pipeline(demo_on_tiny_model("prompts"));
  EXPECT_EQ(model.problem.prompts, fashion_class_names());
  at::Tensor ids = model.text->class_ids({"trouser", "", "ankle boot"});
  EXPECT_EQ(ids[0].item<int64_t>(), 1);
  EXPECT_EQ(ids[1].item<int64_t>(), 10);
  EXPECT_EQ(ids[2].item<int64_t>(), 9);
  EXPECT_THROW(model.text->class_ids({"cat"}), Error);
  EXPECT_EQ(model.problem.uncond_context.dim(), 3);
}

TEST(Fashion, TwoTinyEpochsOfTheDemoConfig) {
  Config c = demo_on_tiny_model("epochs");
  c.train.n_epochs = 2;
  c.sample.n_steps = 4;
  c.sample.batch_size = 4;
  c.sample.n_batches_per_epoch = 1;
  c.train.batch_size = 4;
  c.train.grad_accum_steps = 1;
  c.train.save_every = 0;
  c.eval.every = 1;
  c.eval.n_samples = 10;
  c.model.flow_block_out_channels = {16, 16};
  validate(c);
  seed_default_generators(0);
  auto bundle = make_problem(c);
  auto algorithm = algorithm_registry().create(c.algorithm.name, bundle->problem(), c);
  const std::string dir = ::testing::TempDir() + "/fashion_smoke";
  remove_tree(dir);
  RunDir run = RunDir::create(dir, false);
  TrainSummary s = train(bundle->problem(), *algorithm, c, run, bundle->evaluator());
  EXPECT_EQ(s.epochs_done, 2);
  for (const char* key : {"reward_eval", "class_agreement", "pretrained_reward_eval", "pretrained_class_agreement"}) {
    ASSERT_TRUE(s.final_metrics.count(key)) << key;
    EXPECT_TRUE(std::isfinite(s.final_metrics.at(key))) << key;
  }
  EXPECT_GE(s.final_metrics.at("class_agreement"), 0.0);
  EXPECT_LE(s.final_metrics.at("class_agreement"), 1.0);
  for (const char* file : {"samples/before_trouser.png", "samples/after_ankle_boot.png", "samples/epoch_0001.png",
                           "pytorch_lora_weights.safetensors"})
    EXPECT_TRUE(std::filesystem::exists(run.path(file))) << file;
}

// The weights in assets/fashion load through the empty model.path and draw the prompted classes:
// the shipped classifier assigns most of 2 samples per class (10 DDIM steps) to the prompted class
// (0.990 with the demo's 20 steps and 20 per class, assets/fashion/README.md).
TEST(Fashion, ShippedWeightsDrawThePromptedClasses) {
  Config c = load_config(std::string(NABLAGFN_SOURCE_DIR) + "/configs/fashion_nabla_db.jsonc");
  c.run.device = "cpu";
  c.model.path = "";
  c.sample.n_steps = 10;
  validate(c);
  FashionModel model = make_fashion_pipeline(c);
  at::Tensor images = sample_per_prompt(model.problem, model.problem.prompts, 2, EvalShards(20, 20, 0), Adapter::Off);  // [20, 1, 32, 32]
  ASSERT_EQ(images.sizes().vec(), (std::vector<int64_t>{20, 1, 32, 32}));
  EXPECT_GE(class_agreement(model.classifier, *model.text, images, model.problem.prompts), 0.8);
}
