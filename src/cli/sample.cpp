// nablagfn sample --model DIR [--lora FILE [--lora-alpha A]] --prompt TEXT [--n N] [--steps K] [--guidance W]
//                 [--seed S] [--scheduler ddim|dpmpp-sde] [--eta E] [--batch B] [--device D] [--dtype T]
//                 --out grid.png|grid.jpg
// Draws N images of one prompt from a diffusers Stable Diffusion folder (problems/stable_diffusion.h),
// optionally with a LoRA (peft, diffusers or kohya layout; its rank and alpha are read from the file), and writes
// them as one PNG (or JPEG, by the extension) grid. Every user-facing failure (missing folder part, bad dtype,
// mismatched LoRA) is a nablagfn::Error that main.cpp prints as one line.
#include <CLI/CLI.hpp>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "algorithms/trajectory.h"
#include "cli/commands.h"
#include "cli/parse_args.h"
#include "config/config.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "io/atomic_file.h"
#include "io/fs_util.h"
#include "io/image_tensor.h"
#include "io/jpeg.h"
#include "io/safetensors.h"
#include "problems/component_names.h"
#include "problems/stable_diffusion.h"

namespace nablagfn::cli {

namespace sample_cli_detail {

// Rank (from the first A / down matrix) and alpha (peft adapter_config.json or the diffusers metadata;
// else alpha = rank, diffusers' scale 1 for files without alphas) of a LoRA file or directory.
// alpha_override > 0 replaces the alpha.
void read_lora_shape(const std::string& path, double alpha_override, ModelConfig& model) {
  namespace fs = std::filesystem;
  std::string file = path, peft_config;
  if (fs::is_directory(path)) {
    for (const char* name : {"adapter_model.safetensors", "pytorch_lora_weights.safetensors", "lora_kohya.safetensors"})
      if (fs::exists(fs::path(path) / name)) {
        file = (fs::path(path) / name).string();
        break;
      }
    if (fs::exists(fs::path(path) / "adapter_config.json"))
      peft_config = (fs::path(path) / "adapter_config.json").string();
  }
  require(fs::is_regular_file(file), "LoRA '" + path + "' is not a .safetensors file or a LoRA directory",
          "pass pytorch_lora_weights.safetensors, adapter_model.safetensors or the folder holding them");
  SafeTensors st(file);
  int64_t rank = 0;
  double alpha = 0.0;
  for (const auto& name : st.names()) {
    if (rank == 0 && (name.find(".lora_A.") != std::string::npos || name.find(".lora.down.") != std::string::npos ||
                      name.find(".lora_down.") != std::string::npos))
      rank = st.at(name).shape.at(0);
    // kohya: a scalar float32 ".alpha" per module, the same for every module of our exports
    const TensorView& v = st.at(name);
    if (alpha <= 0 && name.size() > 6 && name.compare(name.size() - 6, 6, ".alpha") == 0 && v.dtype == DType::F32 &&
        v.nbytes == sizeof(float)) {
      float a = 0.0f;
      std::memcpy(&a, v.data, sizeof a);
      alpha = a;
    }
  }
  require(rank > 0, "'" + file + "' holds no LoRA matrices",
          "expected keys like <module>.lora_A.weight (peft), unet.<module>.lora.down.weight (diffusers) or "
          "lora_unet_<module>.lora_down.weight (kohya)");
  auto meta = st.metadata().find("lora_adapter_metadata");
  if (meta != st.metadata().end()) {
    nlohmann::json j = nlohmann::json::parse(meta->second, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("unet.lora_alpha")) alpha = j.at("unet.lora_alpha").get<double>();
  }
  if (!peft_config.empty()) {
    nlohmann::json j = nlohmann::json::parse(read_file(peft_config), nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("lora_alpha")) alpha = j.at("lora_alpha").get<double>();
  }
  if (alpha_override > 0) {
    alpha = alpha_override;
  } else if (alpha <= 0) {
    alpha = static_cast<double>(rank);
    NABLAGFN_INFO("%s records no LoRA alpha: using alpha = rank = %lld (scale 1); set --lora-alpha otherwise",
                  file.c_str(), static_cast<long long>(rank));
  }
  model.lora_rank = static_cast<int>(rank);
  model.lora_alpha = alpha;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// "png" or "jpeg" by the extension of path (any case); Error for another extension, or .jpg in a build
// without libjpeg.
std::string image_format(const std::string& path) {
  const size_t dot = path.find_last_of('.');
  std::string ext = dot == std::string::npos || path.find('/', dot) != std::string::npos ? "" : path.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == "png") return "png";
  if (ext == "jpg" || ext == "jpeg") {
    require(jpeg_available(), "--out '" + path + "' asks for JPEG, but this build lacks libjpeg",
            "write a .png, or install libjpeg62-turbo-dev and rebuild");
    return "jpeg";
  }
  throw Error("--out '" + path + "' has no .png, .jpg or .jpeg extension", "name the grid grid.png or grid.jpg");
}

// Forwards to the sampling policy and advances a progress bar once per denoiser call (one per sampler
// step: classifier-free guidance batches both branches into one call).
class ProgressDenoiser : public Denoiser {
 public:
  ProgressDenoiser(std::shared_ptr<Denoiser> inner, ProgressBar& bar) : inner_(std::move(inner)), bar_(bar) {}
  at::Tensor eps(const at::Tensor& x, const at::Tensor& t, const at::Tensor& context, Adapter adapter) override {
    at::Tensor e = inner_->eps(x, t, context, adapter);
    bar_.update();
    return e;
  }
  std::vector<at::Tensor> trainable_parameters() override { return inner_->trainable_parameters(); }
  std::vector<std::pair<std::string, at::Tensor>> trainable_state() override { return inner_->trainable_state(); }
  void load_trainable_state(const TensorMap& state) override { inner_->load_trainable_state(state); }

