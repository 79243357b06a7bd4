#!/usr/bin/env python3
"""Writes packages/cli/src/e2e/fixtures/twin-trainstep.safetensors: one WS-FCN training step of the project's PyTorch
twin (bench/torch/_wsfcn.py) on the weights of twin-wsfcn.pth (scripts/make-import-fixture.py), in the reference's
training mode (frozen backbone BatchNorm and stem, FCA with frozen statistics, SF2 and head BatchNorm on batch
statistics), both losses on (PAMR 10 iterations, pseudo ground truth, balanced cross-entropy), for the parity test
of packages/cli/src/e2e/import.test.ts. Run once by hand with Debian's python3 (torch 1.13 CPU).

Fixed draws instead of PyTorch's RNG: the k-th random op of the forward (k = 0, 1, …: b6's two channel dropouts,
b7's two, FCA's output dropout, the stochastic gate, the head's two dropouts) gets uniforms u_i = ((7919 i + 104729 k) mod 10007) / 10007
over the NHWC flat index i of its noise shape (dropout: the features; Dropout2d: (N, 1, 1, C)); dropout keeps
u ≥ p, the gate takes the deep feature where u < 1 − ψ — the rules of @wsss/core's `setUniformSource`.

Inputs (NHWC flat index i, 2 images of 33×45): raw = ((11 i) mod 97) / 96, images = (raw − mean) / std (ImageNet),
labels: image 0 has class 1, image 1 has class 3 (1-based, of 20). Saved: `loss`, `clsLoss`, `maskLoss`
(scalars), `init/last_conv.8.{weight,bias}` (the head's classifier this step starts from: twin-wsfcn.pth's, made
confident so that the mask loss counts) and `grad/<PyTorch key>` for every trainable parameter (PyTorch layout).
"""
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bench", "torch"))
import _wsfcn  # noqa: E402
from _safetensors import write_safetensors  # noqa: E402
from _resnet38 import FULL  # noqa: E402

OUT = os.path.join(HERE, "..", "packages", "cli", "src", "e2e", "fixtures")
draw = {"k": 0}


def uniforms(nhwc_shape):
    n = 1
    for d in nhwc_shape:
        n *= d
    i = torch.arange(n, dtype=torch.float64)
    u = ((i * 7919 + draw["k"] * 104729) % 10007) / 10007
    draw["k"] += 1
    return u.float().view(*nhwc_shape)


def dropout(x, p=0.5, training=True, inplace=False):
    if not training or p == 0:
        return x
    n, c, h, w = x.shape
    keep = (uniforms((n, h, w, c)).permute(0, 3, 1, 2) >= p).float()
    return x * keep / (1 - p)


def dropout2d(x, p=0.5, training=True, inplace=False):
    if not training or p == 0:
        return x
    n, c = x.shape[:2]
    keep = (uniforms((n, 1, 1, c)).permute(0, 3, 1, 2) >= p).float()
    return x * keep / (1 - p)


def gate(x1, x2, psi, training):
    if not training:
        return (1 - psi) * x1 + psi * x2
    n, c, h, w = x1.shape
    r = (uniforms((n, h, w, c)).permute(0, 3, 1, 2) < 1 - psi).float()
    x1s = (x1 - psi * x2) / max(1e-8, 1 - psi)
    return r * x1s + (1 - r) * x2


F.dropout = dropout
F.dropout2d = dropout2d
_wsfcn.stochastic_gate = gate

model = _wsfcn.WsFcn(20, [8, 8, 16, 16, 32, 32, 32], FULL)
sd = torch.load(os.path.join(OUT, "twin-wsfcn.pth"))
model.load_state_dict({k: v for k, v in sd.items() if not k.startswith("_aff.")})
# a head that is confident somewhere: with twin-wsfcn.pth's random head every class scores ~1/21 everywhere, the
# pseudo ground truth is empty and the mask loss gated off; these logits (std ~2.4, non-labelled classes pushed down)
# give both images background and their class in the pseudo ground truth, so the mask loss counts
with torch.no_grad():
    model.last_conv[8].weight.mul_(2)
    model.last_conv[8].bias.fill_(-4)
    model.last_conv[8].bias[[0, 2]] += 4
model.train()

N, H, W = 2, 33, 45
i = torch.arange(N * H * W * 3, dtype=torch.float64)
raw = (((i * 11) % 97) / 96).float().view(N, H, W, 3)
mean = torch.tensor([0.485, 0.456, 0.406])
std = torch.tensor([0.229, 0.224, 0.225])
images = ((raw - mean) / std).permute(0, 3, 1, 2).contiguous()
raw = raw.permute(0, 3, 1, 2).contiguous()
labels = torch.zeros(N, 20)
labels[0, 0] = labels[1, 2] = 1

total, cls_loss, mask_loss = _wsfcn.wsfcn_losses(model, images, raw, labels, mask_phase=True, pamr_iter=10)
total.backward()
assert draw["k"] == 8, f"{draw['k']} random draws; expected 8 (b6 ×2, b7 ×2, FCA, gate, head ×2)"

assert mask_loss.item() > 0, "the mask loss must count"
out = {"loss": total.detach().view(1), "clsLoss": cls_loss.detach().view(1), "maskLoss": mask_loss.detach().view(1)}
out["init/last_conv.8.weight"] = model.last_conv[8].weight.detach().clone()
out["init/last_conv.8.bias"] = model.last_conv[8].bias.detach().clone()
for name, p in model.named_parameters():
    if p.requires_grad and p.grad is not None:  # FCA's branch BNs are built but never used (spec §4.2)
        out[f"grad/{name}"] = p.grad.detach().clone()
path = os.path.join(OUT, "twin-trainstep.safetensors")
write_safetensors(path, out)
print(f"wrote {path}: loss {total.item():.6f} (cls {cls_loss.item():.6f}, mask {mask_loss.item():.6f}), "
      f"{len(out) - 5} gradients")
