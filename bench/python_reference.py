"""Same-card Python baseline for bench_sampling: SD-1.5 sampling, N trajectories x K DDIM-eta steps, CFG w
(one UNet batch of 2N), bf16, SDPA, peft LoRA (r = alpha = 8, fp32 LoRA weights, as diffusers' training
scripts keep them), PyTorch eager, random weights.

diffusers is not installed on the device machine (and cannot be fetched there), so the UNet below re-states
the op sequence of diffusers' UNet2DConditionModel for the SD-1.5 config (v0.3x/0.40 code paths:
ResnetBlock2D, Transformer2DModel with conv proj_in/proj_out, BasicTransformerBlock, Attention with
AttnProcessor2_0 including its no-op `/ rescale_output_factor`, GEGLU, Upsample2D/Downsample2D) and the
DDIMScheduler.step arithmetic; LoRA comes from the installed peft (inject_adapter_in_model). Weights are
random, so only timing and memory are meaningful.

Usage: python3 bench/python_reference.py [--n 16] [--steps 50] [--repeats 3] [--profile]
Prints one `bench=sampling_python ...` line (the same format as bench_sampling).
"""
import argparse
import json
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


class Timesteps(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, t):
        half = self.dim // 2
        exponent = -math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half
        emb = t[:, None].float() * torch.exp(exponent)[None, :]
        emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
        return torch.cat([emb[:, half:], emb[:, :half]], dim=-1)  # flip_sin_to_cos


class TimestepEmbedding(nn.Module):
    def __init__(self, cin, dim):
        super().__init__()
        self.linear_1 = nn.Linear(cin, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, temb, groups, eps):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.dropout = nn.Dropout(0.0)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None
        self.output_scale_factor = 1.0

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x)
        return (x + h) / self.output_scale_factor


class Attention(nn.Module):
    def __init__(self, dim, ctx_dim, heads):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(ctx_dim, dim, bias=False)
        self.to_v = nn.Linear(ctx_dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])
        self.rescale_output_factor = 1.0

    def forward(self, x, ctx=None):
        ctx = x if ctx is None else ctx
        B = x.shape[0]
        q, k, v = self.to_q(x), self.to_k(ctx), self.to_v(ctx)
        d = q.shape[-1] // self.heads
        q = q.view(B, -1, self.heads, d).transpose(1, 2)
        k = k.view(B, -1, self.heads, d).transpose(1, 2)
        v = v.view(B, -1, self.heads, d).transpose(1, 2)
        h = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, is_causal=False)
        h = h.transpose(1, 2).reshape(B, -1, self.heads * d).to(q.dtype)
        h = self.to_out[1](self.to_out[0](h))
        return h / self.rescale_output_factor


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        h, gate = self.proj(x).chunk(2, dim=-1)
        return h * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, 4 * dim), nn.Dropout(0.0), nn.Linear(4 * dim, dim)])

    def forward(self, x):
        for m in self.net:
            x = m(x)
        return x


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, ctx_dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, ctx_dim, heads)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x, ctx):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), ctx) + x
        return self.ff(self.norm3(x)) + x


class Transformer2DModel(nn.Module):
    def __init__(self, dim, ctx_dim, heads, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, dim, eps=1e-6)
        self.proj_in = nn.Conv2d(dim, dim, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(dim, ctx_dim, heads)])
        self.proj_out = nn.Conv2d(dim, dim, 1)

    def forward(self, x, ctx):
        B, C, H, W = x.shape
        h = self.proj_in(self.norm(x))
        h = h.permute(0, 2, 3, 1).reshape(B, H * W, C)
        for blk in self.transformer_blocks:
            h = blk(h, ctx)
        h = h.reshape(B, H, W, C).permute(0, 3, 1, 2).contiguous()
        return self.proj_out(h) + x


