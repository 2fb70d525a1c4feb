#pragma once
// Every knob of a run, with its default and meaning. This header is the configuration documentation:
// `nablagfn config --defaults` prints it as JSONC. Experiment files (configs/*.jsonc) set only what
// differs; `--set group.key=value` overrides last. Unknown keys and type mismatches are errors that name
// the closest valid keys. Each field's documentation is the third argument of its visit() line, right
// next to the field, so the two cannot drift apart.
//
// Defaults are the release's SD-1.5 aesthetic setting (spec §4.1) with its known bugs fixed (spec §9);
// the `quirk_*` switches bring the bugs back to reproduce released numbers.
#include <string>
#include <vector>

namespace nablagfn {

struct RunConfig {
  std::string out = "runs/default";
  int seed = 0;
  std::string device = "auto";

  template <class V>
  void visit(V&& v) {
    v("out", out, "run directory (config.resolved.json, metrics.jsonl, plots/, samples/, checkpoints/)");
    v("seed", seed, "base seed; rank r uses seed + r (spec §9 item 4 fixed)");
    v("device", device, "auto (CUDA when available), cpu, cuda or cuda:N");
  }
};

struct ModelConfig {
  std::string kind = "sd";
  std::string path;
  std::string dtype = "bfloat16";
  std::string attention = "auto";
  int lora_rank = 8;
  double lora_alpha = 8.0;
  std::string lora_init = "gaussian";
  std::vector<int> flow_block_out_channels = {64, 128, 256, 256};
  int flow_layers_per_block = 1;
  std::string flow_conditioning = "auto";
  int toy_n_modes = 8;
  double toy_radius = 4.0;
  double toy_std = 0.5;
  int toy_hidden = 128;
  int toy_layers = 3;

  template <class V>
  void visit(V&& v) {
    v("kind", kind, "sd (a diffusers Stable Diffusion folder) or toy2d (the 2-D mixture problem with a known answer)");
    v("path", path, "diffusers folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/)");
    v("dtype", dtype, "dtype of the frozen networks: bfloat16, float16 or float32 (LoRA, flow net, reward: float32)");
    v("attention", attention, "auto (fused where libtorch has it), reference (plain softmax(QK^T)V) or fused");
    v("lora_rank", lora_rank, "LoRA rank r on to_q, to_k, to_v, to_out.0 of every attention");
    v("lora_alpha", lora_alpha, "LoRA alpha; the update is scaled by alpha / r");
    v("lora_init", lora_init, "gaussian (A ~ N(0, 1/r^2), B = 0, as peft init_lora_weights='gaussian') or kaiming");
    v("flow_block_out_channels", flow_block_out_channels, "widths of the flow UNet g_phi (spec §3.5)");
    v("flow_layers_per_block", flow_layers_per_block, "resnet layers per block of the flow UNet");
    v("flow_conditioning", flow_conditioning,
      "text input of g_phi: auto (zeros for prompt-independent rewards, the prompt otherwise), prompt or zero");
    v("toy_n_modes", toy_n_modes, "toy2d: number of equal-weight Gaussians on a circle");
    v("toy_radius", toy_radius, "toy2d: radius of the circle of means");
    v("toy_std", toy_std, "toy2d: std of each Gaussian");
    v("toy_hidden", toy_hidden, "toy2d: hidden width of the residual policy MLP and the flow MLP");
    v("toy_layers", toy_layers, "toy2d: hidden layers of those MLPs");
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
  std::string dpm_final_sigmas = "sigma_min";

  template <class V>
  void visit(V&& v) {
    v("scheduler", scheduler, "ddim (DDIM-eta; eta = 1 is the paper's DDPM), ddpm, dpmpp_sde (order 1) or dpmpp_2m_sde");
    v("n_steps", n_steps, "sampling steps K (the MDP length)");
    v("eta", eta, "DDIM stochasticity; must be > 0 for training (the policy must be Gaussian)");
    v("guidance_scale", guidance_scale, "classifier-free guidance w, in sampling and in every training pass");
    v("batch_size", batch_size, "trajectories per sampling batch (per rank)");
    v("n_batches_per_epoch", n_batches_per_epoch, "sampling batches per epoch: trajectories/epoch = batch_size x this");
    v("prompts", prompts, "prompt set: simple_animals, a .txt file (one prompt per line), or one literal prompt");
    v("dpm_final_sigmas", dpm_final_sigmas, "dpmpp: sigma_min (finite final score, the release's fix) or zero");
  }
};

struct TrainConfig {
  int n_epochs = 100;
  int batch_size = 4;
  int grad_accum_steps = 8;
  double lr = 1e-3;
  double lr_flow = 1e-3;
  std::string lr_schedule = "constant";
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

