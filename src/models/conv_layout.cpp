// set_conv_layout: see conv_layout.h.
#include "models/conv_layout.h"

#include <torch/torch.h>

namespace nablagfn {

void set_conv_layout(torch::nn::Module& root, bool channels_last) {
  const at::MemoryFormat format = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  torch::NoGradGuard no_grad;
  for (auto& p : root.parameters(/*recurse=*/true)) {
    if (p.dim() == 4) p.set_data(p.contiguous(format));
  }
  for (auto& b : root.buffers(/*recurse=*/true)) {
    if (b.dim() == 4) b.set_data(b.contiguous(format));
  }
}

}  // namespace nablagfn
