#pragma once
// A LoRA's weights in the layouts other tools read, and a LoRA folded into the UNet's own weights.
// Every layout holds the same two matrices per projection, A [r, in] and B [out, r], update (alpha/r)·B·A:
//  - peft (peft `save_pretrained`): "<module>.lora_A.weight" / ".lora_B.weight" in
//    adapter_model.safetensors, r / lora_alpha / target_modules in adapter_config.json.
//  - diffusers (`StableDiffusionPipeline.save_lora_weights` after `convert_state_dict_to_diffusers`,
//    diffusers v0.40): "unet.<module>.lora.down.weight" / ".lora.up.weight" in
//    pytorch_lora_weights.safetensors, the LoraConfig as "unet."-prefixed JSON in the
//    "lora_adapter_metadata" header entry.
//  - kohya (kohya-ss sd-scripts networks/lora.py, what the A1111 / Forge WebUIs and ComfyUI load):
//    "lora_unet_<module path with '.' -> '_'>.lora_down.weight" / ".lora_up.weight" plus a scalar
//    ".alpha" per module, e.g. lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.
//    Written to lora_kohya.safetensors with sd-scripts' ss_network_* header entries.
// <module> is the diffusers UNet module path, e.g. down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "io/tensor_io.h"
#include "models/lora.h"

namespace nablagfn {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// "lora_unet_" + module with every '.' replaced by '_'.
std::string kohya_module_name(const std::string& module);

extern const char* const kPeftConfigFile;        // "adapter_config.json"
extern const char* const kDiffusersMetadataKey;  // diffusers' LORA_ADAPTER_METADATA_KEY

// The file write_lora writes for format, relative to its folder.
std::string lora_file_name(LoRAFormat format);
LoRAFormat parse_lora_format(const std::string& name);  // diffusers | peft | kohya; Error otherwise

// peft-named tensors (<module>.lora_A.weight / .lora_B.weight, A before B per module) renamed into format's
// layout as CPU float32 tensors; kohya adds each module's alpha as a 0-dim float32 tensor after its pair.
NamedTensors lora_layout(const NamedTensors& peft, LoRAFormat format, double alpha);

// Writes dir/lora_file_name(format) (and adapter_config.json for peft), creating dir.
void write_lora(const std::string& dir, const NamedTensors& peft, const LoRAConfig& config, LoRAFormat format);

// The UNet weights unet_state (diffusers names) with every LoRA pair of peft folded in:
// W <- W + (alpha/r)·B·A, computed in float32 and stored in W's dtype. Error naming a module whose
// "<module>.weight" is missing or whose shapes do not fit.
TensorMap merge_lora(const TensorMap& unet_state, const TensorMap& peft, double scale);

}  // namespace nablagfn
