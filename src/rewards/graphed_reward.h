#pragma once
// A differentiable, prompt-independent reward replayed from CUDA graphs (reward.cuda_graph). Under
// autograd each image shape's forward + input gradient, ∇_images Σ_b r_b, is captured once as one graph
// and replayed: the same kernels in the same order, without the host's launch of each of ViT-L/14's
// ~1 500 small fp32 kernels, which otherwise leaves the GPU waiting (bench/README.md, "Training"). The
// returned rewards carry a graph to the images whose backward scales the replayed gradient by the
// incoming one per row: rows must not interact (true of CLIP towers: no batch statistics). First order
// only: a backward with create_graph is an error.
// Without autograd, off CUDA, or for images that do not require grad, the wrapped reward runs as is.
#include <memory>

#include "rewards/reward.h"

namespace nablagfn {

// inner wrapped, where this build has CUDA and inner is differentiable, prompt-independent and capturable();
// inner itself otherwise. A capture that fails anyway is an Error naming reward.cuda_graph=false.
std::shared_ptr<Reward> graphed_reward(std::shared_ptr<Reward> inner);

}  // namespace nablagfn
