// CUDA-graph sampling: see graph_sampler.h. The step below mirrors run_chain() in trajectory.cpp op for
// op (same coefficient rounding, same order of products and sums), so with the same kernels it gives
// the same numbers.
#include "algorithms/graph_sampler.h"

#if NABLAGFN_WITH_CUDA

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "models/cuda_graph_capture.h"
#include "models/cuda_sampling.h"
#include "models/sd_denoiser.h"

namespace nablagfn {

struct CudaGraphSampler::Impl {
  Impl(Denoiser& d, Adapter a, const CudaGraphSamplerOptions& o) : denoiser(d), adapter(a), options(o) {}

  // One step of the chain on the static buffers; advances the device step counter k.
  void step();

  Denoiser& denoiser;
  Adapter adapter;  // what the graph passes to the denoiser (Off when LoRA is merged into the weights)
  CudaGraphSamplerOptions options;
  int n_steps = 0;
  bool second_order = false;
  Conditioning c;             // c.cond: the static prompt buffer [B, L, D]
  std::vector<int64_t> coef_shape;  // [1, 1, ...] broadcasting a step constant over [B, S...]
  at::Tensor x;               // [B, S...] the current state
  at::Tensor x0_prev;         // [B, S...] x̂0 of the previous step (second-order samplers)
  at::Tensor noise;           // [K, B, S...]
  at::Tensor states;          // [B, K+1, S...] (store_states)
  at::Tensor eps_all;         // [B, K, S...] (store_eps)
  at::Tensor k;               // [1] int64 step counter
  at::Tensor timesteps, c_x, c_eps, c_x0prev, sigma, alpha_bar;  // [K] step tables (int64 / x's dtype)
  std::unique_ptr<MergedLoRA> merged;
  at::cuda::CUDAGraph graph;
};

void CudaGraphSampler::Impl::step() {
  const int64_t B = x.size(0);
  auto coef = [&](const at::Tensor& table) { return table.index_select(0, k).view(coef_shape); };  // [1] -> [1, 1, ...]
  at::Tensor t = timesteps.index_select(0, k).expand({B});  // [1] -> [B]
  at::Tensor eps = guided_eps(denoiser, x, t, c, adapter);  // [B, S...]
  at::Tensor mean = coef(c_x) * x + coef(c_eps) * eps;
  if (second_order) mean = mean + coef(c_x0prev) * x0_prev;
  at::Tensor x_next = mean + coef(sigma) * noise.index_select(0, k).squeeze(0);  // [1, B, S...] -> [B, S...]
  if (second_order) {
    at::Tensor ab = coef(alpha_bar);
    x0_prev.copy_((x - at::sqrt(1.0 - ab) * eps) / at::sqrt(ab));
  }
  if (options.store_eps) eps_all.index_copy_(1, k, eps.unsqueeze(1));             // [B, 1, S...] into [B, K, S...]
  if (options.store_states) states.index_copy_(1, k + 1, x_next.unsqueeze(1));  // [B, 1, S...] into [B, K+1, S...]
  x.copy_(x_next);
  k.add_(1);
}

namespace graph_sampler_detail {

// table[k] for k < K, on device in dtype, converted exactly as Scheduler::gather converts a row.
at::Tensor device_table(const std::vector<double>& table, const at::Tensor& like) {
  return at::tensor(table, at::TensorOptions().dtype(at::kDouble)).to(like.device(), like.scalar_type());
}

}  // namespace graph_sampler_detail

CudaGraphSampler::CudaGraphSampler(Denoiser& denoiser, const Scheduler& scheduler, const at::Tensor& x_like,
                                   const Conditioning& c, Adapter adapter, const CudaGraphSamplerOptions& options)
    : impl_(std::make_unique<Impl>(denoiser, adapter, options)) {
  using graph_sampler_detail::device_table;
  TORCH_CHECK(x_like.is_cuda() && x_like.dim() >= 2, "CudaGraphSampler: x_like must be a CUDA tensor [B, ...], got ",
              x_like.sizes(), " on ", x_like.device());
  at::NoGradGuard no_grad;
  Impl& m = *impl_;
  const int K = scheduler.n_steps();
  TORCH_CHECK(K >= 1, "CudaGraphSampler: the scheduler has no steps");
  m.n_steps = K;
  m.second_order = scheduler.second_order();
  m.coef_shape.assign(x_like.dim(), 1);
  m.c = c;
  if (c.cond.defined()) m.c.cond = c.cond.clone();
  if (c.uncond.defined()) m.c.uncond = c.uncond.clone();

  m.x = x_like.clone();
  m.x0_prev = at::zeros_like(x_like);
  std::vector<int64_t> noise_shape{K};
  noise_shape.insert(noise_shape.end(), x_like.sizes().begin(), x_like.sizes().end());
  m.noise = at::zeros(noise_shape, x_like.options());  // [K, B, S...]
  std::vector<int64_t> traj_shape = x_like.sizes().vec();
  traj_shape.insert(traj_shape.begin() + 1, K + 1);
  if (options.store_states) m.states = at::zeros(traj_shape, x_like.options());  // [B, K+1, S...]
  traj_shape[1] = K;
  if (options.store_eps) m.eps_all = at::zeros(traj_shape, x_like.options());  // [B, K, S...]
  m.k = at::zeros({1}, x_like.options().dtype(at::kLong));

  std::vector<double> c_x, c_eps, c_x0prev, sigma, alpha_bar;
  for (int i = 0; i < K; ++i) {
    c_x.push_back(scheduler.coef_x(i));
    c_eps.push_back(scheduler.coef_eps(i));
    c_x0prev.push_back(scheduler.coef_x0prev(i));
    sigma.push_back(scheduler.std_at(i));
    alpha_bar.push_back(scheduler.state_alpha_bar(i));
  }
  m.timesteps = at::tensor(scheduler.timesteps(), at::kLong).to(x_like.device());
  m.c_x = device_table(c_x, x_like);
  m.c_eps = device_table(c_eps, x_like);
  m.c_x0prev = device_table(c_x0prev, x_like);
  m.sigma = device_table(sigma, x_like);
  m.alpha_bar = device_table(alpha_bar, x_like);

  if (options.merge_lora && adapter == Adapter::On) {
    auto* sd = dynamic_cast<SDDenoiser*>(&denoiser);
    require(sd != nullptr, "merge_lora needs a Stable Diffusion denoiser (UNet + LoRA)",
            "turn merge_lora off for other denoisers");
    m.merged = std::make_unique<MergedLoRA>(*sd);
    m.adapter = Adapter::Off;  // the branch is in the weights
  }

  // Warm-ups at steps 0, 1, ..., the captured step at step 0 (each replay then advances k).
  std::unique_ptr<MergedLoRA::Scope> scope;
  if (m.merged) scope = std::make_unique<MergedLoRA::Scope>(*m.merged);
  const int warmups = std::max(options.warmup_steps, 1);
  capture_cuda_graph(
      m.graph, m.options.pool, warmups, [&](int i) { m.k.fill_(i < warmups ? i % K : 0); }, [&] { m.step(); });
}

CudaGraphSampler::~CudaGraphSampler() = default;

GraphSamples CudaGraphSampler::sample(const at::Tensor& x0, const at::Tensor& cond, at::Generator gen) {
  Impl& m = *impl_;
  at::NoGradGuard no_grad;
  TORCH_CHECK(x0.sizes() == m.x.sizes(), "CudaGraphSampler::sample: x0 must be ", m.x.sizes(), " as captured, got ",
              x0.sizes());
  TORCH_CHECK(cond.defined() == m.c.cond.defined() && (!cond.defined() || cond.sizes() == m.c.cond.sizes()),
              "CudaGraphSampler::sample: cond must be shaped as captured");
  // The K step noises, drawn as the plain chain draws them (one x-shaped draw per step, in order).
  for (int i = 0; i < m.n_steps; ++i) m.noise.select(0, i).normal_(0.0, 1.0, gen);
  m.x.copy_(x0);
  if (cond.defined()) m.c.cond.copy_(cond);
  m.x0_prev.zero_();
  m.k.zero_();
  if (m.options.store_states) m.states.select(1, 0).copy_(x0);
  if (m.merged) m.merged->refresh();
  for (int i = 0; i < m.n_steps; ++i) m.graph.replay();
  GraphSamples out;
  out.x = m.options.store_states ? m.states.clone() : m.x.clone();
  if (m.options.store_eps) out.eps = m.eps_all.clone();
  return out;
}

}  // namespace nablagfn

#endif  // NABLAGFN_WITH_CUDA
