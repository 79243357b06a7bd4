"""PyTorch reference for bench/cases/modules.mjs (run by bench/run.mjs with /usr/bin/python3).

Rows (batch 2, the full-size training shapes of spec §4.6):
- `fca-fwdbwd/321`: FCA (spec §4.2) on conv6 (2,4096,41,41), training mode (dropout on, BNs frozen stats),
  forward + backward w.r.t. the input and every weight. The reference's convolutions: all 16 taps of the strip
  convs are computed, although on a 41×41 map 6 of them (fca3/fca4 outer taps) only ever read zero padding.
- `sf2-fwdbwd/321` (and `sf2-fwdbwd/321-b1`, batch 1): AlignModule (§4.3) + SF2 (§4.4) on conv3 (2,256,81,81) and the context (2,256,41,41),
  training mode (SF2 BNs with batch statistics), forward + backward w.r.t. both inputs and every weight.

`--check [path]` instead writes a cross-check file (default /tmp/wsss-crosscheck.json) for bench/crosscheck.mjs:
weights (reference state-dict keys), NHWC inputs and NHWC outputs of FCA, Align + SF2 and a width-reduced
WS-FCN (outputs, losses with the mask phase on, and a few gradients), at small sizes.
"""
import json
import os
import sys

import torch
import torch.nn as nn

from _common import QUICK, emit, row, setup
from _resnet38 import LIGHT
from _wsfcn import FCA, SF2, AlignModule, WsFcn, class_scores, wsfcn_losses


def zero_grads(params):
    for p in params:
        p.grad = None


def bench():
    setup()
    rows = []
    n = 2
    only = os.environ.get("WSSS_BENCH_ID", "")  # substring of the ids to run (as in the TS case)
    # FCA at full size
    fca = FCA(4096, 256).train()
    x = torch.randn(n, 4096, 41, 41, requires_grad=True)
    dy = torch.randn(n, 256, 41, 41)
    params = list(fca.parameters()) + [x]

    def fca_step():
        zero_grads(params)
        fca(x).backward(dy)

    if only in "fca-fwdbwd/321":
        rows.append({**row("fca-fwdbwd/321", fca_step, warmup=1, reps=3), "note": f"batch {n}, 41x41x4096 -> 256"})

    # Align + SF2 at full size; batch 2 (the brief) and batch 1 (ours fits the wasm heap more easily)
    align, sf2 = AlignModule(256, 128).train(), SF2(256).train()
    for b, suffix in ((n, ""), (1, "-b1")):
        if only not in f"sf2-fwdbwd/321{suffix}":
            continue
        conv3 = torch.randn(b, 256, 81, 81, requires_grad=True)
        ctx = torch.randn(b, 256, 41, 41, requires_grad=True)
        dh, dv = torch.randn(b, 256, 81, 81), torch.randn(b, 256, 81, 81)
        params = list(align.parameters()) + list(sf2.parameters()) + [conv3, ctx]

        def sf2_step():
            zero_grads(params)
            h4, v4 = sf2(conv3, align(conv3, ctx))
            torch.autograd.backward([h4, v4], [dh, dv])

        rows.append(
            {**row(f"sf2-fwdbwd/321{suffix}", sf2_step, warmup=1, reps=3 if QUICK else 5),
             "note": f"batch {b}, conv3 81x81x256 + ctx 41x41x256"}
        )
    emit(rows)


# ---- cross-check export ------------------------------------------------------------------------------------


