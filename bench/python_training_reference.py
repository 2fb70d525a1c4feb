"""Same-card Python baseline for bench_training: one ∇-DB micro-batch of B transitions (spec §3.8, w_B = 1,
flow UNet on, micro-batch 4), the release's passes in PyTorch eager, random weights:
  policy ε_θ (peft LoRA r 8, CFG 5) under autograd, G(x') = β·ᾱ·∇r(x̂_θ(x')) through ε_θ(x'), the flow UNet
  g_φ at x and x', the pretrained ε_# (adapters disabled) with its reverse-score VJP, the policy's reverse
  score VJP, G(x) through ε_θ(x), then the loss ℓ_F + ℓ_B + λ·ℓ_R and its backward.
Frozen nets in bf16 (UNet, VAE decoder at 512x512), the reward in fp32 (CLIP ViT-L/14 image tower with
projection from transformers + LAION's MLP head), the flow UNet in fp32; float32 matmuls in TF32 as the
release sets them (allow_tf32 = True; --no-tf32: full float32, as bench_training --no-tf32).

diffusers is not installed on the device machine, so the UNet (and the flow UNet, same class) comes from
python_reference.py and the AutoencoderKL decoder is re-stated below (diffusers' Decoder for the SD-1.5 VAE
config: post_quant_conv, conv_in, mid block with one single-head attention (AttnProcessor2_0), four
UpDecoderBlock2D of 3 ResnetBlock2D each with nearest x2 + conv upsampling, GroupNorm + SiLU + conv_out).
Steps 10, 20, 30, 40 (one per row), all non-terminal, as bench_training.

Usage: python3 bench/python_training_reference.py [--batch 4] [--repeats 3] [--no-tf32]
Prints one `bench=training_python ...` line (the same format as bench_training).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from python_reference import DDIM, UNet, timed_runs  # noqa: E402


class VAEResnet(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = nn.GroupNorm(32, cin, eps=1e-6)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(32, cout, eps=1e-6)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x)
        return x + h


class VAEAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.group_norm = nn.GroupNorm(32, c, eps=1e-6)
        self.to_q, self.to_k, self.to_v = nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, c)
        self.to_out = nn.Linear(c, c)

    def forward(self, x):
        B, C, H, W = x.shape
        h = self.group_norm(x).view(B, C, H * W).transpose(1, 2)  # [B, HW, C]
        q, k, v = (m(h).unsqueeze(1) for m in (self.to_q, self.to_k, self.to_v))  # one head
        h = F.scaled_dot_product_attention(q, k, v).squeeze(1)
        h = self.to_out(h).transpose(1, 2).reshape(B, C, H, W)
        return x + h


class VAEDecoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch = list(reversed(cfg["block_out_channels"]))
        z = cfg["latent_channels"]
        self.scaling = cfg["scaling_factor"]
        self.post_quant_conv = nn.Conv2d(z, z, 1)
        self.conv_in = nn.Conv2d(z, ch[0], 3, padding=1)
        self.mid = nn.ModuleList([VAEResnet(ch[0], ch[0]), VAEAttention(ch[0]), VAEResnet(ch[0], ch[0])])
        self.up = nn.ModuleList()
        prev = ch[0]
        for i, c in enumerate(ch):
            blk = nn.Module()
            blk.resnets = nn.ModuleList([VAEResnet(prev if j == 0 else c, c) for j in range(cfg["layers_per_block"] + 1)])
            blk.conv = nn.Conv2d(c, c, 3, padding=1) if i < len(ch) - 1 else None
            self.up.append(blk)
            prev = c
        self.conv_norm_out = nn.GroupNorm(32, ch[-1], eps=1e-6)
        self.conv_out = nn.Conv2d(ch[-1], cfg["out_channels"], 3, padding=1)

    def forward(self, latents):
        h = self.conv_in(self.post_quant_conv(latents / self.scaling))
        for m in self.mid:
            h = m(h)
        for blk in self.up:
            for r in blk.resnets:
                h = r(h)
            if blk.conv is not None:
                h = blk.conv(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.conv_out(F.silu(self.conv_norm_out(h)))
        return (h / 2 + 0.5).clamp(0, 1)


class Aesthetic(nn.Module):
    """CLIP image embeddings (L2-normalised) + LAION's MLP, on images in [0, 1] (bicubic to 224, CLIP norm)."""

    def __init__(self, clip_cfg):
        super().__init__()
        from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection
        self.clip = CLIPVisionModelWithProjection(CLIPVisionConfig(**clip_cfg))
        e = clip_cfg["projection_dim"]
        self.mlp = nn.Sequential(nn.Linear(e, 1024), nn.Dropout(0.2), nn.Linear(1024, 128), nn.Dropout(0.2),
                                 nn.Linear(128, 64), nn.Dropout(0.1), nn.Linear(64, 16), nn.Linear(16, 1))
        self.register_buffer("mean", torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1))

    def forward(self, images):
        x = F.interpolate(images, size=(224, 224), mode="bicubic", align_corners=False)
        e = self.clip(pixel_values=(x - self.mean) / self.std).image_embeds
        return self.mlp(e / e.norm(dim=-1, keepdim=True)).squeeze(-1)


