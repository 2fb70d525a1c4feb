// The CUDA sampling fast paths against the plain chain (sample_final, algorithms/trajectory.cpp): the
// CUDA-graph sampler (algorithms/graph_sampler.h), channels-last weights and merged LoRA
// (models/cuda_sampling.h). A tiny SD-1.5-shaped UNet with random weights, LoRA with random B, 10 DDIM-η=1
// steps, CFG 5; both sides use the same seed, hence the same step noise. Label gpu: needs a CUDA device.
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "algorithms/fast_chain.h"
#include "algorithms/graph_sampler.h"
#include "algorithms/problem.h"
#include "algorithms/trajectory.h"
#include "models/conv_layout.h"
#include "models/cuda_sampling.h"
#include "config/config.h"
#include "models/pipeline_parts.h"
#include "models/pixel_decoder.h"
#include "rewards/contrast.h"
#include "models/sd_denoiser.h"
#include "models/unet2d_condition.h"
#include "schedulers/scheduler.h"
#include "test_util.h"
#include "tiny_sd_unet.h"

#if !NABLAGFN_WITH_CUDA
#error "test_sampling_gpu needs NABLAGFN_WITH_CUDA (a CUDA libtorch)"
#endif

using namespace nablagfn;

namespace {

class FixedHiddenStates : public PromptEncoder {
 public:
  explicit FixedHiddenStates(at::Tensor h) : h_(std::move(h)) {}
  at::Tensor encode(const std::vector<std::string>&) override { return h_; }

 private:
  at::Tensor h_;
};

struct TinySD {
  explicit TinySD(at::ScalarType dtype) {
    at::globalContext().setAllowTF32CuDNN(false);
    const c10::Device cuda(c10::kCUDA, 0);
    torch::manual_seed(0);
    UNet2DConditionModel unet(test::tiny_sd_unet_config());
    unet->to(cuda, dtype);
    unet->eval();
    LoRAConfig lora;
    lora.rank = 4;
    lora.alpha = 4.0;
    denoiser = std::make_shared<SDDenoiser>(unet, lora);
    randomize_lora(0.05);
    auto opts = torch::TensorOptions().dtype(dtype).device(cuda);
    cond = torch::randn({3, 5, 16}, opts);
    x0 = torch::randn({3, 4, 8, 8}, opts);
    problem.denoiser = denoiser;
    problem.scheduler = std::make_shared<DDIMScheduler>(NoiseSchedule(), 10, 1.0, 1);
    problem.text = std::make_shared<FixedHiddenStates>(cond);
    problem.uncond_context = torch::randn({1, 5, 16}, opts);
    problem.guidance_scale = 5.0;
    problem.latent_shape = {4, 8, 8};
    problem.device = cuda;
    problem.latent_dtype = dtype;
    problem.decoder = std::make_shared<PixelDecoder>();
    problem.reward = std::make_shared<ContrastReward>();
  }

  // LoRA B ~ N(0, std²) in place (as an optimizer step changes it).
  void randomize_lora(double std) {
    torch::NoGradGuard no_grad;
    for (auto& kv : denoiser->lora().named_parameters()) {
      if (kv.first.find("lora_B") != std::string::npos) kv.second.normal_(0.0, std);
    }
  }

  at::Generator seeded(uint64_t seed) {
    at::Generator gen = at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, 0));
    gen.set_current_seed(seed);
    return gen;
  }

  at::Tensor plain(uint64_t seed) { return sample_final(problem, x0, prompts, seeded(seed)); }

  std::unique_ptr<CudaGraphSampler> graph(const at::Tensor& x_like, const CudaGraphSamplerOptions& o) {
    return std::make_unique<CudaGraphSampler>(*denoiser, *problem.scheduler, x_like, problem.conditioning(cond),
                                              Adapter::On, o);
  }

  std::shared_ptr<SDDenoiser> denoiser;
  Problem problem;
  at::Tensor cond, x0;
  std::vector<std::string> prompts = {"a", "b", "c"};
};

}  // namespace

TEST(SamplingGpu, GraphSamplerMatchesPlainChainFp32) {
  TinySD sd(at::kFloat);
  const at::Tensor expected = sd.plain(7);
  CudaGraphSamplerOptions o;
  o.store_states = false;
  auto sampler = sd.graph(sd.x0, o);
  const at::Tensor got = sampler->sample(sd.x0, sd.cond, sd.seeded(7)).x;
  EXPECT_CLOSE(got, expected, 1e-5);
  // A second call with another seed reuses the graph and follows the new noise.
  EXPECT_CLOSE(sampler->sample(sd.x0, sd.cond, sd.seeded(8)).x, sd.plain(8), 1e-5);
  EXPECT_GT(test::rel_err(sd.plain(8), expected), 1e-2);
}

TEST(SamplingGpu, GraphSamplerStoresEveryStateAndEps) {
  TinySD sd(at::kFloat);
  CudaGraphSamplerOptions o;
  o.store_eps = true;
  auto sampler = sd.graph(sd.x0, o);
  const GraphSamples s = sampler->sample(sd.x0, sd.cond, sd.seeded(3));
  const int K = sd.problem.scheduler->n_steps();
  ASSERT_EQ(s.x.sizes(), (std::vector<int64_t>{3, K + 1, 4, 8, 8}));
  ASSERT_EQ(s.eps.sizes(), (std::vector<int64_t>{3, K, 4, 8, 8}));
  EXPECT_TRUE(at::equal(s.x.select(1, 0), sd.x0));
  EXPECT_CLOSE(s.x.select(1, K), sd.plain(3), 1e-5);
  // ε of the last step, recomputed eagerly from the stored state it was applied to.
  torch::NoGradGuard no_grad;
  const at::Tensor t = at::full({3}, sd.problem.scheduler->timestep(K - 1), sd.x0.options().dtype(at::kLong));
  const at::Tensor eps = guided_eps(*sd.denoiser, s.x.select(1, K - 1), t, sd.problem.conditioning(sd.cond), Adapter::On);
  EXPECT_CLOSE(s.eps.select(1, K - 1), eps, 1e-5);
}

