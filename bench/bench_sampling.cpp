// Stable Diffusion 1.5 sampling speed: N trajectories x K DDIM-η steps with CFG (one UNet batch of 2N per
// step), bf16, LoRA on, random weights (bench/sd_bench_setup.h). One line per variant, each variant adding
// one optimisation to the previous one (except reference -> sdpa, which swaps the attention kernel):
//   reference      plain chain (sample_final), written-out softmax(QKᵀ)V attention
//   sdpa           plain chain, fused attention (at::scaled_dot_product_attention)
//   cudnn_bench    + cuDNN autotuning (at::globalContext().setBenchmarkCuDNN(true))
//   cuda_graph     + the step captured once and replayed (algorithms/graph_sampler.h)
//   merged_lora    + LoRA folded into the projection weights inside the graph (models/cuda_sampling.h)
//   channels_last  + NHWC convolution weights and latents (models/conv_layout.h), ATen ops only
//   fused_nhwc     + the fused NHWC kernels (src/kernels: GroupNorm+shift+SiLU, bias+residual, GEGLU,
//                    residual+LayerNorm; proj_in / proj_out as GEMMs on the NHWC memory)
// Then one agreement line per variant: max|x_K − x_K(sdpa)| / max|x_K(sdpa)| for the same seed (bf16 and a
// random UNet: a loose sanity check; tests/test_sampling_gpu.cpp holds the strict fp32 checks).
// Usage: bench_sampling [--config DIR] [--n N] [--steps K] [--repeats R] [--warmup W] [--only a,b,...]
//                       [--reference-repeats R] (the written-out attention is slow: 1 timed run by default)
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "algorithms/graph_sampler.h"
#include "algorithms/trajectory.h"
#include "bench_util.h"
#include "kernels/fused_ops.h"
#include "models/attention.h"
#include "models/conv_layout.h"
#include "sd_bench_setup.h"

using namespace nablagfn;
using namespace nablagfn::bench;

namespace {

struct Args {
  SDBenchOptions sd;
  int repeats = 3;
  int reference_repeats = 1;
  int warmup = 1;
  std::vector<std::string> only;
};

Args parse_args(int argc, char** argv) {
  Args a;
  a.sd.config_dir = NABLAGFN_BENCH_DIR "/configs/sd15";
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() { return next_arg(argc, argv, i); };
    if (k == "--config") {
      a.sd.config_dir = next();
    } else if (k == "--n") {
      a.sd.n_trajectories = std::stoll(next());
    } else if (k == "--steps") {
      a.sd.n_steps = std::stoi(next());
    } else if (k == "--repeats") {
      a.repeats = std::stoi(next());
    } else if (k == "--reference-repeats") {
      a.reference_repeats = std::stoi(next());
    } else if (k == "--warmup") {
      a.warmup = std::stoi(next());
    } else if (k == "--only") {
      a.only = split_commas(next());
    } else {
      unknown_arg(k);
    }
  }
  return a;
}

std::string today() {
  char buf[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&now));
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  torch::NoGradGuard no_grad;
  SDBench b = make_sd_bench(args.sd);
  Problem& problem = b.problem;
  const int K = args.sd.n_steps;
  const int64_t N = args.sd.n_trajectories;
  const uint64_t seed = 1234;
  at::Generator gen = at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, 0));
  at::Tensor x0 = b.x0;

  // The variant being timed: a setup (applied cumulatively) and one sampling run returning x_K.
  std::unique_ptr<CudaGraphSampler> sampler;
  struct Variant {
    std::string name;
    std::function<void()> setup;
    std::function<at::Tensor()> run;
  };
  auto plain = [&] {
    gen.set_current_seed(seed);
    return sample_final(problem, x0, b.prompts, gen, Adapter::On);
  };
  auto graphed = [&] {
    gen.set_current_seed(seed);
    return sampler->sample(x0, b.cond, gen).x.select(1, K);
  };
  auto make_sampler = [&](bool merge) {
    sampler.reset();
    CudaGraphSamplerOptions o;
    o.merge_lora = merge;
    sampler = std::make_unique<CudaGraphSampler>(*b.denoiser, *problem.scheduler, x0,
                                                 problem.conditioning(b.cond), Adapter::On, o);
  };
  std::vector<Variant> variants = {
      {"reference", [&] { set_attention_backend(*b.denoiser->unet(), AttentionBackend::Reference); }, plain},
      {"sdpa", [&] { set_attention_backend(*b.denoiser->unet(), AttentionBackend::Fused); }, plain},
      {"cudnn_bench", [&] { at::globalContext().setBenchmarkCuDNN(true); }, plain},
      {"cuda_graph", [&] { make_sampler(false); }, graphed},
      {"merged_lora", [&] { make_sampler(true); }, graphed},
      {"channels_last",
       [&] {
         fused::set_enabled(false);
         set_conv_layout(*b.denoiser->unet(), true);
         x0 = b.x0.contiguous(at::MemoryFormat::ChannelsLast);
         make_sampler(true);
       },
       graphed},
      {"fused_nhwc",
       [&] {
         fused::set_enabled(true);
         make_sampler(true);
       },
       graphed},
  };

  const std::string card = card_name();
  std::map<std::string, at::Tensor> finals;
  for (auto& v : variants) {
    v.setup();
    bool wanted = args.only.empty();
    for (const auto& o : args.only) wanted |= o == v.name;
    if (!wanted) continue;
    reset_peak_memory();
    at::Tensor last;
    const int repeats = v.name == "reference" ? args.reference_repeats : args.repeats;
    const Timing t = time_median([&] { last = v.run(); }, args.warmup, repeats);
    finals[v.name] = last.to(at::kFloat).contiguous();
    ResultLine("sampling")
        .add("variant", v.name)
        .add("card", card)
        .add("date", today())
        .add("traj", N)
        .add("steps", K)
        .add("cfg", args.sd.guidance_scale, 1)
        .add("lora_rank", args.sd.lora_rank)
        .add("s_per_traj", t.median_s / static_cast<double>(N))
        .add("median_s", t.median_s, 3)
        .add("min_s", t.min_s, 3)
        .add("max_s", t.max_s, 3)
        .add("runs", t.runs)
        .add("peak_alloc_gib", peak_allocated_gib(), 2)
        .add("peak_reserved_gib", peak_reserved_gib(), 2)
        .print();
  }
  auto base = finals.find("sdpa");
  for (const auto& [name, x] : finals) {
    if (base == finals.end()) break;
    const double denom = base->second.abs().max().item<double>();
    ResultLine("sampling_agreement")
        .add("variant", name)
        .add("rel_diff_vs_sdpa", (x - base->second).abs().max().item<double>() / denom, 5)
        .add("finite", static_cast<int64_t>(x.isfinite().all().item<bool>()))
        .print();
  }
  return 0;
}
