#!/usr/bin/env python3
"""Times forward + backward of the convolutional summary network in PyTorch on CPU, to compare with `diffsbi-bench conv`.

The same network as Sources/NeuralNet/ResNetSummary.swift with its defaults for S × S × 1 images (summary width 8,
3 × 3 kernels, Mish; blocks of 16 filters: one up to S = 16, two up to 64, four beyond), in PyTorch's
channels_last memory format (NHWC storage, as ours):

  for each width w:  h ← maxpool₂(mish(conv₃ₓ₃(mish(conv₃ₓ₃(h))) + conv₁ₓ₁(h)))
  s = mean over pixels of conv₁ₓ₁(h)   (w → 8)

Convolutions with biases and "same" zero padding, 2 × 2 max pooling with stride 2; non-finite inputs read as 0.
One step = forward on a [batch, 1, S, S] input + backward of (output · dy).sum() with a fixed random dy; the
parameter gradients accumulate (no optimizer step, no zeroing), as the `step` of Sources/diffsbi-bench/ConvBench.swift.
Timing as there: the inner repeat count is calibrated to about 0.1 s, one warm-up, median of 7 timed repetitions;
1 thread by the thread CPU clock (PyTorch then runs every operation, backward included, on the calling thread),
more threads by the wall clock.

Usage:  python3 Benchmarks/torch_conv.py [--size 64] [--batch 32] [--threads 1,2] [--memory-format channels_last]
Prints a header line starting with '#', then one line per thread count: `conv <size> <threads> <batch> <ms per step>`.
`diffsbi-bench conv --torch PYTHON` runs it after the Swift measurements and prints the speed ratios.
--memory-format contiguous runs on NCHW tensors instead; on a 2-core Xeon (PyTorch 2.13.0+cpu, oneDNN) channels_last
was faster at every size (batch 32, 1 thread: 31 against 35 ms at 32 × 32, 120 against 135–145 at 64 × 64, 600–630
against 735–765 at 128 × 128; with 2 threads likewise).
"""
import argparse
import sys
import time

try:
    import torch
    from torch import nn
    from torch.nn.functional import max_pool2d, mish
except ImportError as error:
    sys.exit(f"torch_conv.py: cannot import PyTorch with {sys.executable} ({error}); pip install torch")

SUMMARY, KERNEL = 8, 3


def default_widths(side):
    """ConvolutionalConfiguration.defaultWidths: one block of 16 filters up to side 16, two up to 64, four beyond."""
    return [16] * (1 if side <= 16 else 2 if side <= 64 else 4)


class Block(nn.Module):
    def __init__(self, cin, width):
        super().__init__()
        self.first = nn.Conv2d(cin, width, KERNEL, padding=KERNEL // 2)
        self.second = nn.Conv2d(width, width, KERNEL, padding=KERNEL // 2)
        self.projection = nn.Conv2d(cin, width, 1)

    def forward(self, h):
        return max_pool2d(mish(self.second(mish(self.first(h))) + self.projection(h)), 2)


class ResNetSummary(nn.Module):
    def __init__(self, widths, channels=1, summary=SUMMARY):
        super().__init__()
        self.blocks = nn.ModuleList()
        cin = channels
        for w in widths:
            self.blocks.append(Block(cin, w))
            cin = w
        self.head = nn.Conv2d(cin, summary, 1)

    def forward(self, x):  # x: [B, C, S, S]
        h = torch.where(torch.isfinite(x), x, 0.0)
        for block in self.blocks:
            h = block(h)
        return self.head(h).mean(dim=(2, 3))


def median_time(step, clock):
    """Seconds per step: inner count calibrated by the wall clock to about 0.1 s, one warm-up, median of 7 repetitions."""
    start = time.perf_counter()
    step()
    inner = max(1, int(0.1 / max(time.perf_counter() - start, 1e-7)))
    step()
    times = []
    for _ in range(7):
        t0 = clock()
        for _ in range(inner):
            step()
        times.append((clock() - t0) / inner)
    return sorted(times)[len(times) // 2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--memory-format", choices=["contiguous", "channels_last"], default="channels_last")
    a = p.parse_args()
    fmt = torch.channels_last if a.memory_format == "channels_last" else torch.contiguous_format
    widths = default_widths(a.size)
    params = sum(q.numel() for q in ResNetSummary(widths).parameters())
    print(f"# PyTorch {torch.__version__} ResNetSummary forward + backward: {a.size} × {a.size} × 1 images, "
          f"blocks {widths}, summary width {SUMMARY}, {params} parameters, batch {a.batch}, {a.memory_format}; "
          "median of 7; 1 thread: thread CPU clock, more: wall clock. Columns: conv size threads batch ms-per-step",
          flush=True)
    for th in [int(s) for s in a.threads.split(",")]:
        torch.set_num_threads(th)
        torch.manual_seed(1)
        net = ResNetSummary(widths).to(memory_format=fmt)
        x = torch.randn(a.batch, 1, a.size, a.size).contiguous(memory_format=fmt)
        dy = torch.randn(a.batch, SUMMARY)

        def step():
            (net(x) * dy).sum().backward()

        seconds = median_time(step, time.thread_time if th == 1 else time.perf_counter)
        print(f"conv {a.size} {th} {a.batch} {seconds * 1e3:.3f}", flush=True)


if __name__ == "__main__":
    main()