def randomise(module, gen):
    """Non-trivial BN statistics and affine parameters (so that the mapping of every BN key is exercised)."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(m.bias.shape, generator=gen) * 0.2 - 0.1)
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=gen) * 0.2 - 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)


def sd(module, prefix=""):
    return {
        prefix + k: {"shape": list(v.shape), "data": v.detach().flatten().tolist()}
        for k, v in module.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }


def nhwc(t):
    t = t.detach()
    if t.dim() == 4:
        t = t.permute(0, 2, 3, 1)
    return {"shape": list(t.shape), "data": t.contiguous().flatten().tolist()}


def check(path):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    out = {}

    # FCA: cin 64 → 32 on 41×41 (the full-size map, so the live-tap trimming of fca3/fca4 is exercised), eval mode
    fca = FCA(64, 32)
    randomise(fca, gen)
    fca.eval()
    x = torch.randn(2, 64, 41, 41, generator=gen)
    with torch.no_grad():
        y = fca(x)
    out["fca"] = {"config": {"cin": 64, "channels": 32}, "state": sd(fca, "fca."), "x": nhwc(x), "out": nhwc(y)}

    # Align + SF2: 32 channels, projections 16, low 21×21, high 11×11; flow_make scaled so the flow is a few units
    align, sf2 = AlignModule(32, 16), SF2(32)
    with torch.no_grad():
        align.flow_make.weight.mul_(10.0)
    randomise(sf2, gen)
    low = torch.randn(2, 32, 21, 21, generator=gen)
    high = torch.randn(2, 32, 11, 11, generator=gen)
    res = {}
    state = {**sd(align, "align1."), **sd(sf2, "sf2.")}  # before the train-mode pass updates running stats
    with torch.no_grad():
        warped = align(low, high)
        flow = align.flow_make(
            torch.cat([nn.functional.interpolate(align.down_h(high), size=(21, 21), mode="bilinear",
                                                 align_corners=False), align.down_l(low)], 1))
        for mode in ("eval", "train"):
            sf2.train(mode == "train")
            h4, v4 = sf2(low, warped)
            res[mode] = {"h4": nhwc(h4), "v4": nhwc(v4)}
    out["align_sf2"] = {
        "config": {"channels": 32, "project": 16},
        "state": state,
        "low": nhwc(low),
        "high": nhwc(high),
        "warped": nhwc(warped),
        "flowAbsMax": float(flow.abs().max()),
        **res,
    }

    # Width-reduced WS-FCN, reference mode (frozen backbone BNs/stem), eval: logits, class scores, losses, grads
    k = 5
    channels = [16, 16, 32, 32, 64, 64, 64]
    net = WsFcn(k, channels, LIGHT)
    randomise(net, gen)
    with torch.no_grad():  # spatially varied masks, so that the pseudo GT is non-empty and the mask loss gated on
        net.last_conv[8].weight.mul_(8.0)
    net.eval()
    raw = torch.rand(2, 3, 49, 49, generator=gen)
    mean = torch.tensor([0.485, 0.456, 0.406])[None, :, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[None, :, None, None]
    images = (raw - mean) / std
    labels = torch.tensor([[1.0, 0, 1, 0, 0], [0, 1, 0, 0, 0]])
    z = net(images)
    _, _, cls = class_scores(z)
    total, cls_loss, mask_loss = wsfcn_losses(net, images, raw, labels, mask_phase=True)
    sys.stderr.write(f"wsfcn check: loss {float(total):.5f} cls {float(cls_loss):.5f} mask {float(mask_loss):.5f}\n")
    net.zero_grad()
    total.backward()
    grads = {}
    for tname, key in (
        ("last_conv/8/kernel", "last_conv.8.weight"),
        ("fca/conv1/kernel", "fca.conv1.weight"),
        ("sf2/conv1v/kernel", "sf2.conv1v.weight"),
        ("align1/flow_make/kernel", "align1.flow_make.weight"),
        ("backbone/b3/conv_branch2a/kernel", "b3.conv_branch2a.weight"),
    ):
        g = dict(net.named_parameters())[key].grad
        grads[tname] = {"shape": list(g.permute(2, 3, 1, 0).shape), "data": g.permute(2, 3, 1, 0).flatten().tolist()}
    out["wsfcn"] = {
        "config": {"numClasses": k, "channels": channels, "depth": "light"},
        "state": sd(net),
        "images": nhwc(images),
        "raw": nhwc(raw),
        "labels": {"shape": [2, k], "data": labels.flatten().tolist()},
        "z": nhwc(z),
        "cls": {"shape": list(cls.shape), "data": cls.detach().flatten().tolist()},
        "loss": float(total),
        "clsLoss": float(cls_loss),
        "maskLoss": float(mask_loss),
        "grads": grads,
    }
    with open(path, "w") as f:
        json.dump(out, f)
    sys.stderr.write(f"wrote {path}\n")


if __name__ == "__main__":
    if "--check" in sys.argv:
        i = sys.argv.index("--check")
        check(sys.argv[i + 1] if len(sys.argv) > i + 1 else "/tmp/wsss-crosscheck.json")
    else:
        bench()
