#include "problems/toy2d.h"

#include <ATen/ATen.h>

#include "core/device.h"
#include "core/error.h"
#include "io/tensor_io.h"
#include "metrics/mode_mass.h"
#include "metrics/plot.h"
#include "models/toy_models.h"
#include "problems/eval_metrics.h"
#include "problems/eval_shards.h"
#include "rewards/analytic.h"
#include "rewards/registry.h"
#include "schedulers/factory.h"

namespace nablagfn {

namespace {
class IdentityDecoder : public Decoder {
 public:
  at::Tensor decode(const at::Tensor& latents) override { return latents; }
};

GaussianMixture tilted_target(const GaussianMixture& prior, const Reward& reward, double beta) {
  if (const auto* lin = dynamic_cast<const LinearReward*>(&reward)) return prior.tilt_linear(lin->coef(), beta);
  if (const auto* quad = dynamic_cast<const QuadraticReward*>(&reward))
    return prior.tilt_quadratic(quad->center(), quad->scale(), beta);
  throw Error("toy2d needs reward.name linear or quadratic (its target must be known in closed form), got '" +
                  reward.name() + "'",
              "set reward.name=linear or reward.name=quadratic");
}
// plots/samples<suffix>.png: up to 3000 samples over the exact target's density; plots/mode_masses<suffix>.png:
// the per-mode masses of the samples beside the target's and the prior's.
void write_toy_plots(const Toy2D& toy, const at::Tensor& samples, const at::Tensor& masses, const std::string& dir,
                     const std::string& suffix, double tv) {
  const int n_grid = 160;
  const double lim = 1.5 * toy.prior.means().abs().max().item<double>() + 3 * toy.prior.stds().max().item<double>();
  at::Tensor axis = at::linspace(-lim, lim, n_grid, at::kDouble);
  auto mesh = at::meshgrid({axis, axis}, "xy");                           // 2 x [ny, nx]
  at::Tensor grid = at::stack({mesh[0].flatten(), mesh[1].flatten()}, 1);  // [ny*nx, 2]
  at::Tensor density = at::exp(toy.target.log_density(grid)).to(at::kFloat).contiguous();
  DensityGrid d{n_grid, n_grid, -lim, lim, -lim, lim,
                std::vector<float>(density.data_ptr<float>(), density.data_ptr<float>() + density.numel())};
  at::Tensor shown = samples.slice(0, 0, 3000).to(at::kFloat).cpu().contiguous();
  at::Tensor means = toy.prior.means().to(at::kFloat).contiguous();
  char title[128];
  std::snprintf(title, sizeof title, "samples over the target p·exp(βr)   TV of mode masses %.3f", tv);
  scatter_density_plot(dir + "/samples" + suffix + ".png", title,
                       std::vector<float>(shown.data_ptr<float>(), shown.data_ptr<float>() + shown.numel()), d,
                       std::vector<float>(means.data_ptr<float>(), means.data_ptr<float>() + means.numel()));
  std::vector<std::string> modes;
  BarGroup got{"samples", {}}, exact{"target p·exp(βr)", {}}, prior{"prior", {}};
  const at::Tensor exact_masses = with_off_bin(toy.target.weights()), prior_masses = with_off_bin(toy.prior.weights());
  for (int i = 0; i < masses.size(0); ++i) {
    modes.push_back(i + 1 < masses.size(0) ? std::to_string(i) : "off");
    got.values.push_back(masses[i].item<double>());
    exact.values.push_back(exact_masses[i].item<double>());
    prior.values.push_back(prior_masses[i].item<double>());
  }
  bar_plot(dir + "/mode_masses" + suffix + ".png", "per-mode mass (nearest mean; off: > 4 std from every mode)", modes,
           {got, exact, prior}, "mass");
}
}  // namespace

at::ScalarType toy_dtype(const Config& config) {
  switch (config.model.dtype) {
    case ModelDType::Float32: return at::kFloat;
    case ModelDType::Float64: return at::kDouble;
    case ModelDType::BFloat16:
    case ModelDType::Float16: break;
  }
  throw Error("toy2d runs in float32 or float64, not model.dtype=" + to_string(config.model.dtype),
              "set model.dtype=float32");
}

Toy2D make_toy2d(const Config& config, at::ScalarType dtype) {
  const ModelConfig& m = config.model;
  require(m.toy.n_modes >= 1 && m.toy.std_dev > 0, "toy2d needs model.toy.n_modes >= 1 and model.toy.std > 0",
          "the issue's problem is 8 modes of std 0.5 on a circle of radius 4");
  NoiseSchedule schedule;
  GaussianMixture prior = GaussianMixture::ring(m.toy.n_modes, m.toy.radius, m.toy.std_dev);
  TimeMLPOptions mlp;
  mlp.hidden = m.toy.hidden;
  mlp.n_layers = m.toy.layers;
  Problem p;
  p.scheduler = make_scheduler(config.sample, schedule);
  p.denoiser = std::make_shared<ToyDenoiser>(prior, schedule, mlp, dtype);
  p.decoder = std::make_shared<IdentityDecoder>();
  // "auto" means the CPU here: the toy's networks are too small to gain from a GPU.
  p.device = config.run.device == "auto" ? c10::Device(c10::kCPU) : parse_device(config.run.device);
  p.reward = reward_registry().create(config.reward.name, config.reward, p.device);
  p.prompts = {""};
  p.features = std::make_shared<FlatFeatures>();  // diversity and prior drift on the 2-D points themselves
  p.latent_shape = {2};
  p.latent_dtype = dtype;
  p.make_flow_net = [mlp, dtype]() { return std::make_shared<MLPFlowNet>(mlp, dtype); };
  p.make_scalar_flow_net = [mlp, dtype]() {
    TimeMLPOptions scalar = mlp;
    scalar.out_dim = 1;
    return std::make_shared<MLPFlowNet>(scalar, dtype);
  };
  GaussianMixture target = tilted_target(prior, *p.reward, config.algorithm.beta);
  return Toy2D{std::move(p), std::move(prior), std::move(target)};
}

at::Tensor Toy2DEvaluator::draw(Problem& problem, Adapter adapter) const {
  const EvalShards shards(config_.eval.n_samples, config_.sample.batch_size, config_.eval.seed, comm_);
  std::vector<at::Tensor> parts;
  for (const EvalChunk& c : shards.mine()) {
    auto [gen, noise_gen] = chunk_generators(c, problem.device);
    at::Tensor x0 = at::randn({c.size(), 2}, gen, at::TensorOptions().dtype(problem.latent_dtype));  // [b, 2]
    parts.push_back(
        sample_final(problem, x0.to(problem.device), std::vector<std::string>(c.size(), ""), noise_gen, adapter));
  }
  return shards.gather(parts, "toy evaluation samples");  // [n, 2]
}

std::map<std::string, double> Toy2DEvaluator::evaluate(Problem& problem, const RunDir& run, int epoch, bool final) {
  at::Tensor samples = draw(problem, Adapter::On);
  at::Tensor masses = mode_masses(samples, toy_.prior.means(), toy_.prior.stds());  // [M + 1], off last
  const int64_t M = toy_.prior.means().size(0);
  std::map<std::string, double> out;
  out["tv_modes"] = total_variation(masses, with_off_bin(toy_.target.weights()));
  out["off_mass"] = masses[M].item<double>();
  out["reward_eval"] = problem.reward->score(samples.to(problem.device), {}).mean().item<double>();
  for (int64_t i = 0; i < M; ++i) out["mass_" + std::to_string(i)] = masses[i].item<double>();
  auto drift = reference_.compare(problem, features_of(problem, samples), cycled_prompt_index(samples.size(0), 1),
                                  [&](Adapter a) { return features_of(problem, draw(problem, a)); });
  out.insert(drift.begin(), drift.end());
  images_.clear();
  if (comm_ != nullptr && !comm_->is_main()) return out;  // the main process writes
  if (final || epoch < 0) {
    const std::string suffix = final ? "" : "_pretrained";
    write_toy_plots(toy_, samples, masses, run.path("plots"), suffix, out["tv_modes"]);
    images_ = {{"samples" + suffix, run.path("plots/samples" + suffix + ".png")},
               {"mode_masses" + suffix, run.path("plots/mode_masses" + suffix + ".png")}};
  }
  if (final)
    save_safetensors(run.path("final_samples.safetensors"),
                     std::vector<std::pair<std::string, at::Tensor>>{{"samples", samples.to(at::kFloat).cpu()}});
  return out;
}

}  // namespace nablagfn
