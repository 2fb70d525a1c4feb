#pragma once
// Every knob of a run, with its default and meaning. This header is the configuration documentation:
// `nablagfn config --defaults` prints it as JSONC. Experiment files (configs/*.jsonc) set only what
// differs; `--set group.key=value` overrides last. Unknown keys and type mismatches are errors that name
// the closest valid keys. Each field's documentation is the third argument of its visit() line, right
// next to the field, so the two cannot drift apart; an optional fourth, its Range (config/range.h), is
// what validate() accepts. Modes are enums with their names (config/enum_names.h). A component's own knobs
// live in its own section struct, declared next to it (algorithms/ddpo_config.h -> algorithm.ddpo.*) and
// listed here by a two-argument visit line; renamed keys stay readable (config/renamed_keys.cpp).
//
// Defaults are the release's SD-1.5 aesthetic setting (spec §4.1) with its known bugs fixed (spec §9);
// the `quirk_*` switches bring the bugs back to reproduce released numbers.
#include <string>
#include <vector>

#include "algorithms/dag_db_config.h"
#include "algorithms/ddpo_config.h"
#include "algorithms/draft_config.h"
#include "algorithms/draft_lv_config.h"
#include "algorithms/refl_config.h"
#include "config/modes.h"
#include "config/range.h"
#include "models/attention_backend.h"
#include "models/lora_init.h"
#include "problems/toy2d_config.h"
#include "rewards/analytic_config.h"
#include "schedulers/dpmpp_config.h"
#include "schedulers/final_sigmas.h"

namespace nablagfn {

struct RunConfig {
  std::string out = "runs/default";
  int seed = 0;
  std::string device = "auto";
  int data_streams = 0;
  int dist_timeout = 1800;
  bool tf32 = true;

  template <class V>
  void visit(V&& v) {
    v("out", out, "run directory (config.resolved.json, metrics.jsonl, plots/, samples/, checkpoints/)");
    v("seed", seed, "base seed; rank r uses seed + r (spec §9 item 4 fixed)", Range::at_least(0));
    v("device", device, "auto (CUDA when available), cpu, cuda or cuda:N; several processes (torchrun) use cuda:LOCAL_RANK");
    v("data_streams", data_streams,
      "random streams of an epoch's data (stream s seeds with seed + s); 0 = one per process. A fixed count (a multiple "
      "of the process count) makes the data independent of the number of processes",
      Range::at_least(0));
    v("dist_timeout", dist_timeout, "seconds a collective waits for the other processes before the run stops",
      Range::at_least(1));
    v("tf32", tf32,
      "CUDA float32 matrix products (reward model, LoRA branch, flow net) in TF32, as the release (allow_tf32 = True); "
      "false: full float32. cuDNN convolutions take TF32 either way (LibTorch's default)");
  }
};

struct ModelConfig {
  std::string kind = "sd";
  std::string path;
  ModelDType dtype = ModelDType::BFloat16;
  AttentionBackend attention = AttentionBackend::Fused;
  int lora_rank = 8;
  double lora_alpha = 8.0;
  LoRAInit lora_init = LoRAInit::Gaussian;
  bool lora_merged_backward = false;
  MemoryFormat memory_format = MemoryFormat::Auto;
  std::vector<int> flow_block_out_channels = {64, 128, 256, 256};
  int flow_layers_per_block = 1;
  FlowConditioning flow_conditioning = FlowConditioning::Auto;
  Toy2DConfig toy;

