"""PyTorch reference for bench/cases/checkpoint.mjs (run by bench/run.mjs with /usr/bin/python3).

What a checkpoint costs with `torch.save` (the reference's way): the model's state dict and the SGD optimiser's
(momentum buffer for every trainable parameter) in one file, flushed to disk with fsync, for the demo preset's twin
(channels [8…128], one unit per stage) and the full WS-FCN (the VOC preset). Training waits for all of it, so the
same time is reported as `checkpoint-pause` and `checkpoint-write`; `checkpoint-load` is torch.load.
"""
import os
import tempfile
import time

import torch

from _common import QUICK, emit, setup
from _resnet38 import LIGHT
from _wsfcn import WsFcn

setup()
rows = []
only = os.environ.get("WSSS_BENCH_ID")
d = tempfile.mkdtemp(prefix="wsss-bench-ckpt-")
for size, build in (
    ("demo-preset", lambda: WsFcn(5, [8, 16, 32, 64, 128, 128, 128], LIGHT, from_scratch=True)),
    ("voc-321", lambda: WsFcn(20)),
):
    if only and only not in f"checkpoint-pause/{size}" and only not in size:
        continue
    m = build()
    params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    for p in params:
        opt.state[p]["momentum_buffer"] = torch.zeros_like(p)
    f = os.path.join(d, f"{size}.pth")
    reps = 3 if QUICK or size == "voc-321" else 10
    save, load = [], []
    for i in range(reps + 1):
        t0 = time.perf_counter()
        with open(f, "wb") as fh:
            torch.save({"model": m.state_dict(), "optimizer": opt.state_dict()}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        t1 = time.perf_counter()
        torch.load(f)
        t2 = time.perf_counter()
        if i:
            save.append((t1 - t0) * 1000)
            load.append((t2 - t1) * 1000)
    med = lambda xs: round(sorted(xs)[len(xs) // 2], 1)
    size_b = os.path.getsize(f)
    n = sum(p.numel() for p in m.parameters())
    for kind, xs in (("pause", save), ("write", save), ("load", load)):
        rows.append({"id": f"checkpoint-{kind}/{size}", "impl": "torch", "ms": med(xs), "reps": reps,
                     "threads": torch.get_num_threads(), "bytes": size_b, "note": f"{n:,} parameters + momentum"})
    os.remove(f)
os.rmdir(d)
emit(rows)
