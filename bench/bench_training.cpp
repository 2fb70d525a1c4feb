// ∇-DB training speed and memory on full-size Stable Diffusion 1.5 with random weights (CUDA builds only):
// the UNet of bench/configs/sd15/unet (bf16, LoRA r 8 with a non-zero B, CFG 5: bench/sd_bench_setup.h),
// the AutoencoderKL decoder of bench/configs/sd15/vae (bf16, 512x512 images), the aesthetic reward: CLIP
// ViT-L/14 of bench/configs/sd15/aesthetic_clip + LAION's MLP head (fp32), the release's flow UNet g_φ
// ([64, 128, 256, 256], fp32), algorithm defaults (β 1e3, λ 1e3, w_B 1, η 1, γ = ᾱ), float32 matmuls in TF32
// as the release and run.tf32 (--no-tf32: full float32).
// Per variant: one micro-batch of B transitions (steps 10, 20, 30, 40, ...: all non-terminal, so every pass
// runs), terms + backward, median wall time over R runs after W warm-ups / B = seconds per transition-sample,
// and the CUDA caching allocator's peak:
//   separate         every term by its own pass (algorithm.fold_passes=separate, the release's passes)
//   folded           fold_passes=folded: one UNet graph alive at a time, η·S←_θ + G(x) as one VJP
//                    (algorithm.merged_lora_guess off)
//   merged_guess     + merged_lora_guess: ε_θ(x') of the guess with the LoRA in the weights (the CUDA default)
//   merged_backward  + model.lora_merged_backward: the policy's grad-mode passes as one GEMM per projection
//                    with W + (alpha/r)·B·A and its own backward (models/lora_merged_linear.h)
//   nhwc_decoder     merged_backward + the VAE decoder in channels-last with the fused GroupNorm + SiLU kernels
//                    and their backward (VAEDecoder::set_channels_last)
//   channels_last    merged_backward + model.memory_format=channels_last: the UNet and the decoder in NHWC
//   channels_last_chunk2, channels_last_chunk1: channels_last with train.reward_grad_chunk 2 / 1
//   channels_last_vae_sdpa: channels_last with the decoder's mid-block attention on sdpa (its memory-efficient
//                    kernel) instead of written out (set_vae_attention_fused(false)), which every other
//                    variant takes, as make_sd_pipeline does on CUDA since 2026-12-06
//   channels_last_sdpa_flow: channels_last with the flow net's fp32 attention on sdpa instead of the
//                    narrow-head kernels of kernels/fused_attention.h (every other variant takes those)
//   channels_last_eager_reward: channels_last with the reward run eagerly instead of replayed from its CUDA
//                    graphs (rewards/graphed_reward.h, reward.cuda_graph; every other variant replays)
//   chunk2           + train.reward_grad_chunk=2: the decoder + reward backward two images at a time
//   chunk1           + train.reward_grad_chunk=1: one image at a time
//   cudnn_bench      chunk2 + cuDNN autotuning (at::globalContext().setBenchmarkCuDNN(true), kept from here on)
// --stages times the building blocks one by one at batch B (first of --batch): the guided UNet forward (no
// grad), forward + input VJP with the adapter off / on / merged / merged_backward, forward + the gradients of
// the input and every LoRA matrix with the branch and with merged_backward, the chunk-0 decode + reward
// gradient of B latents, the reward gradient of B images alone, the decoder's input gradient alone, then both
// in channels-last, then both with the decoder's attention on sdpa; the UNet's no-grad
// forward, forward + input VJP and forward + input and LoRA gradients (merged_backward) in channels-last.
// --epoch adds one whole ∇-GFlowNet epoch of the official shape through train(): 64 trajectories x 50 steps
// sampled (4 batches of 16), 6 transitions each trained (timestep_fraction 0.1 + the terminal one), 2
// updates (micro-batch 4 x 8 accumulation), timed end to end.
// --profile T adds the kernel-time profile (bench/kernel_profile.h, top T kernels) of each variant's step and
// each stage.
// Usage: bench_training [--config DIR] [--batch B[,B...]] [--repeats R] [--warmup W] [--only a,b] [--stages] [--epoch]
//                       [--epoch-variant NAME] [--epoch-samplers plain,graph] [--profile T] [--no-tf32]
#include <torch/torch.h>