  template <class V>
  void visit(V&& v) {
    v("kind", kind,
      "sd (a diffusers Stable Diffusion folder), toy2d (the 2-D mixture problem with a known answer) or fashion (the "
      "embedded Fashion-MNIST text-to-image model; its prompts are its ten class names)");
    v("path", path,
      "diffusers folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/); fashion: the folder "
      "`nablagfn pretrain` writes, empty = the shipped assets/fashion");
    v("dtype", dtype, "dtype of the frozen networks: bfloat16, float16 (CUDA only) or float32 (LoRA, flow net, reward: float32); toy2d: "
      "float32 or float64");
    v("attention", attention,
      "auto (fused where libtorch has it: sdpa, the fp32 narrow-head kernels of the flow nets on CUDA; the "
      "VAE's one 512-wide head is written out on CUDA, faster there), reference (plain softmax(QK^T)V) or fused");
    v("lora_rank", lora_rank, "LoRA rank r on to_q, to_k, to_v, to_out.0 of every attention", Range::at_least(1));
    v("lora_alpha", lora_alpha, "LoRA alpha; the update is scaled by alpha / r", Range::above(0));
    v("lora_init", lora_init, "gaussian (A ~ N(0, 1/r^2), B = 0, as peft init_lora_weights='gaussian') or kaiming");
    v("lora_merged_backward", lora_merged_backward,
      "the policy's passes with gradients (every algorithm's training eps_theta) run each LoRA projection as one "
      "GEMM with W + (alpha/r) B A, rebuilt every call and rounded to the UNet's dtype, and a hand-written "
      "backward instead of the fp32 branch (faster on GPU). It agrees with the fp32 branch to one rounding in the "
      "UNet's dtype (bf16: 2^-8) of W + (alpha/r) B A and of the rank-r products, not bit for bit; no double "
      "backward. No-grad passes and per-sample-gated passes keep the branch");
    v("memory_format", memory_format,
      "sd: layout the UNet and the VAE decoder compute in: channels_last (NHWC; on CUDA their GroupNorm(+SiLU) steps "
      "take the fused kernels, with their backward under autograd, and no-grad sampling every fused kernel), "
      "contiguous (NCHW) or auto (channels_last on CUDA, contiguous on the CPU). Inputs and outputs keep their "
      "layout; same function, other rounding");
    v("flow_block_out_channels", flow_block_out_channels, "widths of the flow UNet g_phi (spec §3.5)",
      Range::at_least(1));
    v("flow_layers_per_block", flow_layers_per_block, "resnet layers per block of the flow UNet", Range::at_least(1));
    v("flow_conditioning", flow_conditioning,
      "text input of g_phi: auto (zeros for prompt-independent rewards, the prompt otherwise), prompt or zero");
    v("toy", toy);
  }
};

struct SampleConfig {
  std::string scheduler = "ddim";
  int n_steps = 50;
  double eta = 1.0;
  double guidance_scale = 5.0;
  int batch_size = 16;
  int n_batches_per_epoch = 4;
  std::string prompts = "simple_animals";
  bool cuda_graph = true;
  bool merge_lora = true;
  DPMppConfig dpmpp;

  template <class V>
  void visit(V&& v) {
    v("scheduler", scheduler, "ddim (DDIM-eta; eta = 1 is the paper's DDPM), ddpm, dpmpp_sde (order 1) or dpmpp_2m_sde");
    v("n_steps", n_steps, "sampling steps K (the MDP length)", Range::at_least(1));
    v("eta", eta, "DDIM stochasticity; must be > 0 for training (the policy must be Gaussian)", Range::at_least(0));
    v("guidance_scale", guidance_scale, "classifier-free guidance w, in sampling and in every training pass");
    v("batch_size", batch_size, "trajectories per sampling batch (all processes together: each samples its share)",
      Range::at_least(1));
    v("n_batches_per_epoch", n_batches_per_epoch, "sampling batches per epoch: trajectories/epoch = batch_size x this",
      Range::at_least(1));
    v("prompts", prompts, "prompt set: simple_animals, a .txt file (one prompt per line), or one literal prompt");
    v("cuda_graph", cuda_graph,
      "on CUDA with a first-order sampler: one chain step captured as a CUDA graph and replayed (same noise, "
      "same trajectories up to kernel rounding); false: the plain chain");
    v("merge_lora", merge_lora,
      "with cuda_graph: sample with the LoRA folded into the projection weights (W + (alpha/r)BA rounded once "
      "to the model dtype), as peft's merge does; false: the LoRA branch in every step");
    v("dpmpp", dpmpp);
  }
};

struct TrainConfig {
  int n_epochs = 100;
  int batch_size = 4;
  int grad_accum_steps = 8;
  double lr = 1e-3;
  double lr_flow = 1e-3;
  LRSchedule lr_schedule = LRSchedule::Constant;
  double weight_decay = 1e-4;
  double weight_decay_flow = 1e-2;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_eps = 1e-8;
  double max_grad_norm = 1.0;
  int data_lag = 0;
  double timestep_fraction = 0.1;
  bool low_var_subsampling = true;
  int save_every = 5;
  int reward_grad_chunk = 0;
  double vram_budget_gib = 0.0;
  int keep_checkpoints = 0;