  template <class V>
  void visit(V&& v) {
    v("n_epochs", n_epochs, "training epochs (each: sample, then train on the buffer)");
    v("batch_size", batch_size, "trajectories per training micro-batch");
    v("grad_accum_steps", grad_accum_steps, "micro-batches per optimizer update; updates/epoch = trajectories / (batch_size x this)");
    v("lr", lr, "AdamW learning rate of the policy's trainable part (LoRA / residual MLP)");
    v("lr_flow", lr_flow, "AdamW learning rate of the flow network");
    v("lr_schedule", lr_schedule,
      "learning-rate schedule of every parameter group over the run's updates: constant (the release) or cosine "
      "(from lr down to 0)");
    v("weight_decay", weight_decay, "AdamW weight decay of the policy's trainable part");
    v("weight_decay_flow", weight_decay_flow, "AdamW weight decay of the flow network");
    v("adam_beta1", adam_beta1, "AdamW beta1");
    v("adam_beta2", adam_beta2, "AdamW beta2 (the release README suggests 0.95 for stabler runs)");
    v("adam_eps", adam_eps, "AdamW epsilon");
    v("max_grad_norm", max_grad_norm, "gradient clipping, separately for the policy and the flow network; 0 = off");
    v("data_lag", data_lag, "0: train on this epoch's samples (on-policy); 1: on the previous epoch's (the release, spec §9 item 5)");
    v("timestep_fraction", timestep_fraction, "fraction of transitions trained per trajectory: int(K x f) + the terminal one");
    v("low_var_subsampling", low_var_subsampling, "stratified transition draw (one per trunk of the chain) instead of uniform");
    v("save_every", save_every, "checkpoint every N epochs (and at the end); 0 = only at the end");
  }
};

struct AlgorithmConfig {
  std::string name = "nabla_db";
  double beta = 1e3;
  double prior_strength = 1.0;
  double reverse_loss_scale = 1.0;
  double output_reg = 1e3;
  std::string gamma_mode = "squared";
  std::string guess_model = "policy";
  std::string reverse_target = "sample";
  bool no_flow = false;
  bool reverse_at_terminal = false;
  std::string condition_weighting = "none";
  bool forward_trains_flow = true;
  bool quirk_double_step = false;
  bool quirk_stale_prompts = false;
  bool quirk_same_seed = false;
  int refl_last_steps = 10;
  double refl_target = 2.0;
  double refl_loss_scale = 1e-3;
  int draft_k = 1;
  int draft_lv_n = 2;
  double ddpo_clip_range = 1e-4;
  double ddpo_adv_clip = 5.0;
  int ddpo_buffer_size = 32;
  int ddpo_min_count = 16;
  double dag_beta_anneal = 0.5;

  template <class V>
  void visit(V&& v) {
    v("name", name, "nabla_db, refl, draft, draft_lv, ddpo, dag_db, residual_db or adjoint_matching");
    v("beta", beta, "reward scale beta: target p_pretrained(x) exp(beta r(x)) (nabla_db, dag_db, residual_db, adjoint_matching)");
    v("prior_strength", prior_strength, "eta: multiplies the pretrained scores and the policy's reverse score (spec §3.6)");
    v("reverse_loss_scale", reverse_loss_scale, "w_B, weight of the reverse (backward) condition; 0 skips its passes");
    v("output_reg", output_reg, "lambda, weight of ||eps_theta - eps_old||^2 (0: eps_old is not stored)");
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
    v("quirk_double_step", quirk_double_step, "release bug §9.1: step AdamW twice per update");
    v("quirk_stale_prompts", quirk_stale_prompts, "release bug §9.2: score reward gradients with the last sampled batch's prompts");
    v("quirk_same_seed", quirk_same_seed, "release bug §9.4: the same seed on every rank");
    v("refl_last_steps", refl_last_steps, "refl: the gradient step m is drawn from the last N steps (m in [K-N, K-1])");
    v("refl_target", refl_target, "refl: loss = mean(relu(target - r(x0_hat))) x refl_loss_scale");
    v("refl_loss_scale", refl_loss_scale, "refl: loss multiplier (1e-3 in ImageReward's ReFL)");
    v("draft_k", draft_k, "draft: backpropagate through the last K steps (K = n_steps is full DRaFT)");
    v("draft_lv_n", draft_lv_n, "draft_lv: fresh noises per sample re-noising the final sample to the last step");
    v("ddpo_clip_range", ddpo_clip_range, "ddpo: PPO ratio clip epsilon");
    v("ddpo_adv_clip", ddpo_adv_clip, "ddpo: advantages are clipped to +-this");
    v("ddpo_buffer_size", ddpo_buffer_size, "ddpo: per-prompt reward statistics keep this many recent rewards");
    v("ddpo_min_count", ddpo_min_count, "ddpo: below this many rewards for a prompt, use batch statistics");
    v("dag_beta_anneal", dag_beta_anneal, "dag_db: beta ramps linearly to its value over this fraction of the epochs (0 = off)");
  }
};

struct RewardConfig {
  std::string name = "aesthetic";
  std::string path;
  std::string head_path;
  std::vector<double> linear_coef = {0.5, 0.0};
  std::vector<double> quadratic_center = {4.0, 0.0};
  double quadratic_scale = 18.0;

  template <class V>
  void visit(V&& v) {
    v("name", name, "reward by name: aesthetic, pickscore, clip_score, hps, torchscript, jpeg_compressibility, linear, quadratic");
    v("path", path, "weights of the reward model (folder or file), or the TorchScript file");
    v("head_path", head_path, "aesthetic: the MLP head (.pth or .safetensors)");
    v("linear_coef", linear_coef, "linear: r(x) = <coef, x>");
    v("quadratic_center", quadratic_center, "quadratic: r(x) = -||x - center||^2 / scale");
    v("quadratic_scale", quadratic_scale, "quadratic: see quadratic_center");
  }
};

struct EvalConfig {
  int every = 5;
  int n_samples = 4096;
  int seed = 1234;

  template <class V>
  void visit(V&& v) {
    v("every", every, "evaluate every N epochs (and at the end); 0 = only at the end");
    v("n_samples", n_samples, "samples drawn for an evaluation (toy2d: >= 4096 for the mode masses)");
    v("seed", seed, "seed of the evaluation noise, fixed so evaluations are comparable along training");
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

  template <class V>
  void visit_groups(V&& v) {
    v("run", run);
    v("model", model);
    v("sample", sample);
    v("train", train);
    v("algorithm", algorithm);
    v("reward", reward);
    v("eval", eval);
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