class Downsample2D(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        if x.shape[0] >= 64:
            x = x.contiguous()
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class UNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch = cfg["block_out_channels"]
        heads, ctx, groups, eps = cfg["attention_head_dim"], cfg["cross_attention_dim"], cfg["norm_num_groups"], cfg["norm_eps"]
        temb = 4 * ch[0]
        layers = cfg.get("layers_per_block", 2)
        self.conv_in = nn.Conv2d(cfg["in_channels"], ch[0], 3, padding=1)
        self.time_proj = Timesteps(ch[0])
        self.time_embedding = TimestepEmbedding(ch[0], temb)
        self.down = nn.ModuleList()
        cout = ch[0]
        for i, t in enumerate(cfg["down_block_types"]):
            cin, cout = cout, ch[i]
            blk = nn.Module()
            blk.resnets = nn.ModuleList([ResnetBlock2D(cin if j == 0 else cout, cout, temb, groups, eps) for j in range(layers)])
            blk.attentions = nn.ModuleList([Transformer2DModel(cout, ctx, heads, groups) for _ in range(layers)]) if "CrossAttn" in t else None
            blk.down = Downsample2D(cout) if i < len(ch) - 1 else None
            self.down.append(blk)
        self.mid_resnets = nn.ModuleList([ResnetBlock2D(ch[-1], ch[-1], temb, groups, eps) for _ in range(2)])
        self.mid_attn = Transformer2DModel(ch[-1], ctx, heads, groups)
        self.up = nn.ModuleList()
        rev = list(reversed(ch))
        prev = rev[0]
        for i, t in enumerate(cfg["up_block_types"]):
            cout = rev[i]
            skip_in = rev[min(i + 1, len(ch) - 1)]
            blk = nn.Module()
            blk.resnets = nn.ModuleList([
                ResnetBlock2D((prev if j == 0 else cout) + (skip_in if j == layers else cout), cout, temb, groups, eps)
                for j in range(layers + 1)])
            blk.attentions = nn.ModuleList([Transformer2DModel(cout, ctx, heads, groups) for _ in range(layers + 1)]) if "CrossAttn" in t else None
            blk.up = Upsample2D(cout) if i < len(ch) - 1 else None
            self.up.append(blk)
            prev = cout
        self.conv_norm_out = nn.GroupNorm(groups, ch[0], eps=eps)
        self.conv_out = nn.Conv2d(ch[0], cfg["out_channels"], 3, padding=1)

    def forward(self, x, t, ctx):
        t = t.expand(x.shape[0])
        emb = self.time_embedding(self.time_proj(t).to(x.dtype))
        h = self.conv_in(x)
        skips = [h]
        for blk in self.down:
            for j, r in enumerate(blk.resnets):
                h = r(h, emb)
                if blk.attentions is not None:
                    h = blk.attentions[j](h, ctx)
                skips.append(h)
            if blk.down is not None:
                h = blk.down(h)
                skips.append(h)
        h = self.mid_resnets[0](h, emb)
        h = self.mid_attn(h, ctx)
        h = self.mid_resnets[1](h, emb)
        for blk in self.up:
            for j, r in enumerate(blk.resnets):
                h = r(torch.cat([h, skips.pop()], dim=1), emb)
                if blk.attentions is not None:
                    h = blk.attentions[j](h, ctx)
            if blk.up is not None:
                h = blk.up(h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


def timed_runs(fn, repeats):
    """One warm-up call, then `repeats` calls each timed between device synchronisations, the allocator's
    peak statistics reset after the warm-up. Returns the list of seconds."""
    fn()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times


class DDIM:
    """diffusers DDIMScheduler (scaled_linear, leading spacing, steps_offset 1, set_alpha_to_one False)."""

    def __init__(self, cfg, steps, eta):
        betas = torch.linspace(cfg["beta_start"] ** 0.5, cfg["beta_end"] ** 0.5, 1000, dtype=torch.float32) ** 2
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.final_alpha_cumprod = self.alphas_cumprod[0]
        self.ratio = 1000 // steps
        self.timesteps = [(steps - 1 - i) * self.ratio + cfg["steps_offset"] for i in range(steps)]
        self.eta = eta

    def step(self, eps, t, x, generator):
        prev_t = t - self.ratio
        a_t = self.alphas_cumprod[t]
        a_prev = self.alphas_cumprod[prev_t] if prev_t >= 0 else self.final_alpha_cumprod
        b_t, b_prev = 1 - a_t, 1 - a_prev
        x0 = (x - b_t ** 0.5 * eps) / a_t ** 0.5
        std = self.eta * ((b_prev / b_t) * (1 - a_t / a_prev)) ** 0.5
        direction = (1 - a_prev - std ** 2) ** 0.5 * eps
        prev = a_prev ** 0.5 * x0 + direction
        noise = torch.randn(eps.shape, generator=generator, device=eps.device, dtype=eps.dtype)
        return prev + std * noise


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    from peft import LoraConfig, inject_adapter_in_model

    dev = torch.device("cuda")
    ucfg = json.load(open(os.path.join(HERE, "configs/sd15/unet/config.json")))
    scfg = json.load(open(os.path.join(HERE, "configs/sd15/scheduler/scheduler_config.json")))
    torch.manual_seed(0)
    unet = UNet(ucfg)
    unet = inject_adapter_in_model(LoraConfig(r=8, lora_alpha=8, init_lora_weights="gaussian",
                                              target_modules=["to_q", "to_k", "to_v", "to_out.0"]), unet)
    unet.to(dev, torch.bfloat16).eval().requires_grad_(False)
    n_lora = 0
    for name, p in unet.named_parameters():
        if "lora_" in name:
            p.data = p.data.float()
            n_lora += 1
            if "lora_B" in name:
                p.data.normal_(0.0, 0.01)
    sched = DDIM(scfg, a.steps, 1.0)
    cond = torch.randn(a.n, 77, ucfg["cross_attention_dim"], device=dev, dtype=torch.bfloat16)
    uncond = torch.randn(1, 77, ucfg["cross_attention_dim"], device=dev, dtype=torch.bfloat16)
    ctx = torch.cat([uncond.expand(a.n, -1, -1), cond])
    x_init = torch.randn(a.n, 4, 64, 64, device=dev, dtype=torch.bfloat16)
    gen = torch.Generator(device=dev)
    timesteps = torch.tensor(sched.timesteps, device=dev)

    @torch.no_grad()
    def sample(n_steps=a.steps):
        gen.manual_seed(1234)
        x = x_init
        for i in range(n_steps):
            t = timesteps[i]
            eps = unet(torch.cat([x] * 2), t, ctx)
            e_u, e_c = eps.chunk(2)
            eps = e_u + a.guidance * (e_c - e_u)
            x = sched.step(eps, int(t), x, gen)
        return x

    times = timed_runs(sample, a.repeats)
    med = statistics.median(times)
    peak = torch.cuda.max_memory_allocated() / 2**30
    import peft
    print(f'bench=sampling_python variant=python_eager_sdpa_peft card="{torch.cuda.get_device_name()}" '
          f'date={time.strftime("%Y-%m-%d", time.gmtime())} traj={a.n} steps={a.steps} cfg={a.guidance:.1f} '
          f'lora_rank=8 lora_modules={n_lora // 2} s_per_traj={med / a.n:.4f} median_s={med:.3f} '
          f'min_s={min(times):.3f} max_s={max(times):.3f} runs={a.repeats} peak_alloc_gib={peak:.2f} '
          f'torch={torch.__version__} peft={peft.__version__}', flush=True)
    if a.profile:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            sample(2)
            torch.cuda.synchronize()
        rows = {}
        for e in prof.events():
            if e.device_type == torch.autograd.DeviceType.CUDA:
                r = rows.setdefault(e.name, [0.0, 0])
                r[0] += e.device_time
                r[1] += 1
        total = sum(r[0] for r in rows.values())
        print(f"bench=profile_python_total kernel_ms_per_step={total / 2000:.2f}", flush=True)
        for name, (us, cnt) in sorted(rows.items(), key=lambda kv: -kv[1][0])[:30]:
            print(f'bench=profile_python ms_per_step={us / 2000:.3f} pct={100 * us / total:.1f} '
                  f'launches_per_step={cnt // 2} kernel="{name[:160]}"', flush=True)


if __name__ == "__main__":
    main()