  template <class V>
  void visit(V&& v) {
    v("n_epochs", n_epochs, "training epochs (each: sample, then train on the buffer)", Range::at_least(1));
    v("batch_size", batch_size, "trajectories per training micro-batch", Range::at_least(1));
    v("grad_accum_steps", grad_accum_steps, "micro-batches per optimizer update; updates/epoch = trajectories / (batch_size x this)",
      Range::at_least(1));
    v("lr", lr, "AdamW learning rate of the policy's trainable part (LoRA / residual MLP)", Range::above(0));
    v("lr_flow", lr_flow, "AdamW learning rate of the flow network", Range::above(0));
    v("lr_schedule", lr_schedule,
      "learning-rate schedule of every parameter group over the run's updates: constant (the release) or cosine "
      "(from lr down to 0)");
    v("weight_decay", weight_decay, "AdamW weight decay of the policy's trainable part", Range::at_least(0));
    v("weight_decay_flow", weight_decay_flow, "AdamW weight decay of the flow network", Range::at_least(0));
    v("adam_beta1", adam_beta1, "AdamW beta1", Range::below(0, 1));
    v("adam_beta2", adam_beta2, "AdamW beta2 (the release README suggests 0.95 for stabler runs)", Range::below(0, 1));
    v("adam_eps", adam_eps, "AdamW epsilon", Range::above(0));
    v("max_grad_norm", max_grad_norm, "gradient clipping, separately for the policy and the flow network; 0 = off",
      Range::at_least(0));
    v("data_lag", data_lag, "0: train on this epoch's samples (on-policy); 1: on the previous epoch's (the release, spec §9 item 5)",
      Range::closed(0, 1));
    v("timestep_fraction", timestep_fraction, "fraction of transitions trained per trajectory: int(K x f) + the terminal one",
      Range::above_up_to(0, 1));
    v("low_var_subsampling", low_var_subsampling, "stratified transition draw (one per trunk of the chain) instead of uniform");
    v("save_every", save_every, "checkpoint every N epochs (and at the end); 0 = only at the end", Range::at_least(0));
    v("reward_grad_chunk", reward_grad_chunk,
      "nabla_db's folded path: samples per VAE decode + reward backward when forming reward gradients (0: all "
      "at once); 1 keeps the 512x512 decoder backward of one sample in memory at a time",
      Range::at_least(0));
    v("vram_budget_gib", vram_budget_gib,
      "GPU memory to fit, GiB (0: no limit): picks the micro-batch split and reward_grad_chunk for full-size SD "
      "and logs the choice (--vram-budget)",
      Range::at_least(0));
    v("keep_checkpoints", keep_checkpoints,
      "keep only the newest N checkpoint folders (older ones are deleted after each save); 0 = keep all",
      Range::at_least(0));
  }
};

struct AlgorithmConfig {
  std::string name = "nabla_db";
  double beta = 1e3;
  double prior_strength = 1.0;
  double reverse_loss_scale = 1.0;
  double output_reg = 1e3;
  GammaMode gamma_mode = GammaMode::Squared;
  GuessModel guess_model = GuessModel::Policy;
  ReverseTarget reverse_target = ReverseTarget::Sample;
  FoldPasses fold_passes = FoldPasses::Auto;
  bool merged_lora_guess = true;
  bool no_flow = false;
  bool reverse_at_terminal = false;
  ConditionWeighting condition_weighting = ConditionWeighting::None;
  bool forward_trains_flow = true;
  ScorePrecision score_precision = ScorePrecision::Float32;
  double flow_target_ema = 0.0;
  bool quirk_double_step = false;
  bool quirk_stale_prompts = false;
  bool quirk_same_seed = false;
  ReFLConfig refl;
  DRaFTConfig draft;
  DRaFTLVConfig draft_lv;
  DDPOConfig ddpo;
  DAGDBConfig dag_db;

