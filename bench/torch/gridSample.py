"""PyTorch reference timings for bench/cases/gridSample.mjs (run by bench/run.mjs with /usr/bin/python3).

The WS-FCN AlignModule warp (spec §4.3): a (2,256,41,41) feature map sampled onto an 81x81 grid with
bilinear, zero padding, align_corners=True. WSSS_TORCH_THREADS threads (equal to ours), median of `reps` runs, one JSON array on stdout.
"""
import json
import os
import time

import torch
import torch.nn.functional as F

from _common import threads  # noqa: E402

torch.set_num_threads(threads())
quick = os.environ.get("WSSS_BENCH_QUICK") == "1"


def time_it(step, warmup=3, reps=20):
    if quick:
        reps = min(reps, 3)
    for _ in range(warmup):
        step()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return round(times[len(times) // 2], 3), reps


def make(n, c, h, w, ho, wo):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, c, h, w, generator=g)
    # identity grid plus a small flow, as in the AlignModule
    ys = torch.linspace(-1, 1, ho).view(1, ho, 1).expand(n, ho, wo)
    xs = torch.linspace(-1, 1, wo).view(1, 1, wo).expand(n, ho, wo)
    grid = torch.stack([xs, ys], dim=-1) + 0.05 * torch.randn(n, ho, wo, 2, generator=g)
    return x, grid.contiguous()


rows = []
for n in (2,) if quick else (2, 16):
    x, grid = make(n, 256, 41, 41, 81, 81)
    shape = f"{n}x41x41x256-to-81"

    def fwd():
        with torch.no_grad():
            return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)

    reps = 5 if n > 2 else 20
    if n == 2:
        ms, r = time_it(fwd, reps=reps)
        rows.append({"id": f"gridSample-fwd/{shape}", "impl": "torch", "ms": ms, "reps": r, "threads": torch.get_num_threads()})

    xr = x.clone().requires_grad_(True)
    gr = grid.clone().requires_grad_(True)
    dy = torch.randn(n, 256, 81, 81, generator=torch.Generator().manual_seed(1))

    def fwdbwd():
        xr.grad = None
        gr.grad = None
        y = F.grid_sample(xr, gr, mode="bilinear", padding_mode="zeros", align_corners=True)
        y.backward(dy)
        return xr.grad, gr.grad

    ms, r = time_it(fwdbwd, warmup=1 if n > 2 else 3, reps=reps)
    rows.append({"id": f"gridSample-fwdbwd/{shape}", "impl": "torch", "ms": ms, "reps": r, "threads": torch.get_num_threads()})

print(json.dumps(rows))
