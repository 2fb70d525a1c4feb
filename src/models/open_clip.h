#pragma once
// open_clip's `CLIP` (ViT image tower + text transformer) read in open_clip key names onto the transformers
// CLIPModel modules (clip_model.h). Ports the structure of open_clip `CLIP`, `VisionTransformer`,
// `TextTransformer`, `ResidualAttentionBlock` (src/open_clip/model.py, transformer.py, v2.x; HPSv2 vendors
// the same code as hpsv2/src/open_clip). The two are the same network:
//   visual.conv1 / class_embedding / positional_embedding -> vision_model.embeddings.*
//   visual.ln_pre / ln_post -> vision_model.pre_layrnorm / post_layernorm (class-token pooling)
//   [visual.]transformer.resblocks.N.{ln_1, attn.in_proj_*, attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}
//     -> {vision,text}_model.encoder.layers.N.{layer_norm1, self_attn.{q,k,v}_proj, self_attn.out_proj,
//        layer_norm2, mlp.fc1, mlp.fc2}  (in_proj split in q, k, v order)
//   token_embedding / positional_embedding / ln_final -> text_model.embeddings.* / final_layer_norm
//   visual.proj [D, E], text_projection [D, E] (x @ proj) -> *_projection.weight [E, D] (transposed)
// Text pooling: open_clip takes the argmax of the ids; with open_clip's tokens (end-of-text 49407, the
// largest id, padded with 0) that is the first end-of-text token, the transformers rule used here.
// Not supported (Error): layer scale, attentional pooling, timm / HF towers, projection biases, non-causal text.
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "io/tensor_io.h"
#include "models/clip_model.h"

namespace nablagfn {

// The fields of open_clip's model config JSON (e.g. model_configs/ViT-H-14.json) this port reads.
struct OpenCLIPConfig {
  int64_t embed_dim = 512;
  bool quick_gelu = false;  // OpenAI-trained weights use QuickGELU; laion / HPS ones nn.GELU
  struct Vision {
    int64_t image_size = 224;
    int64_t layers = 12;
    int64_t width = 768;
    int64_t head_width = 64;
    double mlp_ratio = 4.0;
    int64_t patch_size = 16;
  } vision;
  struct Text {
    int64_t context_length = 77;
    int64_t vocab_size = 49408;
    int64_t width = 512;
    int64_t heads = 8;
    int64_t layers = 12;
    double mlp_ratio = 4.0;
  } text;
};

// ViT-H-14 (HPSv2.1's architecture): embed 1024; image 224, patch 14, 32 layers of width 1280, head width 80;
// text 24 layers of width 1024, 16 heads.
OpenCLIPConfig open_clip_vit_h_14();
// Parses open_clip's {"embed_dim", "quick_gelu", "vision_cfg", "text_cfg"}; Error on unsupported options.
OpenCLIPConfig open_clip_config_from_json(const nlohmann::json& j, const std::string& source);
OpenCLIPConfig load_open_clip_config(const std::string& path);

// The transformers CLIPModel config of the same network (open_clip LayerNorm eps 1e-5, pad id 0).
CLIPModelConfig to_clip_model_config(const OpenCLIPConfig& config);

// An open_clip state dict renamed to transformers CLIPModel keys (in_proj split, projections transposed).
// Keys it does not know keep their name, so the strict loader reports them; `attn_mask` (a constant buffer
// older open_clip saved) is dropped.
TensorMap open_clip_to_transformers(const TensorMap& tensors);

// open_clip weights (model.safetensors, or a torch.save checkpoint, possibly {'state_dict': ...}) loaded
// strictly into a CLIPModel, float32, CPU, eval mode.
CLIPModel load_open_clip_model(const std::string& weights, const OpenCLIPConfig& config);

}  // namespace nablagfn
