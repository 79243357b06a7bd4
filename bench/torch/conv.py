"""PyTorch twin of bench/cases/conv.mjs: 3x3 conv, N=4, 64x64, 32->32, padding = dilation; and stride 2."""
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
r2 = torch.randn(n, co, h // 2, w // 2)

rows = []
for d in (1, 2, 12):

    def step(wrt, d=d):
        # Gradients of sum(y * r): r is passed as the upstream gradient (no elementwise ops around the conv).
        return torch.autograd.grad(F.conv2d(x, f, padding=d, dilation=d), wrt, grad_outputs=r)

    rows.append(row(f"conv3x3-train/d{d}", lambda: step([x, f])))
    if d == 1:
        with torch.no_grad():
            rows.append(row("conv3x3-fwd/d1", lambda: F.conv2d(x, f, padding=1, dilation=1)))
    rows.append(row(f"conv3x3-fwd+dx/d{d}", lambda: step([x])))
    rows.append(row(f"conv3x3-fwd+dw/d{d}", lambda: step([f])))

rows.append(
    row(
        "conv3x3s2-train/d1",
        lambda: torch.autograd.grad(F.conv2d(x, f, stride=2, padding=1), [x, f], grad_outputs=r2),
    )
)
emit(rows)
