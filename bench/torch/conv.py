"""PyTorch twin of bench/cases/conv.mjs: 3x3 conv, N=4, 64x64, 32->32, padding = dilation."""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, row, setup  # noqa: E402

setup()
n, h, w, ci, co = 4, 64, 64, 32, 32
x = torch.randn(n, ci, h, w, requires_grad=True)
f = (0.1 * torch.randn(co, ci, 3, 3)).requires_grad_(True)
r = torch.randn(n, co, h, w)

rows = []
for d in (1, 2, 12):

    def loss(d=d):
        return (F.conv2d(x, f, padding=d, dilation=d) * r).sum()

    rows.append(row(f"conv3x3-train/d{d}", lambda: torch.autograd.grad(loss(), [x, f])))
    if d == 1:
        with torch.no_grad():
            rows.append(row("conv3x3-fwd/d1", lambda: F.conv2d(x, f, padding=1, dilation=1)))
    rows.append(row(f"conv3x3-fwd+dx/d{d}", lambda: torch.autograd.grad(loss(), [x])))
    rows.append(row(f"conv3x3-fwd+dw/d{d}", lambda: torch.autograd.grad(loss(), [f])))
emit(rows)