def set_adapters(model, enabled):
    for m in model.modules():
        if hasattr(m, "enable_adapters") and hasattr(m, "lora_A"):
            m.enable_adapters(enabled)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--no-tf32", action="store_true")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = not a.no_tf32
    from peft import LoraConfig, inject_adapter_in_model

    dev = torch.device("cuda")
    cfgdir = os.path.join(HERE, "configs/sd15")
    ucfg = json.load(open(os.path.join(cfgdir, "unet/config.json")))
    scfg = json.load(open(os.path.join(cfgdir, "scheduler/scheduler_config.json")))
    vcfg = json.load(open(os.path.join(cfgdir, "vae/config.json")))
    ccfg = {k: v for k, v in json.load(open(os.path.join(cfgdir, "aesthetic_clip/config.json"))).items()
            if k not in ("architectures", "model_type")}
    torch.manual_seed(0)
    unet = UNet(ucfg)
    unet = inject_adapter_in_model(LoraConfig(r=8, lora_alpha=8, init_lora_weights="gaussian",
                                              target_modules=["to_q", "to_k", "to_v", "to_out.0"]), unet)
    unet.to(dev, torch.bfloat16).eval().requires_grad_(False)
    lora = []
    for name, p in unet.named_parameters():
        if "lora_" in name:
            p.data = p.data.float()
            if "lora_B" in name:
                p.data.normal_(0.0, 0.01)
            p.requires_grad_(True)
            lora.append(p)
    fcfg = dict(ucfg, block_out_channels=[64, 128, 256, 256], layers_per_block=1, attention_head_dim=8)
    flow = UNet(fcfg).to(dev).train()
    vae = VAEDecoder(vcfg).to(dev, torch.bfloat16).eval().requires_grad_(False)
    reward = Aesthetic(ccfg).to(dev).eval().requires_grad_(False)
    sched = DDIM(scfg, 50, 1.0)
    ac = sched.alphas_cumprod.to(dev, torch.float32)

    B, beta, lam, w = a.batch, 1e3, 1e3, a.guidance
    D = ucfg["cross_attention_dim"]
    cond = torch.randn(B, 77, D, device=dev, dtype=torch.bfloat16)
    uncond = torch.randn(1, 77, D, device=dev, dtype=torch.bfloat16)
    ctx = torch.cat([uncond.expand(B, -1, -1), cond])
    ks = [10 * (i % 4 + 1) for i in range(B)]
    ts = torch.tensor([sched.timesteps[k] for k in ks], device=dev)
    ts_next = torch.tensor([sched.timesteps[k + 1] for k in ks], device=dev)
    x_k = torch.randn(B, 4, 64, 64, device=dev, dtype=torch.bfloat16)
    x_next = torch.randn(B, 4, 64, 64, device=dev, dtype=torch.bfloat16)
    eps_old = torch.randn(B, 4, 64, 64, device=dev, dtype=torch.bfloat16)
    rows = lambda v: v.view(B, 1, 1, 1)  # noqa: E731
    a_t, a_n = rows(ac[ts]), rows(ac[ts_next])
    a_prev = rows(torch.where(ts - sched.ratio >= 0, ac[(ts - sched.ratio).clamp(min=0)], ac[0]))
    std = (((1 - a_prev) / (1 - a_t)) * (1 - a_t / a_prev)).sqrt()

    def guided(x, t):
        e_u, e_c = unet(torch.cat([x] * 2), torch.cat([t] * 2), ctx).chunk(2)
        return e_u + w * (e_c - e_u)

    def mean_of(x, eps):  # DDIM-η=1 step mean
        x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        return a_prev.sqrt() * x0 + (1 - a_prev - std ** 2).sqrt() * eps

    def reward_grad(x, eps, ab, retain):
        x0 = (x - (1 - ab).sqrt() * eps) / ab.sqrt()
        r = reward(vae(x0.to(torch.bfloat16)).float())
        return torch.autograd.grad(r.sum(), x, retain_graph=retain)[0].float() * beta * ab

    def step():
        for p in lora + list(flow.parameters()):
            p.grad = None
        x = x_k.clone().requires_grad_(True)
        eps_pol = guided(x, ts)
        mean_pol = mean_of(x.float(), eps_pol.float())
        s_fwd = -(x_next.float() - mean_pol) / std ** 2
        y = x_next.clone().requires_grad_(True)
        G_next = reward_grad(y, guided(y, ts_next), a_n, False)
        g_next = flow(x_next.float(), ts_next, ctx[B:].float())
        g_cur = flow(x_k.float(), ts, ctx[B:].float())
        set_adapters(unet, False)
        eps_ref = guided(x, ts)
        set_adapters(unet, True)
        mean_ref = mean_of(x.float(), eps_ref.float())
        s_fwd_ref = -(x_next.float() - mean_ref.detach()) / std ** 2
        s_rev_ref = torch.autograd.grad(mean_ref, x, (x_next.float() - mean_ref.detach()) / std ** 2)[0].float()
        s_rev = torch.autograd.grad(mean_pol, x, (x_next.float() - mean_pol.detach()) / std ** 2,
                                    retain_graph=True)[0].float()
        G_cur = reward_grad(x, eps_pol, a_t, True)
        l_F = (s_fwd - s_fwd_ref - G_next - g_next).pow(2).mean()
        l_B = (s_rev - s_rev_ref + g_cur + G_cur).pow(2).mean()
        l_R = (eps_pol.float() - eps_old.float()).pow(2).mean()
        (l_F + l_B + lam * l_R).backward()

    times = timed_runs(step, a.repeats)
    med = statistics.median(times)
    import transformers
    print(f'bench=training_python variant=python_eager_release_passes card="{torch.cuda.get_device_name()}" '
          f'date={time.strftime("%Y-%m-%d", time.gmtime())} batch={B} s_per_transition_sample={med / B:.4f} '
          f's_per_microbatch={med:.3f} min_s={min(times):.3f} max_s={max(times):.3f} runs={a.repeats} '
          f'peak_alloc_gib={torch.cuda.max_memory_allocated() / 2**30:.2f} '
          f'peak_reserved_gib={torch.cuda.max_memory_reserved() / 2**30:.2f} '
          f'torch={torch.__version__} transformers={transformers.__version__}', flush=True)


if __name__ == "__main__":
    main()
