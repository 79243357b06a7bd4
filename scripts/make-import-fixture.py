#!/usr/bin/env python3
"""Writes the fixtures of `wsss import` (packages/cli/src/e2e/fixtures/), from the project's PyTorch twin of WS-FCN
(bench/torch/_wsfcn.py, written from METHOD.md with the reference's module names). Run once by hand with Debian's
python3 (torch 1.13 CPU); tests only read the output.

- twin-wsfcn.pth: `torch.save` (zip) of a width-reduced WS-FCN's state dict in the official key layout — full
  depth (every unit of ResNet-38d), channels [8, 8, 16, 16, 32, 32, 32], 20 classes — with random weights and
  random BatchNorm statistics, plus PAMR's three fixed kernels `_aff.*` as the reference registers them.
- twin-wsfcn-legacy.pth: the same tensors, keys prefixed `module.` (DataParallel), in the legacy (pre-1.6) format.
- twin-wsfcn-out.safetensors: the twin's test-mode outputs (eval mode) for a 33×45 image whose NHWC values are
  ((7 i) mod 23 − 11) / 10: `cls` (1, 20) class scores and `masks` (1, 33, 45, 21) the softmax masks rescaled to
  the input with align-corners, NHWC.
- official-keys.json: every key of the full-size official state dict (WS-FCN, 20 classes: 352 of the twin + the
  3 PAMR kernels = 355) with its shape; no values.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bench", "torch"))
from _resnet38 import FULL  # noqa: E402
from _safetensors import write_safetensors  # noqa: E402
from _wsfcn import WsFcn, class_scores  # noqa: E402

OUT = os.path.join(HERE, "..", "packages", "cli", "src", "e2e", "fixtures")


def pamr_kernels():
    """The reference's LocalAffinity (aff_x), LocalAffinityCopy (aff_m) and LocalStDev (aff_std) kernels."""
    around = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1), (2, 2)]
    x = torch.zeros(8, 1, 3, 3)
    m = torch.zeros(8, 1, 3, 3)
    for i, (r, c) in enumerate(around):
        x[i, 0, 1, 1] = 1
        x[i, 0, r, c] = -1
        m[i, 0, r, c] = 1
    s = torch.zeros(9, 1, 3, 3)
    for i in range(9):
        s[i, 0, i // 3, i % 3] = 1
    return {"_aff.aff_x.kernel": x, "_aff.aff_m.kernel": m, "_aff.aff_std.kernel": s}


torch.manual_seed(0)
g = torch.Generator().manual_seed(1)
model = WsFcn(20, [8, 8, 16, 16, 32, 32, 32], FULL)
with torch.no_grad():
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            c = mod.num_features
            mod.weight.copy_(0.5 + torch.rand(c, generator=g))
            mod.bias.copy_(torch.rand(c, generator=g) - 0.5)
            mod.running_mean.copy_(torch.rand(c, generator=g) - 0.5)
            mod.running_var.copy_(0.5 + torch.rand(c, generator=g))
model.eval()
sd = dict(model.state_dict())
sd.update(pamr_kernels())
torch.save(sd, os.path.join(OUT, "twin-wsfcn.pth"))
torch.save({f"module.{k}": v for k, v in sd.items()}, os.path.join(OUT, "twin-wsfcn-legacy.pth"),
           _use_new_zipfile_serialization=False)

i = torch.arange(1 * 33 * 45 * 3, dtype=torch.float64)
image = (((i * 7) % 23 - 11) / 10).float().view(1, 33, 45, 3).permute(0, 3, 1, 2)
with torch.no_grad():
    z = model(image)
    _, m, cls = class_scores(z)
    masks = F.interpolate(m, size=(33, 45), mode="bilinear", align_corners=True)
write_safetensors(os.path.join(OUT, "twin-wsfcn-out.safetensors"),
                  {"cls": cls, "masks": masks.permute(0, 2, 3, 1)})

full = WsFcn(20)
keys = [[k, list(v.shape)] for k, v in full.state_dict().items()]
keys += [[k, list(v.shape)] for k, v in pamr_kernels().items()]
with open(os.path.join(OUT, "official-keys.json"), "w") as f:
    json.dump({"note": "keys and shapes of the official WS-FCN state dict (20 classes), from bench/torch/_wsfcn.py",
               "keys": keys}, f, indent=0)
    f.write("\n")
print(f"wrote {OUT}: {len(sd)} tensors, {sum(v.numel() for v in sd.values())} values; {len(keys)} official keys")
