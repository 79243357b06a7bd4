"""Shared helpers for the PyTorch reference benchmarks (protocol: bench/run.mjs)."""
import json
import os
import sys
import time

import torch

QUICK = os.environ.get("WSSS_BENCH_QUICK") == "1"


def threads():
    """PyTorch's thread count: WSSS_TORCH_THREADS, which bench/run.mjs and bench/paired.mjs set equal to the wasm
    backend's threads they pair it with (default 1 when a script is run by hand)."""
    raw = os.environ.get("WSSS_TORCH_THREADS", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"WSSS_TORCH_THREADS={raw!r}: expected a positive integer")
    return int(raw)


def setup():
    """PyTorch at `threads()` threads (equal to ours), seed 0; no autograd anomaly checks."""
    torch.set_num_threads(threads())
    torch.manual_seed(0)


def time_it(step, warmup=3, reps=20):
    """Median wall time of `step()` in ms after `warmup` runs."""
    if QUICK:
        reps = min(reps, 3)
    for _ in range(warmup):
        step()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000.0)
    times.sort()
    return {"ms": round(times[len(times) // 2], 3), "reps": reps}


def row(id_, step, **kw):
    return {"id": id_, "impl": "torch", **time_it(step, **kw), "threads": torch.get_num_threads()}


def emit(rows):
    sys.stdout.write(json.dumps(rows) + "\n")
