"""PyTorch reference for bench/cases/trainstep.mjs (run by bench/run.mjs with /usr/bin/python3).

One training step of the width-reduced WS-FCN twin (bench/torch/_wsfcn.py: channels [16, 32, 64, 128, 256, 256,
256], one unit per stage, FCA/SF2/head at 64 channels, trained from scratch: every BN in batch mode, nothing
frozen) at 128×128, batch 8: forward (training mode: dropout, stochastic gate), losses (spec §3.8; nGWP + focal,
multi-label soft margin, and with the mask phase on PAMR 10 iterations + clean + pseudo GT + balanced CE),
backward, SGD momentum 0.9 update with the four parameter groups (spec §1.6, multipliers 1/2/20/40, wd 5e-4).
Rows: `wsfcn-trainstep/demo-128` (mask phase on), `wsfcn-trainstep-clsonly/demo-128` (classification loss
only: the difference is PAMR + pseudo GT + balanced CE), `wsfcn-fwd/demo-128` (forward alone, training mode),
`wsfcn-trainstep/demo-preset-96` (the CLI's DEMO_PRESET: [8…128] channels, 96 px, batch 16, 5 classes, Adam).
"""
import json
import os
import sys
import time

import torch

from _common import QUICK, emit, row, setup
from _resnet38 import LIGHT
from _wsfcn import WsFcn, demo_model, wsfcn_losses

N, S, K = 8, 128, 20


def batch(N=N, S=S, K=K):
    g = torch.Generator().manual_seed(0)
    raw = torch.rand(N, 3, S, S, generator=g)
    mean = torch.tensor([0.485, 0.456, 0.406])[None, :, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[None, :, None, None]
    labels = torch.zeros(N, K)
    for b in range(N):  # 1–3 classes per image, as in the TS case
        for j in range(1 + b % 3):
            labels[b, (b * 7 + j * 5) % K] = 1
    return (raw - mean) / std, raw, labels


def preset_step():
    """A step function for the CLI's DEMO_PRESET twin (used by main() and by --serve)."""
    pm = WsFcn(5, [8, 16, 32, 64, 128, 128, 128], LIGHT, from_scratch=True).train()
    popt = torch.optim.Adam(pm.param_groups(lr=1e-3, mults=(1, 1, 1, 1), wd=0.0), lr=1e-3)
    pi, pr, pl = batch(16, 96, 5)

    def pstep():
        popt.zero_grad(set_to_none=True)
        loss = wsfcn_losses(pm, pi, pr, pl, mask_phase=True)[0]
        loss.backward()
        popt.step()

    return pstep


def serve():
    """`--serve`: the lockstep protocol of bench/paired.mjs. Builds the demo-preset step, prints {"ready": true},
    then for every stdin line "step" runs one step and prints {"ms": …}; ends at EOF or "quit"."""
    setup()
    step = preset_step()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip() != "step":
            break
        t0 = time.perf_counter()
        step()
        print(json.dumps({"ms": (time.perf_counter() - t0) * 1000.0}), flush=True)


def main():
    setup()
    model = demo_model(K).train()
    opt = torch.optim.SGD(model.param_groups(), lr=1e-3, momentum=0.9)
    images, raw, labels = batch()
    rows = []
    note = f"batch {N}, {S}x{S}, demo widths [16,32,64,128,256,256,256] light, from scratch, SGD"

    def step(mask_phase):
        opt.zero_grad(set_to_none=True)
        loss = wsfcn_losses(model, images, raw, labels, mask_phase=mask_phase)[0]
        loss.backward()
        opt.step()
        return float(loss)

    reps = 3 if QUICK else 7
    only = os.environ.get("WSSS_BENCH_ID", "")  # substring filter, as in the TS case

    if only in "wsfcn-trainstep/demo-128":
        rows.append({**row("wsfcn-trainstep/demo-128", lambda: step(True), warmup=2, reps=reps), "note": note})
    if only in "wsfcn-trainstep-clsonly/demo-128":
        rows.append({**row("wsfcn-trainstep-clsonly/demo-128", lambda: step(False), warmup=1, reps=reps),
                     "note": note})

    def fwd():
        with torch.no_grad():
            model(images)

    if only in "wsfcn-fwd/demo-128":
        rows.append({**row("wsfcn-fwd/demo-128", fwd, warmup=1, reps=reps), "note": "forward only, training mode"})

    # The CLI's DEMO_PRESET (packages/cli/src/config/presets.ts, 2026-11-21): channels [8…128], 96 px, batch 16,
    # 5 classes, Adam lr 1e-3, multipliers 1, no weight decay.
    pstep = preset_step()

    if only in "wsfcn-trainstep/demo-preset-96":
        rows.append({**row("wsfcn-trainstep/demo-preset-96", pstep, warmup=1, reps=3 if QUICK else 5),
                     "note": "CLI DEMO_PRESET: batch 16, 96x96, [8..128] light, 5 classes, Adam"})
    emit(rows)


if __name__ == "__main__":
    serve() if "--serve" in sys.argv else main()
