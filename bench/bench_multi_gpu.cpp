// Data-parallel ∇-DB training of the full-size SD-1.5 UNet (random weights, bench/sd_bench_setup.h) over
// NCCL (issue 12), launched the torchrun way:
//   torchrun --standalone --no-python --nproc-per-node N build-gpu/bench/bench_multi_gpu [epochs]
// The configuration is config.h's defaults (the release's SD-1.5 setting: 64 trajectories x 50 DDIM steps
// per epoch, 512x512 (latents 4x64x64), CFG 5, LoRA r 8, 2 updates of 32 trajectories, the release's flow
// UNet), the global batch split over the N processes. Not timed: the CLIP text encoder (one fixed random
// hidden state stands in), the VAE and a reward network: the reward is −mean(z²) of the final latents
// (differentiable, through an identity decoder). Prints one line per epoch (epoch 0 includes warm-up),
// the mean throughput of the later epochs, and the largest difference between rank 0's LoRA / flow weights
// and every other rank's after training (0 when every rank applied the same averaged updates). The run
// directory goes under $OUT. No evaluator: the sharded evaluation (problems/eval_shards.h) is not timed.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "algorithms/algorithm.h"
#include "algorithms/trainer.h"
#include "config/config.h"
#include "core/distributed.h"
#include "io/fs_util.h"
#include "io/run_dir.h"
#include "models/unet_flow_net.h"
#include "sd_bench_setup.h"

using namespace nablagfn;

namespace {

class OneHiddenState : public PromptEncoder {
 public:
  explicit OneHiddenState(at::Tensor hidden) : hidden_(std::move(hidden)) {}
  at::Tensor encode(const std::vector<std::string>& prompts) override {
    return hidden_.expand({static_cast<int64_t>(prompts.size()), hidden_.size(1), hidden_.size(2)});  // [B, L, D]
  }

 private:
  at::Tensor hidden_;  // [1, L, D]
};

class IdentityDecoder : public Decoder {
 public:
  at::Tensor decode(const at::Tensor& latents) override { return latents.to(at::kFloat); }
};

class LatentEnergyReward : public Reward {
 public:
  std::string name() const override { return "latent_energy"; }
  bool differentiable() const override { return true; }
  bool uses_prompt() const override { return false; }
  at::Tensor score(const at::Tensor& z, const std::vector<std::string>&) override {
    return -z.pow(2).flatten(1).mean(1);  // [B]
  }
};

// Every trainable weight (LoRA, flow network) as one float32 vector.
at::Tensor flat_weights(Problem& p, Algorithm& algorithm) {
  std::vector<at::Tensor> parts;
  for (const auto& t : p.denoiser->trainable_parameters()) parts.push_back(t.detach().reshape(-1).to(at::kFloat));
  for (const auto& [name, t] : algorithm.state()) parts.push_back(t.detach().reshape(-1).to(at::kFloat));
  return at::cat(parts);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const LaunchEnv env = read_launch_env();
    const c10::Device device(c10::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
    auto comm = Collectives::join(env, device, std::chrono::seconds(1800));
    Config config;
    config.run.device = device.str();
    config.train.n_epochs = argc > 1 ? std::atoi(argv[1]) : 3;
    config.train.save_every = 0;
    validate(config);

    bench::SDBenchOptions o;
    o.config_dir = std::string(NABLAGFN_BENCH_DIR) + "/configs/sd15";
    o.device_index = env.local_rank;
    bench::SDBench b = bench::make_sd_bench(o);
    Problem& p = b.problem;
    p.text = std::make_shared<OneHiddenState>(b.cond.slice(0, 0, 1));
    p.decoder = std::make_shared<IdentityDecoder>();
    p.reward = std::make_shared<LatentEnergyReward>();
    const UNetFlowNetOptions flow;  // the release's flow UNet
    p.make_flow_net = [flow, device]() { return std::make_shared<UNetFlowNet>(flow, device); };
    auto algorithm = algorithm_registry().create(config.algorithm.name, p, config);

    // The run directory under $OUT (bench/run_multi_gpu.sh's results folder; bench-out without it).
    const char* out_root = std::getenv("OUT");
    const std::string out = std::string(out_root && *out_root ? out_root : "bench-out") + "/multi_gpu_run_" +
                            std::to_string(env.world_size);
    std::optional<RunDir> run;
    if (comm->is_main()) {
      remove_tree(out);
      run.emplace(RunDir::create(out, false));
    }
    comm->barrier(false);
    if (!comm->is_main()) run.emplace(RunDir::attach(out, false));
    train(p, *algorithm, config, *run, nullptr, comm.get());

    at::Tensor mine = flat_weights(p, *algorithm);
    double worst = 0;
    for (const auto& other : comm->all_gather(mine, "weight gather"))
      worst = std::max(worst, (other - mine).abs().max().item<double>());
    comm->barrier(true);
    if (!comm->is_main()) return 0;

    const int per_epoch = config.sample.batch_size * config.sample.n_batches_per_epoch;
    double later = 0;
    int n_later = 0;
    for (const auto& r : MetricsLog::read_all(run->path(RunDir::kMetricsFile))) {
      const double s = r["seconds"].get<double>();
      const int epoch = r["epoch"].get<int>();
      std::printf("bench=multi_gpu gpus=%d epoch=%d seconds=%.3f traj_per_s_per_gpu=%.4f\n", env.world_size, epoch, s,
                  per_epoch / s / env.world_size);
      if (epoch > 0) later += s, ++n_later;
    }
    if (n_later > 0)
      std::printf("bench=multi_gpu_summary gpus=%d epoch_seconds=%.3f traj_per_s_per_gpu=%.4f max_weight_diff_across_ranks=%.3g\n",
                  env.world_size, later / n_later, per_epoch / (later / n_later) / env.world_size, worst);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
