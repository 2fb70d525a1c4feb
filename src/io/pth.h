#pragma once
// State dicts from PyTorch `torch.save` files (.pth / .pt / .bin in the zip format PyTorch writes since 1.6),
// for checkpoints that ship only in that form (the LAION aesthetic head, the HPSv2.1 checkpoint).
// Reads the zip through libtorch's PyTorchStreamReader and the pickle with a small unpickler of our own
// (see pth.cpp), so no Python is involved.
#include <string>

#include "io/tensor_io.h"

namespace nablagfn {

// The tensors of a torch.save archive holding a state dict: either the dict itself or a dict with the
// state dict under "state_dict" (training checkpoints such as HPS's). Tensors come back as contiguous CPU
// tensors of their stored dtype. Throws nablagfn::Error for a missing file, a file that is not a zip
// archive (including the legacy pre-1.6 format), a malformed archive, or a payload that is not a
// string -> tensor dict.
TensorMap load_pth(const std::string& path);

// A weights file by its extension: .safetensors through load_safetensors, anything else (.pth, .pt, .bin,
// .ckpt) through load_pth.
TensorMap load_tensors(const std::string& path);

// The weights of a transformers model folder: model.safetensors, else pytorch_model.bin (a torch.save
// archive); Error when neither exists.
std::string find_transformers_weights(const std::string& folder);

}  // namespace nablagfn
