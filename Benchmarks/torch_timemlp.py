#!/usr/bin/env python3
"""Times the default TimeMLP (Documentation/Methods.md §10) in PyTorch on CPU, to compare with `diffsbi-bench train`.

Same layers, widths, batch sizes and thread counts as the Swift benchmark: Fourier time embedding (16 trainable
frequencies, scale 30, identity included), x/c projections merged through Mish, 5 residual blocks of width 256
(Dense + Mish, dropout 0.05, FiLM shift from the 33-dim embedding, post-LayerNorm with eps 1e-3), zero-bias output.
One training step = forward, MSE against fresh Gaussian noise, backward, global-norm clipping at 1.5, AdamW.

Usage:  pip install torch   (CPU is enough)
        python3 Benchmarks/torch_timemlp.py [--threads 1,2] [--batches 128,512,2048] [--seconds 1.5] [--thread-clock]
Prints a Markdown table of training samples/s and inference samples/s at batch 10,000. `diffsbi-bench train
--torch` runs this script right after the Swift measurements and prints the speed ratios of the same run.
--thread-clock times by the calling thread's CPU clock (valid with 1 thread only, where PyTorch runs every
operation on the calling thread), as `diffsbi-bench train --thread-clock` does.
"""
import argparse
import math
import time

import torch
from torch import nn


class Fourier(nn.Module):
    def __init__(self, dim=32, scale=30.0):
        super().__init__()
        self.w = nn.Parameter(torch.randn(dim // 2) * 0.05)
        self.scale = scale

    def forward(self, t):  # t: [B, 1]
        a = 2 * math.pi * self.scale * t * self.w
        return torch.cat([t, torch.sin(a), torch.cos(a)], dim=-1)


class Block(nn.Module):
    def __init__(self, width, emb, dropout):
        super().__init__()
        self.dense = nn.Linear(width, width)
        self.film = nn.Linear(emb, width)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(width, eps=1e-3)

    def forward(self, h, e):
        a = self.drop(nn.functional.mish(self.dense(h))) + self.film(e)
        return self.norm(h + a)


class TimeMLP(nn.Module):
    def __init__(self, d_theta, d_x, width=256, depth=5, dropout=0.05):
        super().__init__()
        self.emb = Fourier()
        self.x_proj = nn.Linear(d_theta, width)
        self.c_proj = nn.Linear(d_x, width)
        self.merge = nn.Linear(2 * width, width)
        self.blocks = nn.ModuleList([Block(width, 33, dropout) for _ in range(depth)])
        self.out = nn.Linear(width, d_theta)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x, t, c):
        e = self.emb(t)
        h = nn.functional.mish(torch.cat([self.x_proj(x), self.c_proj(c)], dim=-1))
        h = nn.functional.mish(self.merge(h))
        for b in self.blocks:
            h = b(h, e)
        return self.out(h)


CLOCK = time.perf_counter


def timed(fn, seconds, repeats=5):
    """Median seconds per call over `repeats` timings of about seconds/repeats each, after a warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        n, start = 0, CLOCK()
        while CLOCK() - start < seconds / repeats:
            fn()
            n += 1
        times.append((CLOCK() - start) / n)
    return sorted(times)[len(times) // 2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", default="1,2")
    p.add_argument("--batches", default="128,512,2048")
    p.add_argument("--seconds", type=float, default=1.5)
    p.add_argument("--thread-clock", action="store_true")
    a = p.parse_args()
    global CLOCK
    if a.thread_clock:
        CLOCK = time.thread_time
    print(f"## PyTorch {torch.__version__} TimeMLP benchmark\n")
    print("| θ/x | params | threads | batch | train samples/s | inference samples/s (10,000) |")
    print("|---|---|---|---|---|---|")
    for d_theta, d_x in [(2, 2), (10, 10)]:
        for th in [int(s) for s in a.threads.split(",")]:
            if a.thread_clock and th > 1:
                continue
            torch.set_num_threads(th)
            net = TimeMLP(d_theta, d_x)
            params = sum(p.numel() for p in net.parameters())
            opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=5e-3, eps=1e-7)
            inf_rate = None
            for b in [int(s) for s in a.batches.split(",")]:
                x, c, t = torch.randn(b, d_theta), torch.randn(b, d_x), torch.rand(b, 1)

                def step():
                    opt.zero_grad(set_to_none=False)
                    loss = ((net(x, t, c) - torch.randn(b, d_theta)) ** 2).mean()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.5)
                    opt.step()

                net.train()
                rate = b / timed(step, a.seconds)
                if inf_rate is None:
                    net.eval()
                    n = 10_000
                    xi, ci, ti = torch.randn(n, d_theta), torch.randn(n, d_x), torch.rand(n, 1)
                    with torch.no_grad():
                        inf_rate = n / timed(lambda: net(xi, ti, ci), a.seconds)
                print(f"| {d_theta}/{d_x} | {params} | {th} | {b} | {rate:.0f} | {inf_rate:.0f} |")


if __name__ == "__main__":
    main()
