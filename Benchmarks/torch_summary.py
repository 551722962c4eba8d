#!/usr/bin/env python3
"""Times the summary networks + default TimeMLP in PyTorch on CPU, to compare with `diffsbi-bench train --summaries`.

The same networks as Sources/NeuralNet (library defaults, summary width 16, Mish everywhere, LayerNorm eps 1e-3),
each feeding its summary to the TimeMLP of Benchmarks/torch_timemlp.py (θ dimension 5, condition 16) and trained
jointly:

  DeepSet (Sources/NeuralNet/DeepSet.swift), sets of 30 items × 2: per-element Dense+Mish [64, 64], mean pooling,
    Dense+Mish [64, 64], linear output.
  SetTransformer (Sources/NeuralNet/SetTransformer.swift, MultiHeadAttention.swift), sets of 30 items × 2: embedding
    Dense+Mish to width 64, 2 SAB blocks and a PMA with one learned seed, linear output; MAB(X, Y) =
    LN₂(H + mish(H·W_f + b_f)), H = LN₁(X + MHA(X, Y)), 4 heads (nn.MultiheadAttention: the same q/k/v/o weights
    and biases).
  TimeSeries (Sources/NeuralNet/TimeSeriesNetwork.swift), 100 steps × 1 feature: 'valid' Conv1D (kernel 3,
    32 filters, Mish), GRU of width 64 (nn.GRU is the reset-after GRU: r multiplies h·U_n + b_n), output from the
    last state, linear.

No padding: every item is present, so the Swift masks are all ones. One training step = forward, MSE against fresh
Gaussian noise, backward, global-norm clipping at 1.5, AdamW — as Benchmarks/torch_timemlp.py.

Usage:  python3 Benchmarks/torch_summary.py [--threads 1,2] [--batches 128,512] [--seconds 1.5] [--thread-clock]
Prints a Markdown table of training samples/s with the parameter counts (summary, TimeMLP).
`diffsbi-bench train --summaries --torch PYTHON` runs it after the Swift measurements and prints the speed ratios.
"""
import argparse
import os
import sys
import time

import torch
from torch import nn
from torch.nn.functional import mish

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_timemlp  # noqa: E402

D_THETA, SUMMARY = 5, 16


class DeepSet(nn.Module):
    def __init__(self, items, d, out, inner=(64, 64), outer=(64, 64)):
        super().__init__()
        self.items, self.d = items, d
        self.inner = nn.ModuleList()
        prev = d
        for w in inner:
            self.inner.append(nn.Linear(prev, w))
            prev = w
        self.outer = nn.ModuleList()
        for w in outer:
            self.outer.append(nn.Linear(prev, w))
            prev = w
        self.out = nn.Linear(prev, out)

    def forward(self, x):  # x: [B, N·d]
        h = x.view(x.shape[0], self.items, self.d)
        for layer in self.inner:
            h = mish(layer(h))
        h = h.mean(dim=1)
        for layer in self.outer:
            h = mish(layer(h))
        return self.out(h)


class MAB(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.att = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ff = nn.Linear(width, width)
        self.norm1 = nn.LayerNorm(width, eps=1e-3)
        self.norm2 = nn.LayerNorm(width, eps=1e-3)

    def forward(self, x, y):
        h = self.norm1(x + self.att(x, y, y, need_weights=False)[0])
        return self.norm2(h + mish(self.ff(h)))


class SetTransformer(nn.Module):
    def __init__(self, items, d, out, width=64, heads=4, blocks=2):
        super().__init__()
        self.items, self.d = items, d
        self.embed = nn.Linear(d, width)
        self.blocks = nn.ModuleList([MAB(width, heads) for _ in range(blocks)])
        self.pool = MAB(width, heads)
        self.seed = nn.Parameter(torch.randn(1, 1, width) * 0.1)
        self.out = nn.Linear(width, out)

    def forward(self, x):  # x: [B, N·d]
        h = mish(self.embed(x.view(x.shape[0], self.items, self.d)))
        for blk in self.blocks:
            h = blk(h, h)
        p = self.pool(self.seed.expand(x.shape[0], 1, -1), h)
        return self.out(p[:, 0])


class TimeSeries(nn.Module):
    def __init__(self, steps, d, out, filters=32, kernel=3, hidden=64):
        super().__init__()
        self.steps, self.d = steps, d
        self.conv = nn.Conv1d(d, filters, kernel)
        self.gru = nn.GRU(filters, hidden, batch_first=True)
        self.out = nn.Linear(hidden, out)

    def forward(self, x):  # x: [B, T·d], time-major
        c = mish(self.conv(x.view(x.shape[0], self.steps, self.d).transpose(1, 2)))  # [B, F, T − K + 1]
        _, h = self.gru(c.transpose(1, 2))
        return self.out(h[0])


class Joint(nn.Module):
    def __init__(self, summary):
        super().__init__()
        self.summary = summary
        self.net = torch_timemlp.TimeMLP(D_THETA, SUMMARY)

    def forward(self, theta, t, x):
        return self.net(theta, t, self.summary(x))


# Network name (as `diffsbi-bench train --summaries` prints it), constructor, raw input width.
NETWORKS = [
    ("DeepSet 30×2", lambda: DeepSet(30, 2, SUMMARY), 60),
    ("SetTransformer 30×2", lambda: SetTransformer(30, 2, SUMMARY), 60),
    ("TimeSeries 100×1", lambda: TimeSeries(100, 1, SUMMARY), 100),
]


def count(module):
    return sum(p.numel() for p in module.parameters())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", default="1,2")
    p.add_argument("--batches", default="128,512")
    p.add_argument("--seconds", type=float, default=1.5)
    p.add_argument("--thread-clock", action="store_true")
    a = p.parse_args()
    if a.thread_clock:
        torch_timemlp.CLOCK = time.thread_time
    print(f"## PyTorch {torch.__version__} summary network + TimeMLP training benchmark\n")
    print("| network | summary params | TimeMLP params | threads | batch | train samples/s |")
    print("|---|---|---|---|---|---|")
    for name, make, width in NETWORKS:
        for th in [int(s) for s in a.threads.split(",")]:
            if a.thread_clock and th > 1:
                continue
            torch.set_num_threads(th)
            for b in [int(s) for s in a.batches.split(",")]:
                torch.manual_seed(1)
                model = Joint(make())
                opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=5e-3, eps=1e-7)
                theta, x, t = torch.randn(b, D_THETA), torch.randn(b, width), torch.rand(b, 1)

                def step():
                    opt.zero_grad(set_to_none=False)
                    loss = ((model(theta, t, x) - torch.randn(b, D_THETA)) ** 2).mean()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.5)
                    opt.step()

                model.train()
                rate = b / torch_timemlp.timed(step, a.seconds)
                print(f"| {name} | {count(model.summary)} | {count(model.net)} | {th} | {b} | {rate:.0f} |", flush=True)


if __name__ == "__main__":
    main()
