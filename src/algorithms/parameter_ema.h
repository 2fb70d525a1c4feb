#pragma once
// Exponential moving average of a set of parameters (Polyak averaging): after every optimizer step
// shadow ← decay·shadow + (1 − decay)·params. The shadow tensors are either clones (the averaged weights
// `nablagfn pretrain` saves) or another network's parameters, which then is the average as a network
// (∇-DB's target flow network, algorithm.flow_target_ema).
#include <vector>

#include <ATen/core/Tensor.h>

namespace nablagfn {

class ParameterEMA {
 public:
  // shadow: tensors shaped like params (another network's parameters), set to params' values here.
  // decay in [0, 1).
  ParameterEMA(std::vector<at::Tensor> params, std::vector<at::Tensor> shadow, double decay);
  // The shadow as clones of params.
  ParameterEMA(std::vector<at::Tensor> params, double decay);

  // shadow ← decay·shadow + (1 − decay)·params, in place, no autograd.
  void update();
  // shadow ← params (the average restarts at the current weights).
  void reset();
  // params ← shadow.
  void copy_to_params();

 private:
  std::vector<at::Tensor> params_, shadow_;
  double decay_;
};

}  // namespace nablagfn
