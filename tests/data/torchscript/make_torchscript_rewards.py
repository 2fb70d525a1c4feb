"""Writes the tiny TorchScript rewards the C++ tests load (tests/test_reward_*.cpp), and their expected outputs.

Run from this folder with a Python that has torch (written with torch 1.13):  python3 make_torchscript_rewards.py
  prompt_reward.pt  torch.jit.script, forward(images, prompts: List[str]) -> [B]
  image_reward.pt   torch.jit.trace,  forward(images) -> [B]
  bad_signature.pt  torch.jit.script, forward(images, k: int): not a reward signature
  expected.pt       torch.save dict: images [2, 3, 8, 8], prompt_score, prompt_grad, image_score, image_grad
                    (scores and d sum(score) / d images, float32)
"""
from typing import List

import torch


class PromptReward(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.proj = torch.nn.Linear(4, 1)

    def forward(self, images: torch.Tensor, prompts: List[str]) -> torch.Tensor:
        h = torch.tanh(self.conv(images)).mean(dim=[2, 3])  # [B, 3, H, W] -> [B, 4]
        lengths = torch.tensor([float(len(p)) for p in prompts], dtype=images.dtype, device=images.device)
        return self.proj(h).squeeze(1) + 0.01 * lengths  # [B]


class ImageReward(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 2, 3, padding=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(images)).pow(2).mean(dim=[1, 2, 3])  # [B]


class BadSignature(torch.nn.Module):
    def forward(self, images: torch.Tensor, k: int) -> torch.Tensor:
        return images.mean(dim=[1, 2, 3]) * k


def main():
    torch.manual_seed(0)
    prompts = ["a photo of a cat", "an astronaut riding a horse"]
    images = torch.rand(2, 3, 8, 8)
    prompt_reward = torch.jit.script(PromptReward().eval())
    image_reward = torch.jit.trace(ImageReward().eval(), images)
    prompt_reward.save("prompt_reward.pt")
    image_reward.save("image_reward.pt")
    torch.jit.script(BadSignature()).save("bad_signature.pt")

    expected = {"images": images}
    for name, fn in [("prompt", lambda x: prompt_reward(x, prompts)), ("image", image_reward)]:
        x = images.clone().requires_grad_(True)
        score = fn(x)
        score.sum().backward()
        expected[name + "_score"] = score.detach()
        expected[name + "_grad"] = x.grad
    torch.save(expected, "expected.pt")


if __name__ == "__main__":
    main()