  template <class V>
  void visit(V&& v) {
    v("name", name, "nabla_db, refl, draft, draft_lv, ddpo, dag_db, residual_db or adjoint_matching");
    v("beta", beta, "reward scale beta: target p_pretrained(x) exp(beta r(x)) (nabla_db, dag_db, residual_db, adjoint_matching)",
      Range::at_least(0));
    v("prior_strength", prior_strength, "eta: multiplies the pretrained scores and the policy's reverse score (spec §3.6)",
      Range::at_least(0));
    v("reverse_loss_scale", reverse_loss_scale, "w_B, weight of the reverse (backward) condition; 0 skips its passes",
      Range::at_least(0));
    v("output_reg", output_reg, "lambda, weight of ||eps_theta - eps_old||^2 (0: eps_old is not stored)",
      Range::at_least(0));
    v("gamma_mode", gamma_mode, "weight gamma of the predicted-reward gradient: squared (alpha_bar, the release), sqrt (sqrt(alpha_bar)) or none (1)");
    v("guess_model", guess_model,
      "whose x_hat the predicted-reward guess G uses: policy (the finetuned model, the release) or pretrained (G "
      "then no longer moves with the policy's own epsilon Jacobian, amplified by 1/sqrt(alpha_bar) at high noise). "
      "Only the split of the flow score into g_phi + G changes: the toy's exact solution satisfies both conditions "
      "on average with either (test_nabla_db_exact)");
    v("reverse_target", reverse_target,
      "what g_phi(x) + G(x) regresses in the reverse condition: sample (the per-transition reverse scores, "
      "the release's nabla-DB), expected (their mean over x' ~ P_theta(.|x): eta J_mu#^T (mu_theta - mu_#)/sigma^2, "
      "nabla-DB's reverse condition without the noise that grows with the policy's Jacobian) or backup (NOT "
      "nabla-DB: the detached eta J_mu#^T (g_phi + G)(x') over x' ~ P_theta, a TD(0) backup of the value gradient by "
      "a learned, bootstrapped critic, closer to adjoint matching; it agrees with nabla-DB only on-policy at the "
      "optimum with eta = 1). The toy's exact solution satisfies all three on average (test_nabla_db_exact)");
    v("fold_passes", fold_passes,
      "nabla_db with reverse_target=sample and guess_model=policy: folded (one VJP through the policy's eps "
      "gives eta S<-_theta + G(x); x_hat's reward gradients chunked by train.reward_grad_chunk; one UNet graph "
      "alive at a time; leaves in fp32), separate (each term by its own pass, as the release) or auto (folded "
      "on CUDA)");
    v("merged_lora_guess", merged_lora_guess,
      "nabla_db's folded passes on SD: the guess's epsilon_theta(x') (forward and VJP, no LoRA gradient needed) "
      "runs with the LoRA merged into the projection weights (one rounding of W + (alpha/r) B A to the UNet's "
      "dtype) instead of the LoRA branch");
    v("no_flow", no_flow, "drop the flow network g_phi (forward loss only; forces reverse_loss_scale = 0)");
    v("reverse_at_terminal", reverse_at_terminal,
      "also train g_phi(x_{K-1}) with the reverse condition of the last transition; the release (and spec §3.4) "
      "leaves it out, which leaves the learned flow without the terminal reward as boundary condition");
    v("condition_weighting", condition_weighting,
      "weight of each squared ∇-DB residual, > 0 on every row so each row's minimiser is unchanged: none (the "
      "release), noise (1 - alpha_bar of the state the flow is evaluated at: residuals in that state's epsilon units; "
      "the terminal forward row, whose next state is clean, takes eps's weight so beta grad r(x_K) still reaches "
      "the policy) or eps ((sigma_k^2/kappa_k)^2 of the transition, kappa_k = -d mu/d eps: residuals in units of the "
      "policy's epsilon, so the last steps' 1/sigma^2 no longer amplify the policy's errors into the flow's targets)");
    v("forward_trains_flow", forward_trains_flow,
      "true (the release): g_phi(x') also learns from the forward condition; false: g_phi learns from the reverse and "
      "terminal conditions only and the policy from the forward one (same conditions, other routing). Trained "
      "through l_F, g_phi also fits the forward residual's spread over x', which pulled the toy's flow towards the "
      "prior's (bench/README.md, toy)");
    v("score_precision", score_precision,
      "nabla_db: dtype its state leaves, epsilon outputs, reverse scores and predicted-reward gradients G are formed "
      "in: float32, float64 or model (the UNet's dtype, as before issue 13; never below it). The reverse residual "
      "at late steps is a difference of two O(1/sigma) scores, which a bf16 UNet's rounding swamps "
      "(bench/README.md, score precision); the UNet itself still runs in model.dtype");
    v("flow_target_ema", flow_target_ema,
      "nabla_db: decay of an exponential moving average of g_phi's weights used in place of g_phi wherever a "
      "condition takes the detached g_phi(x') as a target (forward_trains_flow=false, reverse_target=backup), "
      "updated after every optimizer step (e.g. 0.99); 0 = off (the release)",
      Range::below(0, 1));
    v("quirk_double_step", quirk_double_step, "release bug §9.1: step AdamW twice per update");
    v("quirk_stale_prompts", quirk_stale_prompts, "release bug §9.2: score reward gradients with the last sampled batch's prompts");
    v("quirk_same_seed", quirk_same_seed, "release bug §9.4: the same seed on every rank");
    v("refl", refl);
    v("draft", draft);
    v("draft_lv", draft_lv);
    v("ddpo", ddpo);
    v("dag_db", dag_db);
  }
};

struct RewardConfig {
  std::string name = "aesthetic";
  std::string path;
  std::string head_path;
  bool cuda_graph = true;
  LinearRewardConfig linear;
  QuadraticRewardConfig quadratic;