#include <chrono>
#include <functional>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "algorithms/fast_chain.h"
#include "algorithms/nabla_db.h"
#include "algorithms/predicted_reward.h"
#include "algorithms/trainer.h"
#include "bench_util.h"
#include "core/device.h"
#include "kernel_profile.h"
#include "kernels/fused_attention.h"
#include "io/fs_util.h"
#include "io/run_dir.h"
#include "models/cuda_sampling.h"
#include "models/guidance.h"
#include "models/unet_flow_net.h"
#include "models/vae.h"
#include "models/vae_decoder.h"
#include "rewards/aesthetic.h"
#include "rewards/graphed_reward.h"
#include "sd_bench_setup.h"

using namespace nablagfn;
using namespace nablagfn::bench;

namespace {

// Hidden states of any number of prompts: the bench's rows, cycled.
class CyclingPromptEncoder : public PromptEncoder {
 public:
  explicit CyclingPromptEncoder(at::Tensor hidden) : hidden_(std::move(hidden)) {}
  at::Tensor encode(const std::vector<std::string>& prompts) override {
    const int64_t n = static_cast<int64_t>(prompts.size());
    at::Tensor idx = torch::arange(n, torch::kLong).remainder(hidden_.size(0)).to(hidden_.device());
    return hidden_.index_select(0, idx);  // [n, L, D]
  }

 private:
  at::Tensor hidden_;
};

struct Args {
  std::string config_dir = NABLAGFN_BENCH_DIR "/configs/sd15";
  std::vector<int64_t> batches{4};
  int repeats = 3;
  int warmup = 1;
  bool epoch = false;
  bool stages = false;
  bool tf32 = true;
  int profile_top = 0;  // > 0: profile each variant's step and each stage (bench/kernel_profile.h)
  std::string epoch_variant = "chunk2";
  std::vector<std::string> epoch_samplers = {"graph"};
  std::vector<std::string> only;
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() { return next_arg(argc, argv, i); };
    if (k == "--config") {
      a.config_dir = next();
    } else if (k == "--batch") {
      a.batches.clear();
      for (const std::string& item : split_commas(next())) a.batches.push_back(std::stoll(item));
    } else if (k == "--repeats") {
      a.repeats = std::stoi(next());
    } else if (k == "--warmup") {
      a.warmup = std::stoi(next());
    } else if (k == "--stages") {
      a.stages = true;
    } else if (k == "--no-tf32") {
      a.tf32 = false;
    } else if (k == "--profile") {
      a.profile_top = std::stoi(next());
    } else if (k == "--epoch") {
      a.epoch = true;
    } else if (k == "--epoch-variant") {
      a.epoch_variant = next();
    } else if (k == "--epoch-samplers") {
      a.epoch_samplers = split_commas(next());
    } else if (k == "--only") {
      a.only = split_commas(next());
    } else {
      unknown_arg(k);
    }
  }
  return a;
}

// The bench problem completed for training: decoder, aesthetic reward, flow network, any prompt count.
SDBench make_training_bench(const Args& a) {
  SDBenchOptions o;
  o.config_dir = a.config_dir;
  o.n_trajectories = 4;
  SDBench b = make_sd_bench(o);
  const c10::Device device(c10::kCUDA, 0);
  Problem& p = b.problem;
  p.text = std::make_shared<CyclingPromptEncoder>(b.cond);
  p.prompts = {"a benchmark prompt"};
  VAEConfig vae_config = load_vae_config(a.config_dir + "/vae/config.json");
  vae_config.fused_attention = false;  // written out, as make_sd_pipeline on CUDA (channels_last_vae_sdpa: sdpa)
  AutoencoderKL vae(vae_config);
  p.decoder = std::make_shared<VAEDecoder>(std::move(vae), device, torch::kBFloat16);
  CLIPVisionModelWithProjection vision(load_clip_vision_config(a.config_dir + "/aesthetic_clip/config.json"));
  AestheticHead head(std::vector<int64_t>{vision->config().projection_dim, 1024, 128, 64, 16, 1});
  auto reward = std::make_shared<AestheticReward>(std::move(vision), std::move(head), "random ViT-L/14");
  reward->to(device, torch::kFloat);
  p.reward = reward;
  p.make_flow_net = [device]() { return std::make_shared<UNetFlowNet>(UNetFlowNetOptions{}, device); };
  return b;
}

