#pragma once
// The reward interface (spec §5). One file per reward, registered by name in rewards/builtin.cpp.
//
// Contract of score(): images [B, C, H, W] float32 in [0, 1] on the reward's device (for the toy
// problem: points [B, D]), prompts of size B (ignored unless uses_prompt()). Returns [B] float32.
// When differentiable(), the result carries a graph to images, so ∇_images r is one backward away;
// rewards run in float32 whatever the dtype of their weights (the release found bf16 reward
// gradients too noisy). Non-differentiable rewards (JPEG compressibility) return a detached tensor and
// may only be used by gradient-free algorithms (DDPO).
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace nablagfn {

class Reward {
 public:
  virtual ~Reward() = default;
  virtual std::string name() const = 0;
  virtual bool differentiable() const = 0;
  virtual bool uses_prompt() const = 0;
  virtual at::Tensor score(const at::Tensor& images, const std::vector<std::string>& prompts) = 0;
  // Whether score() and its image gradient are device work only (no host copies, syncs or data-dependent
  // control), so that a CUDA graph can capture them (rewards/graphed_reward.h).
  virtual bool capturable() const { return false; }
};

// Rewards built on a CLIP image tower (aesthetic, pickscore / clip_score, hps) also expose the tower's
// embedding: the features of the evaluation's diversity and prior drift (problems/eval_metrics.h).
class ImageEmbedding {
 public:
  virtual ~ImageEmbedding() = default;
  // images [B, 3, H, W] in [0, 1] as for score() -> [B, E] unit-length rows, with a graph to images.
  virtual at::Tensor image_embedding(const at::Tensor& images) = 0;
};

}  // namespace nablagfn