  template <class V>
  void visit(V&& v) {
    v("name", name, "reward by name: aesthetic, pickscore, clip_score, hps, torchscript, jpeg_compressibility, contrast (the fashion "
      "default), linear, quadratic");
    v("path", path, "weights of the reward model (folder or file), or the TorchScript file");
    v("head_path", head_path, "aesthetic: the MLP head (.pth or .safetensors)");
    v("cuda_graph", cuda_graph,
      "Stable Diffusion on CUDA: a differentiable prompt-independent reward's forward + image gradient "
      "captured once per image shape as a CUDA graph and replayed (the same kernels, no per-kernel launch "
      "from the host); false: run eagerly");
    v("linear", linear);
    v("quadratic", quadratic);
  }
};

struct EvalConfig {
  int every = 5;
  int n_samples = 4096;
  int seed = 1234;

  template <class V>
  void visit(V&& v) {
    v("every", every, "evaluate every N epochs (and at the end); 0 = only at the end", Range::at_least(0));
    v("n_samples", n_samples, "samples drawn for an evaluation (toy2d: >= 4096 for the mode masses)",
      Range::at_least(1));
    v("seed", seed, "seed of the evaluation noise, fixed so evaluations are comparable along training",
      Range::at_least(0));
  }
};

// `nablagfn pretrain` of the embedded Fashion-MNIST model (model.kind fashion): a small UNet2DConditionModel
// on class-name prompts and the classifier of its metrics, trained from the Debian dataset.
struct PretrainConfig {
  std::string data = "/usr/share/datasets/fashion-mnist";
  int n_steps = 4000;
  int batch_size = 64;
  double lr = 1e-3;
  int warmup_steps = 200;
  double ema_decay = 0.999;
  double cfg_dropout = 0.1;
  std::vector<int> block_out_channels = {32, 64, 64};
  int norm_num_groups = 8;
  int attention_heads = 4;
  int context_tokens = 4;
  int context_dim = 64;
  int classifier_steps = 1500;
  double classifier_lr = 1e-3;
  int n_agreement_samples = 20;