Config variant_config(const std::string& variant) {
  Config c;
  c.model.kind = "sd";
  c.run.device = "cuda";
  c.algorithm.fold_passes = variant == "separate" ? FoldPasses::Separate : FoldPasses::Folded;
  auto ends_with = [&](const std::string& tail) {
    return variant.size() >= tail.size() && variant.compare(variant.size() - tail.size(), tail.size(), tail) == 0;
  };
  const bool channels_last = variant.rfind("channels_last", 0) == 0;
  c.train.reward_grad_chunk = ends_with("chunk1") ? 1 : ends_with("chunk2") || variant == "cudnn_bench" ? 2 : 0;
  c.algorithm.merged_lora_guess = variant != "folded";
  c.model.lora_merged_backward = variant == "merged_backward" || variant == "nhwc_decoder" || channels_last;
  c.model.memory_format = channels_last ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
  return c;
}

// The bench's reward run eagerly and replayed from CUDA graphs (reward.cuda_graph).
struct Rewards {
  std::shared_ptr<Reward> eager, graphed;
};

// Everything a variant switches on the shared bench (make_stable_diffusion sets these once from its config):
// layouts, the LoRA path, the decoder's and the flow net's attention, the reward's CUDA graph.
void apply_variant(SDBench& b, const std::string& variant, const Config& config, const Rewards& rewards) {
  const bool channels_last = config.model.memory_format == MemoryFormat::ChannelsLast;
  b.denoiser->set_channels_last(channels_last);
  auto decoder = std::dynamic_pointer_cast<VAEDecoder>(b.problem.decoder);
  decoder->set_channels_last(channels_last || variant == "nhwc_decoder");
  set_vae_attention_fused(*decoder->vae(), variant == "channels_last_vae_sdpa");
  b.denoiser->lora().gate().merged_backward = config.model.lora_merged_backward;
  fused::set_small_head_attention(variant != "channels_last_sdpa_flow");
  b.problem.reward = variant == "channels_last_eager_reward" ? rewards.eager : rewards.graphed;
}

void run_variant(SDBench& b, const Args& a, const std::string& variant, int64_t B, const Rewards& rewards) {
  const Config config = variant_config(variant);
  apply_variant(b, variant, config, rewards);
  NablaDB algo(b.problem, config);
  const int K = b.problem.scheduler->n_steps();
  auto bf16 = torch::TensorOptions().dtype(torch::kBFloat16).device(b.problem.device);
  TrajectoryBatch mb;
  mb.prompts.assign(static_cast<size_t>(B), "a benchmark prompt");
  mb.cond = b.problem.text->encode(mb.prompts);  // [B, L, D]
  mb.x = torch::randn({B, K + 1, 4, 64, 64}, bf16);
  mb.eps_old = torch::randn({B, K, 4, 64, 64}, bf16);
  at::Tensor k = (torch::arange(B, torch::kLong) % 4 + 1) * 10;  // [B] steps 10, 20, 30, 40, ...
  std::vector<at::Tensor> params = b.problem.denoiser->trainable_parameters();
  for (auto& g : algo.extra_parameter_groups()) params.insert(params.end(), g.params.begin(), g.params.end());
  auto step = [&]() {
    for (auto& p : params) p.mutable_grad() = at::Tensor();
    NablaDBTerms t = algo.terms(mb, k, mb.prompts);
    t.total.backward();
  };
  step();
  reset_peak_memory();
  const Timing time = time_median(step, a.warmup, a.repeats);
  ResultLine("training")
      .add("variant", variant)
      .add("card", card_name())
      .add("tf32", std::string(a.tf32 ? "on" : "off"))
      .add("batch", B)
      .add("s_per_transition_sample", time.median_s / static_cast<double>(B))
      .add("s_per_microbatch", time.median_s)
      .add("min_s", time.min_s)
      .add("max_s", time.max_s)
      .add("peak_alloc_gib", peak_allocated_gib(), 2)
      .add("peak_reserved_gib", peak_reserved_gib(), 2)
      .print();
  if (a.profile_top > 0) profile_kernels("training_" + variant, step, 1, a.profile_top);
}

