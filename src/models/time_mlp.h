#pragma once
// A small MLP on (x, τ) for low-dimensional problems: input [x, sinusoidal(τ)] -> hidden (SiLU) -> output.
// Used as the toy policy's residual and as the toy flow network. The output layer can start at zero so
// that the residual policy starts as the pretrained one.
#include <torch/torch.h>

namespace nablagfn {

struct TimeMLPOptions {
  int in_dim = 2;
  int out_dim = 2;
  int hidden = 128;
  int n_layers = 3;       // hidden layers
  int time_dim = 32;      // sinusoidal embedding width (even)
  bool zero_output = true;
};

class TimeMLPImpl : public torch::nn::Module {
 public:
  explicit TimeMLPImpl(const TimeMLPOptions& options);
  // x [B, in_dim], t [B] int64 DDPM timesteps -> [B, out_dim] in x's dtype.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t);

 private:
  TimeMLPOptions options_;
  torch::nn::ModuleList layers_;
};
TORCH_MODULE(TimeMLP);

}  // namespace nablagfn
