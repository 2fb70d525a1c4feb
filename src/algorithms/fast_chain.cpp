// The sampling chain's fast path: see fast_chain.h.
#include "algorithms/fast_chain.h"

#include "algorithms/problem.h"
#include "config/config.h"

#if NABLAGFN_WITH_CUDA

#include <map>
#include <sstream>
#include <string>

#include <ATen/cuda/CUDAGraph.h>

#include "algorithms/graph_sampler.h"
#include "models/sd_denoiser.h"

namespace nablagfn {

namespace {

class GraphChain : public FastChain {
 public:
  GraphChain(Problem& problem, bool merge_lora)
      : problem_(problem), merge_lora_(merge_lora), pool_(at::cuda::graph_pool_handle()) {}

  bool serves(const at::Tensor& x0, Adapter) const override {
    return x0.is_cuda() && !problem_.scheduler->second_order() &&
           dynamic_cast<SDDenoiser*>(problem_.denoiser.get()) != nullptr;
  }

  ChainResult run(const at::Tensor& x0, const at::Tensor& cond, at::Generator gen, Adapter adapter,
                  bool store_states, bool store_eps) override {
    const std::string key = key_of(x0, cond, adapter, store_states, store_eps);
    auto it = samplers_.find(key);
    if (it == samplers_.end()) {
      CudaGraphSamplerOptions o;
      o.store_states = store_states;
      o.store_eps = store_eps;
      o.merge_lora = merge_lora_ && adapter == Adapter::On;
      o.pool = pool_;
      auto sampler = std::make_unique<CudaGraphSampler>(*problem_.denoiser, *problem_.scheduler, x0,
                                                        problem_.conditioning(cond), adapter, o);
      it = samplers_.emplace(key, std::move(sampler)).first;
    }
    GraphSamples s = it->second->sample(x0, cond, gen);
    return ChainResult{s.x, s.eps};
  }

 private:
  // One capture per distinct shape / layout / adapter / storage / guidance scale.
  std::string key_of(const at::Tensor& x0, const at::Tensor& cond, Adapter adapter, bool store_states,
                     bool store_eps) const {
    std::ostringstream k;
    k << x0.sizes() << x0.scalar_type() << x0.suggest_memory_format() << x0.device() << '|'
      << (cond.defined() ? cond.sizes() : at::IntArrayRef{}) << '|' << (adapter == Adapter::On) << store_states
      << store_eps << '|' << problem_.guidance_scale;
    return k.str();
  }

  Problem& problem_;
  bool merge_lora_;
  decltype(at::cuda::graph_pool_handle()) pool_;
  std::map<std::string, std::unique_ptr<CudaGraphSampler>> samplers_;
};

}  // namespace

std::shared_ptr<FastChain> make_fast_chain(Problem& problem, const SampleConfig& config) {
  if (!config.cuda_graph || !problem.device.is_cuda()) return nullptr;
  return std::make_shared<GraphChain>(problem, config.merge_lora);
}

}  // namespace nablagfn

#else

namespace nablagfn {

std::shared_ptr<FastChain> make_fast_chain(Problem&, const SampleConfig&) { return nullptr; }

}  // namespace nablagfn

#endif  // NABLAGFN_WITH_CUDA
