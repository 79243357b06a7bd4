#!/usr/bin/env python3
"""Writes packages/sf2/src/fixtures/flowwarp.safetensors, PyTorch's flow warp (spec §4.3, the reference's
`flow_warp`: a torch.linspace base grid + flow / (W, H), grid_sample bilinear, zeros, align_corners=True) for
packages/sf2/src/sf2.test.ts. Run once by hand with Debian's python3 (torch 1.13 CPU); tests only read the output.

Inputs follow formulas the test recomputes (NHWC flat index i): high = ((7 i) mod 11 − 5) / 4, flow =
((5 i) mod 13 − 6) / 2. Cases: `identity` (81×81 → 81×81, zero flow), `up` (41×41 → 81×81, zero flow, as in
training), `flow` (41×41 → 81×81 with the formula flow). Outputs are NHWC float32.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "torch"))
from _safetensors import write_safetensors  # noqa: E402


def formula(shape, mul, mod, off, div):
    i = torch.arange(int(torch.tensor(shape).prod()), dtype=torch.float64)
    return (((i * mul) % mod - off) / div).float().view(*shape)


def flow_warp(high, flow):
    """The reference's flow_warp (NCHW high, NCHW flow)."""
    n, _, hh, ww = flow.shape
    norm = torch.tensor([[[[ww, hh]]]]).type_as(high)
    h_grid = torch.linspace(-1.0, 1.0, hh).view(-1, 1).repeat(1, ww)
    w_grid = torch.linspace(-1.0, 1.0, ww).repeat(hh, 1)
    grid = torch.cat((w_grid.unsqueeze(2), h_grid.unsqueeze(2)), 2).repeat(n, 1, 1, 1).type_as(high)
    grid = grid + flow.permute(0, 2, 3, 1) / norm
    return F.grid_sample(high, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


out = {}
for name, (h, w, zero) in {"identity": (81, 81, True), "up": (41, 41, True), "flow": (41, 41, False)}.items():
    high = formula((1, h, w, 2), 7, 11, 5, 4).permute(0, 3, 1, 2)
    flow = torch.zeros(1, 2, 81, 81) if zero else formula((1, 81, 81, 2), 5, 13, 6, 2).permute(0, 3, 1, 2)
    out[name] = flow_warp(high, flow).permute(0, 2, 3, 1).contiguous()

path = os.path.join(os.path.dirname(__file__), "..", "packages", "sf2", "src", "fixtures", "flowwarp.safetensors")
write_safetensors(path, out, {"torch": torch.__version__})
print(f"wrote {path}")
