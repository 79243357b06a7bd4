"""Generates the PyTorch reference literals in packages/core/src/ops/gridSample.test.ts and resize.test.ts.

Run once with Debian's python3 (torch 1.13 CPU): /usr/bin/python3 bench/torch/_samplingFixtures.py
(The leading underscore keeps bench/run.mjs from running it as a benchmark.) Inputs are NHWC in the tests;
they are permuted to NCHW here.
"""
import torch
import torch.nn.functional as F


def fmt(t):
    return "[" + ", ".join(f"{v:.7g}" for v in t.flatten().tolist()) + "]"


def x_values(n, h, w, c):
    # simple exact values: ((i * 7) % 11 - 5) / 4 over the NHWC flat index i
    i = torch.arange(n * h * w * c, dtype=torch.float64)
    return (((i * 7) % 11 - 5) / 4).float().view(n, h, w, c)


def dy_values(shape):
    i = torch.arange(int(torch.tensor(shape).prod()), dtype=torch.float64)
    return (((i * 5) % 7 - 3) / 2).float().view(*shape)


# gridSample: x (1,3,4,2) NHWC; grid (1,2,5,2) with points on pixels, between, half a pixel out, far out.
grid = torch.tensor(
    [
        [
            [[-1.0, -1.0], [-0.3, 0.2], [1.0, 1.0], [1.2, 0.0], [-1.25, 0.5]],
            [[0.3333333, 0.0], [0.55, -0.85], [-0.9, 1.3], [3.0, -2.0], [0.0, 0.9]],
        ]
    ],
    dtype=torch.float32,
)
x = x_values(1, 3, 4, 2)
for ac in (True, False):
    xt = x.permute(0, 3, 1, 2).clone().requires_grad_(True)
    g = grid.clone().requires_grad_(True)
    y = F.grid_sample(xt, g, mode="bilinear", padding_mode="zeros", align_corners=ac)
    y_nhwc = y.permute(0, 2, 3, 1)
    dy = dy_values(y_nhwc.shape)
    y_nhwc.backward(dy)
    print(f"// gridSample alignCorners={ac}")
    print("out:", fmt(y_nhwc.detach()))
    print("dx:", fmt(xt.grad.permute(0, 2, 3, 1)))
    print("dgrid:", fmt(g.grad))

# resizeBilinear: x (1,3,4,2) → (5,3) (up in H, down in W) and → (2,7), both modes; dy as above.
for size in ((5, 3), (2, 7)):
    for ac in (True, False):
        xt = x.permute(0, 3, 1, 2).clone().requires_grad_(True)
        y = F.interpolate(xt, size=size, mode="bilinear", align_corners=ac)
        y_nhwc = y.permute(0, 2, 3, 1)
        dy = dy_values(y_nhwc.shape)
        y_nhwc.backward(dy)
        print(f"// resize {size} alignCorners={ac}")
        print("out:", fmt(y_nhwc.detach()))
        print("dx:", fmt(xt.grad.permute(0, 2, 3, 1)))
