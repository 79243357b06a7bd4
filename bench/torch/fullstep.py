"""The full WS-FCN training step in PyTorch 1.13 at full size, for #22's memory and time comparison (by hand:
bench/README.md, "Full-size training"). Not part of `npm run bench` (minutes per configuration).

    WSSS_TORCH_THREADS=2 /usr/bin/python3 bench/torch/fullstep.py --size 321 --micro 1 --accumulate 2 [--checkpoint]

The reference model (bench/torch/_wsfcn.py, spec §4.6: backbone BNs frozen, stem frozen, SGD momentum 0.9 with the
four parameter groups), VOC's 20 classes, mask phase on (PAMR 10 iterations, pseudo GT, balanced CE), random
images (seed 0). An optimizer step = `--accumulate` micro-batches of `--micro` images, the losses scaled by
1/accumulate, one `opt.step()`. `--checkpoint`: every backbone unit under `torch.utils.checkpoint` (the counterpart
of `--recompute all`). Prints one JSON line: ms per micro-batch (median after one warm-up step), ms per optimizer
step, and the process's peak resident memory (ru_maxrss).
"""
import argparse
import json
import resource
import time

import torch
import torch.utils.checkpoint as cp

from _common import setup, threads
from _wsfcn import WsFcn, wsfcn_losses


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=321)
    ap.add_argument("--micro", type=int, default=1)
    ap.add_argument("--accumulate", type=int, default=1)
    ap.add_argument("--steps", type=int, default=2, help="timed optimizer steps after one warm-up step")
    ap.add_argument("--checkpoint", action="store_true")
    a = ap.parse_args()
    setup()
    model = WsFcn(20).train()
    if a.checkpoint:
        for name in model.names:
            unit = getattr(model, name)
            fwd = unit.forward
            # non-reentrant checkpointing replays dropout's RNG state by default (preserve_rng_state)
            unit.forward = (lambda f: lambda x: cp.checkpoint(f, x, use_reentrant=False))(fwd)
    opt = torch.optim.SGD(model.param_groups(lr=1e-3), lr=1e-3, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    m, s = a.micro, a.size
    raw = torch.rand(m, 3, s, s, generator=g)
    mean = torch.tensor([0.485, 0.456, 0.406])[None, :, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[None, :, None, None]
    images = (raw - mean) / std
    labels = (torch.rand(m, 20, generator=g) > 0.6).float()

    micro_ms = []

    def step():
        opt.zero_grad(set_to_none=True)
        for _ in range(a.accumulate):
            t0 = time.perf_counter()
            loss = wsfcn_losses(model, images, raw, labels, mask_phase=True)[0] / a.accumulate
            loss.backward()
            micro_ms.append((time.perf_counter() - t0) * 1000.0)
        opt.step()

    step()  # warm-up
    micro_ms.clear()
    step_ms = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        step_ms.append((time.perf_counter() - t0) * 1000.0)
    micro_ms.sort()
    step_ms.sort()
    print(json.dumps({
        "impl": "torch", "threads": threads(), "size": s, "micro": m, "accumulate": a.accumulate,
        "checkpoint": a.checkpoint, "msPerMicroBatch": round(micro_ms[len(micro_ms) // 2], 1),
        "msPerStep": round(step_ms[len(step_ms) // 2], 1),
        "peakRssMiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }))


if __name__ == "__main__":
    main()
