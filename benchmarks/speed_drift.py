"""How much this machine's speed drifts, and how much a ratio of two workloads does.

Two random GLiT networks (cpu width, batch 1) are called alternately for 30 s; the
median of each window of 50 calls is taken. Prints the coefficient of variation and
range of one network's window medians and of the ratio between the two. This is the
measurement behind the latency tables' speed reference (docs/design.md, "Latency").

    .venv/bin/python benchmarks/speed_drift.py [--threads 2] [--seconds 30]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from archspace.registry import load_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--window", type=int, default=50, help="calls per window")
    args = parser.parse_args()
    plugin = load_space("glit", width="cpu")
    rng = np.random.default_rng(0)
    first, second = (plugin.build(plugin.space.sample(rng)).eval() for _ in range(2))
    torch.set_num_threads(args.threads)
    x = torch.randn(1, *plugin.input_shape())
    a, b = [], []
    with torch.inference_mode():
        for _ in range(20):
            first(x), second(x)
        end = time.perf_counter() + args.seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            first(x)
            t1 = time.perf_counter()
            second(x)
            a.append(t1 - t0)
            b.append(time.perf_counter() - t1)
    w = args.window
    ma = np.array([np.median(a[i : i + w]) for i in range(0, len(a) - w, w)]) * 1e3
    mb = np.array([np.median(b[i : i + w]) for i in range(0, len(b) - w, w)]) * 1e3
    ratio = ma / mb
    print(f"{len(a)} call pairs, {args.threads} threads, windows of {w} calls")
    print(
        f"network A window medians: cv {ma.std() / ma.mean():.3f}, "
        f"range {ma.min():.2f}-{ma.max():.2f} ms"
    )
    print(f"network B window medians: cv {mb.std() / mb.mean():.3f}")
    print(
        f"ratio A/B: cv {ratio.std() / ratio.mean():.3f}, range {ratio.min():.3f}-{ratio.max():.3f}"
    )


if __name__ == "__main__":
    main()
