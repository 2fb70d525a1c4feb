#pragma once
// Stable Diffusion's prompt conditioning: CLIP tokenizer + CLIPTextModel, as diffusers'
// StableDiffusionPipeline.encode_prompt (pipelines/stable_diffusion/pipeline_stable_diffusion.py, v0.3x)
// does it with clip_skip unset: ids padded to 77 with the tokenizer's pad id, no attention mask, the
// last hidden state (after the final layer norm) as the UNet's context.
#include <set>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "models/clip_text.h"
#include "models/pipeline_parts.h"
#include "text/clip_tokenizer.h"

namespace nablagfn {

class CLIPPromptEncoder : public PromptEncoder {
 public:
  // The text encoder's weights are held in dtype on device, in eval mode, without gradients.
  CLIPPromptEncoder(CLIPTokenizer tokenizer, CLIPTextModel model, c10::Device device, c10::ScalarType dtype);
  // A diffusers model folder: tokenizer/ (vocab.json, merges.txt) and text_encoder/ (config.json,
  // model.safetensors). Error with a hint if either is missing.
  static CLIPPromptEncoder from_folder(const std::string& model_dir, c10::Device device, c10::ScalarType dtype);

  // prompts (B) -> last_hidden_state [B, 77, D] in dtype on device, no graph. A prompt longer than the
  // tokenizer's max_length is cut there (as diffusers does), with one warning per distinct prompt.
  at::Tensor encode(const std::vector<std::string>& prompts) override;

  const CLIPTokenizer& tokenizer() const { return tokenizer_; }
  CLIPTextModel& model() { return model_; }

 private:
  CLIPTokenizer tokenizer_;
  CLIPTextModel model_;
  c10::Device device_;
  c10::ScalarType dtype_;
  std::set<std::string> checked_;  // prompts whose length was checked
};

}  // namespace nablagfn