 private:
  std::shared_ptr<Denoiser> inner_;
  ProgressBar& bar_;
};

}  // namespace sample_cli_detail

int run_sample(const std::vector<std::string>& args) {
  CLI::App app("sample images from a diffusers Stable Diffusion folder", "nablagfn sample");
  std::string model, lora, prompt, scheduler = "ddim", device = "auto", dtype = "auto", out;
  int n = 4, steps = 50, batch = 8;
  double guidance = 7.5, eta = 1.0, lora_alpha = 0.0;
  int64_t seed = 0;
  app.add_option("--model", model,
                 "diffusers folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/)")
      ->required();
  app.add_option("--lora", lora, "LoRA weights: a peft, diffusers or kohya .safetensors file, or its folder");
  app.add_option("--lora-alpha", lora_alpha, "LoRA alpha when the file records none (default: the rank)");
  app.add_option("--prompt", prompt, "the text prompt")->required();
  app.add_option("--n", n, "number of images");
  app.add_option("--steps", steps, "sampler steps");
  app.add_option("--guidance", guidance, "classifier-free guidance scale (1 = no guidance)");
  app.add_option("--seed", seed, "seed of the initial and step noise");
  app.add_option("--scheduler", scheduler, "ddim, ddpm, dpmpp-sde or dpmpp-2m-sde");
  app.add_option("--eta", eta, "DDIM stochasticity (0 = deterministic DDIM, 1 = DDPM-like)");
  app.add_option("--batch", batch, "images per sampling batch");
  app.add_option("--device", device, "auto (CUDA when available), cpu, cuda or cuda:N");
  app.add_option("--dtype", dtype, "auto (bfloat16 on CUDA, float32 on the CPU), float32, bfloat16 or float16");
  app.add_option("--out", out, "output grid: .png, or .jpg / .jpeg (quality 95)")->required();
  if (const int code = parse_args(app, args); code >= 0) return code;
  require(n >= 1 && steps >= 1 && batch >= 1, "--n, --steps and --batch must be >= 1", "for example --n 4 --steps 50");
  require(!sample_cli_detail::trim(prompt).empty(), "--prompt is empty",
          "give the text to draw, for example --prompt \"a photo of a cat\"");
  // The output is checked before the minutes of sampling, not after.
  const std::string format = sample_cli_detail::image_format(out);
  check_writable_file(out);
  init_cpu_runtime();

  Config config;
  config.model.kind = "sd";
  config.model.path = model;
  config.run.device = device;
  const c10::Device dev = parse_device(device);
  config.model.dtype = dtype == "auto" ? (dev.is_cuda() ? ModelDType::BFloat16 : ModelDType::Float32)
                                      : parse_enum<ModelDType>(dtype, "--dtype");
  for (char& c : scheduler)
    if (c == '-') c = '_';
  config.sample.scheduler = scheduler;
  config.sample.n_steps = steps;
  config.sample.eta = eta;
  config.sample.guidance_scale = guidance;
  config.sample.prompts = prompt;
  if (!lora.empty()) sample_cli_detail::read_lora_shape(lora, lora_alpha, config.model);
  validate(config);
  check_component_names(config);
  StableDiffusion sd = make_sd_pipeline(config);
  if (!lora.empty()) sd.denoiser->lora().load(lora);

  Problem& problem = sd.problem;
  std::vector<int64_t> shape{n};
  shape.insert(shape.end(), problem.latent_shape.begin(), problem.latent_shape.end());
  at::Tensor x0_all = at::randn(shape, at::detail::createCPUGenerator(static_cast<uint64_t>(seed)),
                                at::TensorOptions().dtype(problem.latent_dtype));  // [n, C, h, w]
  at::Generator gen = make_device_generator(problem.device, static_cast<uint64_t>(seed) + 1);
  const int64_t n_batches = (n + batch - 1) / batch;
  ProgressBar bar("sampling", n_batches * problem.scheduler->n_steps());
  problem.denoiser = std::make_shared<sample_cli_detail::ProgressDenoiser>(sd.denoiser, bar);
  std::vector<at::Tensor> images;
  for (int64_t b = 0; b < n; b += batch) {
    const int64_t e = std::min<int64_t>(n, b + batch);
    at::Tensor z = sample_final(problem, x0_all.slice(0, b, e).to(problem.device),
                                std::vector<std::string>(e - b, prompt), gen);  // [b, C, h, w]
    at::NoGradGuard no_grad;
    images.push_back(problem.decoder->decode(z).cpu());  // [b, 3, H, W] in [0, 1]
  }
  bar.finish();
  at::Tensor all = at::cat(images);  // [n, 3, H, W]
  const int n_cols = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n))));
  const Image grid = make_grid(all, n_cols);
  if (format == "jpeg")
    write_jpeg(out, grid);
  else
    write_png(out, grid);
  std::printf("wrote %s: %d images of %lldx%lld\n", out.c_str(), n, static_cast<long long>(all.size(3)),
              static_cast<long long>(all.size(2)));
  return 0;
}

}  // namespace nablagfn::cli
