#pragma once
// Strict loading of a module's parameters and buffers by name (diffusers / transformers key names).
// Every expected key must be present, every file key consumed or explicitly ignored, every shape equal;
// a failure reports every mismatch at once (missing, unexpected, mis-shaped), not the first one.
// Values are copied into the module's existing tensors, converting to their dtype (the model's dtype
// is the caller's explicit choice, e.g. bf16 SD weights from an fp16 file).
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "io/tensor_io.h"

namespace nablagfn {

struct LoadOptions {
  std::string prefix;                     // file keys are prefix + module key
  std::vector<std::string> ignore_keys;   // file keys (after removing the prefix) allowed to stay unused
  std::string hint;                       // appended to the error, e.g. "this looks like an SD-2 text encoder"
};

void load_state_dict(torch::nn::Module& module, const TensorMap& tensors, const std::string& source,
                     const LoadOptions& options = {});

// "" when a file tensor fits its target: the same shape, and floating point for a floating-point target
// (any width: the load converts) or integer / bool for an integer one. Else "key (file Int[4], model Float[4])":
// a dtype relabelled in the file (F32 bytes declared I32) is refused rather than cast.
std::string describe_misfit(const std::string& key, const at::Tensor& file, const at::Tensor& target,
                            const std::string& target_name = "model");

// Throws one Error listing every missing, unexpected and mismatched key (at most 8 of each, then a count)
// when any list is non-empty: "<what>: missing [...]; unexpected [...]; mismatched [...] (hint: ...)".
void throw_if_keys_mismatch(const std::string& what, const std::vector<std::string>& missing,
                            const std::vector<std::string>& unexpected, const std::vector<std::string>& mismatched,
                            const std::string& hint);

// The module's parameters and buffers as name -> tensor (no copy).
TensorMap state_dict(const torch::nn::Module& module);

}  // namespace nablagfn
