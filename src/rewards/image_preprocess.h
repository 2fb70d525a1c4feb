#pragma once
// Differentiable image preprocessing of the CLIP-based rewards (spec §5.1, §5.2): resizing and the OpenAI
// CLIP mean/std normalisation, on batches [B, 3, H, W] in [0, 1]. Every function keeps the autograd graph.
#include <array>
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace nablagfn {

// The OpenAI CLIP normalisation constants (also open_clip's OPENAI_DATASET_MEAN / _STD, which HPS uses).
constexpr std::array<double, 3> kCLIPMean = {0.48145466, 0.4578275, 0.40821073};
constexpr std::array<double, 3> kCLIPStd = {0.26862954, 0.26130258, 0.27577711};

// (images - mean) / std per channel; [B, 3, H, W] -> [B, 3, H, W].
at::Tensor clip_normalize(const at::Tensor& images);

// F.interpolate(images, size=(H, W), mode="bicubic", align_corners=False) without antialias:
// [B, C, h, w] -> [B, C, H, W]; the identity when the size already matches.
at::Tensor resize_bicubic(const at::Tensor& images, int64_t H, int64_t W);

// Aesthetic / CLIP / PickScore input (spec §5.1): bicubic resize to size x size (no crop, no antialias),
// then clip_normalize. [B, 3, H, W] in [0, 1] -> [B, 3, size, size].
at::Tensor clip_preprocess(const at::Tensor& images, int64_t size);

// HPSv2 input (spec §5.2, open_clip `ResizeMaxSize`): scale so the longer side is `size` (bicubic, sides
// rounded), zero-pad the shorter side centred (the extra pixel of an odd padding goes right / bottom), then
// clip_normalize. [B, 3, H, W] in [0, 1] -> [B, 3, size, size].
at::Tensor hps_preprocess(const at::Tensor& images, int64_t size);

}  // namespace nablagfn