  template <class V>
  void visit(V&& v) {
    v("data", data, "folder of the Fashion-MNIST IDX files (train-*/t10k-*-idx*-ubyte.gz, Debian's dataset-fashion-mnist)");
    v("n_steps", n_steps, "optimizer steps of the diffusion model (epsilon-prediction DDPM loss)");
    v("batch_size", batch_size, "images per step (diffusion model and classifier)");
    v("lr", lr, "Adam learning rate of the diffusion model and its class embedding");
    v("warmup_steps", warmup_steps, "linear learning-rate warm-up steps");
    v("ema_decay", ema_decay, "decay of the exponential moving average of the weights that are saved");
    v("cfg_dropout", cfg_dropout, "probability that a training image gets the empty prompt (classifier-free guidance)");
    v("block_out_channels", block_out_channels, "UNet widths per level (32x32, 16x16, 8x8 ...); cross-attention below the top level");
    v("norm_num_groups", norm_num_groups, "GroupNorm groups of the UNet (divides every width)");
    v("attention_heads", attention_heads, "attention heads per transformer block");
    v("context_tokens", context_tokens, "learned context tokens per class name (cross-attention length L)");
    v("context_dim", context_dim, "width D of the context tokens (the UNet's cross_attention_dim)");
    v("classifier_steps", classifier_steps, "optimizer steps of the classifier CNN");
    v("classifier_lr", classifier_lr, "Adam learning rate of the classifier");
    v("n_agreement_samples", n_agreement_samples, "samples per class for the final class-agreement check");
  }
};

struct Config {
  RunConfig run;
  ModelConfig model;
  SampleConfig sample;
  TrainConfig train;
  AlgorithmConfig algorithm;
  RewardConfig reward;
  EvalConfig eval;
  PretrainConfig pretrain;

  template <class V>
  void visit_groups(V&& v) {
    v("run", run);
    v("model", model);
    v("sample", sample);
    v("train", train);
    v("algorithm", algorithm);
    v("reward", reward);
    v("eval", eval);
    v("pretrain", pretrain);
  }
};

// Reads a JSONC experiment file onto the defaults. Error (with closest keys) on unknown keys, wrong types,
// malformed JSON or a missing file.
Config load_config(const std::string& path);
// Applies "group.key=value" (value parsed as JSON, else taken as a string).
void apply_override(Config& config, const std::string& assignment);
// Checks cross-field invariants (divisibility, ranges, algorithm/reward compatibility that needs no model).
void validate(const Config& config);
// The whole config as JSON (config.resolved.json).
std::string to_json(Config& config);
// The whole config as JSONC with each field's documentation above it (config --defaults).
std::string to_jsonc(Config& config);
// "group.key" of every field.
std::vector<std::string> config_keys(Config& config);

}  // namespace nablagfn
