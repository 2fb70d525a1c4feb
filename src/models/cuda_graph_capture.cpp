// CUDA graph capture: see cuda_graph_capture.h.
#include "models/cuda_graph_capture.h"

#if NABLAGFN_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>

#include <exception>

namespace nablagfn {

void capture_cuda_graph(at::cuda::CUDAGraph& graph, at::cuda::MempoolId_t pool, int warmups,
                        const std::function<void(int)>& prepare, const std::function<void()>& step) {
  c10::cuda::device_synchronize();
  {
    c10::cuda::CUDAStreamGuard side(at::cuda::getStreamFromPool());
    for (int i = 0; i < warmups; ++i) {
      prepare(i);
      step();
    }
    prepare(warmups);
    graph.capture_begin(pool);
    try {
      step();
    } catch (const std::exception&) {
      // capture_end ends the stream's capture, then reports the invalidated capture.
      try {
        graph.capture_end();
      } catch (const std::exception&) {
      }
      throw;
    }
    graph.capture_end();
  }
  c10::cuda::device_synchronize();
}

}  // namespace nablagfn
#endif
