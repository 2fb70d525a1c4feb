#pragma once
// How every CUDA graph here is captured (the sampling step, algorithms/graph_sampler.cpp; a reward's
// forward + gradient, rewards/graphed_reward.cpp). CUDA builds only.
#if NABLAGFN_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>

#include <functional>

namespace nablagfn {

// After a device synchronisation, on a side stream (graphs cannot be captured on the default stream):
// warmups runs of step, then one recorded into graph (memory from pool; {0, 0}: a private pool), then
// another device synchronisation. The warm-ups run cuDNN / cuBLAS algorithm selection and lazy
// initialisation outside the capture. prepare(i) runs, uncaptured, before step number i (i = warmups is
// the captured one). An exception inside the captured step ends the capture, so the process's CUDA work
// goes on, and propagates.
void capture_cuda_graph(at::cuda::CUDAGraph& graph, at::cuda::MempoolId_t pool, int warmups,
                        const std::function<void(int)>& prepare, const std::function<void()>& step);

}  // namespace nablagfn
#endif