void run_stages(SDBench& b, const Args& a) {
  Problem& p = b.problem;
  const int64_t B = a.batches.front();
  const c10::Device device = p.device;
  std::vector<std::string> prompts(static_cast<size_t>(B), "a benchmark prompt");
  Conditioning c = p.conditioning(p.text->encode(prompts));
  at::Tensor x = torch::randn({B, 4, 64, 64}, torch::TensorOptions().dtype(torch::kBFloat16).device(device));
  at::Tensor t = torch::full({B}, p.scheduler->timestep(20), torch::TensorOptions().dtype(torch::kLong).device(device));
  at::Tensor z = torch::randn({B, 4, 64, 64}, torch::TensorOptions().device(device));
  at::Tensor images = torch::rand({B, 3, 512, 512}, torch::TensorOptions().device(device));
  MergedLoRA merged(*b.denoiser);
  auto stage = [&](const std::string& name, const std::function<void()>& f) {
    const Timing tm = time_median(f, a.warmup, a.repeats);
    ResultLine("training_stage").add("stage", name).add("card", card_name()).add("batch", B).add("s", tm.median_s).print();
    if (a.profile_top > 0) profile_kernels("stage_" + name, f, 1, a.profile_top);
  };
  LoRAGate& gate = b.denoiser->lora().gate();
  // Forward + VJP to the input (and, with lora_grads, to every LoRA matrix), the LoRA as merged_backward says.
  auto unet_vjp = [&](Adapter adapter, bool merged_backward = false, bool lora_grads = false) {
    gate.merged_backward = merged_backward;
    at::Tensor leaf = x.detach().requires_grad_(true);
    at::Tensor e = guided_eps(*p.denoiser, leaf, t, c, adapter);
    std::vector<at::Tensor> wrt{leaf};
    if (lora_grads) {
      for (const auto& w : p.denoiser->trainable_parameters()) wrt.push_back(w);
    }
    torch::autograd::grad({e}, wrt, {torch::ones_like(e)});
    gate.merged_backward = false;
  };
  auto reward_grad = [&]() {
    at::Tensor leaf = images.detach().requires_grad_(true);
    torch::autograd::grad({p.reward->score(leaf, prompts).sum()}, {leaf});
  };
  stage("unet_forward_nograd", [&] {
    torch::NoGradGuard no_grad;
    guided_eps(*p.denoiser, x, t, c, Adapter::Off);
  });
  stage("unet_forward_vjp_pretrained", [&] { unet_vjp(Adapter::Off); });
  stage("unet_forward_vjp_lora_branch", [&] { unet_vjp(Adapter::On); });
  stage("unet_forward_vjp_merged_lora", [&] {
    MergedLoRA::Scope scope(merged);
    unet_vjp(Adapter::Off);
  });
  stage("unet_forward_vjp_lora_merged_backward", [&] { unet_vjp(Adapter::On, true); });
  stage("unet_forward_grad_input_lora_branch", [&] { unet_vjp(Adapter::On, false, true); });
  stage("unet_forward_grad_input_lora_merged_backward", [&] { unet_vjp(Adapter::On, true, true); });
  stage("decode_reward_grad", [&] { reward_grad_chunked(p, z, prompts, 0); });
  stage("reward_grad_only", reward_grad);
  auto decoder = std::dynamic_pointer_cast<VAEDecoder>(p.decoder);
  auto decode_grad = [&]() {
    at::Tensor leaf = z.detach().requires_grad_(true);
    torch::autograd::grad({decoder->decode(leaf).square().sum()}, {leaf});
  };
  stage("decode_grad", decode_grad);
  decoder->set_channels_last(true);
  stage("decode_grad_nhwc", decode_grad);
  stage("decode_reward_grad_nhwc", [&] { reward_grad_chunked(p, z, prompts, 0); });
  set_vae_attention_fused(*decoder->vae(), true);
  stage("decode_grad_nhwc_sdpa_attention", decode_grad);
  stage("decode_reward_grad_nhwc_sdpa_attention", [&] { reward_grad_chunked(p, z, prompts, 0); });
  set_vae_attention_fused(*decoder->vae(), false);
  decoder->set_channels_last(false);
  b.denoiser->set_channels_last(true);
  stage("unet_forward_nograd_nhwc", [&] {
    torch::NoGradGuard no_grad;
    guided_eps(*p.denoiser, x, t, c, Adapter::Off);
  });
  stage("unet_forward_vjp_lora_merged_backward_nhwc", [&] { unet_vjp(Adapter::On, true); });
  stage("unet_forward_grad_input_lora_merged_backward_nhwc", [&] { unet_vjp(Adapter::On, true, true); });
  b.denoiser->set_channels_last(false);
}