TEST(SamplingGpu, ChannelsLastMergedLoRAGraphMatchesPlainChainFp32) {
  TinySD sd(at::kFloat);
  const at::Tensor expected = sd.plain(11);
  set_conv_layout(*sd.denoiser->unet(), true);
  const at::Tensor x_cl = sd.x0.contiguous(at::MemoryFormat::ChannelsLast);
  EXPECT_CLOSE(sample_final(sd.problem, x_cl, sd.prompts, sd.seeded(11)), expected, 1e-4);
  CudaGraphSamplerOptions o;
  o.store_states = false;
  o.merge_lora = true;
  auto sampler = sd.graph(x_cl, o);
  EXPECT_CLOSE(sampler->sample(x_cl, sd.cond, sd.seeded(11)).x, expected, 1e-4);
}

TEST(SamplingGpu, MergedLoRAGraphSeesAdapterUpdates) {
  TinySD sd(at::kFloat);
  CudaGraphSamplerOptions o;
  o.store_states = false;
  o.merge_lora = true;
  auto sampler = sd.graph(sd.x0, o);
  const at::Tensor before = sampler->sample(sd.x0, sd.cond, sd.seeded(5)).x;
  sd.randomize_lora(0.2);  // in place, as AdamW updates the adapter between sampling phases
  const at::Tensor after = sampler->sample(sd.x0, sd.cond, sd.seeded(5)).x;
  EXPECT_CLOSE(after, sd.plain(5), 1e-4);
  EXPECT_GT(test::rel_err(after, before), 1e-3);
}

TEST(SamplingGpu, GraphSamplerMatchesPlainChainBf16) {
  TinySD sd(at::kBFloat16);
  const at::Tensor expected = sd.plain(9);
  CudaGraphSamplerOptions o;
  o.store_states = false;
  auto sampler = sd.graph(sd.x0, o);
  EXPECT_CLOSE(sampler->sample(sd.x0, sd.cond, sd.seeded(9)).x, expected, 1e-2);
}

// rollout() / sample_final() through problem.fast_chain (the trainer's sampling phase on CUDA) against the
// plain chain: same states, ε, log-probs and rewards for one seed, merged LoRA included (fp32: the merged
// weights round once in fp32).
TEST(SamplingGpu, RolloutOnTheFastChainMatchesThePlainChain) {
  TinySD sd(at::kFloat);
  RolloutOptions o;
  o.store_eps = true;
  o.store_log_prob = true;
  const TrajectoryBatch plain = rollout(sd.problem, sd.x0, sd.prompts, sd.seeded(21), o);
  const at::Tensor plain_final = sd.plain(22);
  SampleConfig config;
  ASSERT_TRUE(config.cuda_graph && config.merge_lora);
  sd.problem.fast_chain = make_fast_chain(sd.problem, config);
  ASSERT_TRUE(sd.problem.fast_chain && sd.problem.fast_chain->serves(sd.x0, Adapter::On));
  for (int round = 0; round < 2; ++round) {  // the second round replays the captured graph
    const TrajectoryBatch fast = rollout(sd.problem, sd.x0, sd.prompts, sd.seeded(21), o);
    EXPECT_CLOSE(fast.x, plain.x, 1e-4);
    EXPECT_CLOSE(fast.eps_old, plain.eps_old, 1e-4);
    ASSERT_EQ(fast.log_prob.sizes(), plain.log_prob.sizes());
    EXPECT_LT((fast.log_prob - plain.log_prob).abs().max().item<double>(), 1e-4);
    EXPECT_LT((fast.reward - plain.reward).abs().max().item<double>(), 1e-5);
  }
  EXPECT_CLOSE(sample_final(sd.problem, sd.x0, sd.prompts, sd.seeded(22)), plain_final, 1e-4);
  // The pretrained model (Adapter::Off) takes its own capture, without the merged weights.
  sd.problem.fast_chain = nullptr;
  const at::Tensor ref = sample_final(sd.problem, sd.x0, sd.prompts, sd.seeded(23), Adapter::Off);
  sd.problem.fast_chain = make_fast_chain(sd.problem, config);
  EXPECT_CLOSE(sample_final(sd.problem, sd.x0, sd.prompts, sd.seeded(23), Adapter::Off), ref, 1e-5);
  EXPECT_GT(test::rel_err(ref, sample_final(sd.problem, sd.x0, sd.prompts, sd.seeded(23))), 1e-3);
}

TEST(SamplingGpu, FastChainIsOffOnTheCpuAndWhenDisabled) {
  TinySD sd(at::kFloat);
  SampleConfig config;
  config.cuda_graph = false;
  EXPECT_TRUE(make_fast_chain(sd.problem, config) == nullptr);
  config.cuda_graph = true;
  sd.problem.device = c10::Device(c10::kCPU);
  EXPECT_TRUE(make_fast_chain(sd.problem, config) == nullptr);
}