// One epoch of the official shape through the trainer, end to end, sampling on the plain chain or on the
// CUDA-graph chain with merged LoRA (sample.cuda_graph, algorithms/fast_chain.h).
void run_epoch(SDBench& b, const Args& a, bool cuda_graph, const Rewards& rewards) {
  Config c = variant_config(a.epoch_variant);
  c.sample.cuda_graph = cuda_graph;
  b.problem.fast_chain = make_fast_chain(b.problem, c.sample);
  apply_variant(b, a.epoch_variant, c, rewards);
  c.sample.batch_size = 16;
  c.sample.n_batches_per_epoch = 4;
  c.sample.n_steps = 50;
  c.train.n_epochs = 1;
  c.train.batch_size = 4;
  c.train.grad_accum_steps = 8;
  c.train.timestep_fraction = 0.1;
  c.train.save_every = 0;
  c.run.out = "/tmp/nablagfn_bench_training_epoch";
  remove_tree(c.run.out);
  auto algo = std::make_unique<NablaDB>(b.problem, c);
  RunDir run = RunDir::create(c.run.out, false);
  reset_peak_memory();
  device_sync();
  const auto start = std::chrono::steady_clock::now();
  TrainSummary summary = train(b.problem, *algo, c, run, nullptr);
  device_sync();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ResultLine("training_epoch")
      .add("variant", a.epoch_variant)
      .add("sampler", cuda_graph ? "graph" : "plain")
      .add("card", card_name())
      .add("trajectories", static_cast<int64_t>(64))
      .add("updates", summary.updates)
      .add("seconds", seconds, 2)
      .add("peak_alloc_gib", peak_allocated_gib(), 2)
      .add("peak_reserved_gib", peak_reserved_gib(), 2)
      .print();
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  set_tf32_matmul(args.tf32);
  SDBench b = make_training_bench(args);
  const Rewards rewards{b.problem.reward, graphed_reward(b.problem.reward)};
  for (const std::string variant :
       {"separate", "folded", "merged_guess", "merged_backward", "chunk2", "chunk1", "cudnn_bench", "nhwc_decoder",
        "channels_last", "channels_last_chunk2", "channels_last_chunk1", "channels_last_vae_sdpa",
        "channels_last_sdpa_flow", "channels_last_eager_reward"}) {
    bool on = args.only.empty();
    for (const auto& o : args.only) on = on || o == variant;
    if (on && variant == "cudnn_bench") at::globalContext().setBenchmarkCuDNN(true);
    if (on)
      for (int64_t batch : args.batches) run_variant(b, args, variant, batch, rewards);
  }
  b.problem.reward = rewards.graphed;  // the stages' reward
  if (args.stages) run_stages(b, args);
  if (args.epoch)
    for (const std::string& sampler : args.epoch_samplers) run_epoch(b, args, sampler == "graph", rewards);
  return 0;
}
