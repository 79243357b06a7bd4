"""PyTorch reference for bench/cases/pamr.mjs (run by bench/run.mjs with /usr/bin/python3).

PAMR written from spec §3.6 with the reference's data flow: for every dilation, replicate-pad by d and take the
3x3 shifted views; stack the 8 (affinity, propagation) or 9 (std) views; std over the 54 samples (unbiased);
a = -|I(i) - I(j)| / (1e-8 + 0.1 std), mean over colour channels, softmax over the 48 neighbours; then
`num_iter` times stack the 48 shifted masks, multiply by the affinity and sum. NCHW, float32, no autograd.

`--fixture` prints the expected outputs of the small formula-generated cases stored as literals in
packages/pamr/src/pamr.parity.test.ts (the test never runs Python).
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

DILATIONS = (1, 2, 4, 8, 12, 24)


def shifted(x, dilations, centre):
    """(N,C,H,W) -> (N,C,S,H,W): the 3x3 views at offsets {-d,0,d}^2 of each dilation, replicate padding.
    Dilation-major, raster order inside a dilation; the centre view only when `centre`."""
    _, _, h, w = x.shape
    views = []
    for d in dilations:
        xp = F.pad(x, [d, d, d, d], mode="replicate")
        for dy in (-d, 0, d):
            for dx in (-d, 0, d):
                if dy == 0 and dx == 0 and not centre:
                    continue
                views.append(xp[:, :, d + dy : d + dy + h, d + dx : d + dx + w])
    return torch.stack(views, 2)


@torch.no_grad()
def pamr(image, masks, num_iter=10, dilations=DILATIONS, accumulate=False):
    """image (N,K,H,W), masks (N,C,h,w) -> (N,C,H,W).

    accumulate=False: the reference's data flow (stack the 8D shifted masks, multiply, sum: an (N,C,8D,H,W)
    temporary per step). accumulate=True: the same sums, one shifted view at a time with addcmul_ (no big
    temporary; about 10x faster on one thread): the baseline the bench pairs with.
    """
    image = image.detach()
    masks = masks.detach()
    if masks.shape[-2:] != image.shape[-2:]:
        masks = F.interpolate(masks, size=image.shape[-2:], mode="bilinear", align_corners=True)
    std = shifted(image, dilations, True).std(2, keepdim=True)  # unbiased, over 9*D samples
    a = -(image.unsqueeze(2) - shifted(image, dilations, False)).abs() / (1e-8 + 0.1 * std)
    alpha = a.mean(1, keepdim=True).softmax(2)  # (N,1,8D,H,W)
    if not accumulate:
        for _ in range(num_iter):
            masks = (shifted(masks, dilations, False) * alpha).sum(2)
        return masks
    h, w = masks.shape[-2:]
    for _ in range(num_iter):
        out = torch.zeros_like(masks)
        t = 0
        for d in dilations:
            xp = F.pad(masks, [d, d, d, d], mode="replicate")
            for dy in (-d, 0, d):
                for dx in (-d, 0, d):
                    if dy == 0 and dx == 0:
                        continue
                    out.addcmul_(xp[:, :, d + dy : d + dy + h, d + dx : d + dx + w], alpha[:, :, t])
                    t += 1
        masks = out
    return masks


def fixture_inputs(n, h, w, k, c, mh, mw):
    """The formula-generated inputs (float64 formulas rounded to float32), NCHW. Mirrored in the TS test."""
    img = torch.zeros(n, k, h, w, dtype=torch.float64)
    for b in range(n):
        for ch in range(k):
            for y in range(h):
                for x in range(w):
                    v = 0.5 + 0.4 * math.sin(0.7 * y + 1.3 * x + 2.1 * ch + b)
                    img[b, ch, y, x] = v + (0.3 if x >= 4 else 0.0)
    logits = torch.zeros(n, c, mh, mw, dtype=torch.float64)
    for b in range(n):
        for ch in range(c):
            for y in range(mh):
                for x in range(mw):
                    logits[b, ch, y, x] = 2 * math.sin(0.9 * y - 0.5 * x + 1.7 * ch + b)
    return img.float(), logits.softmax(1).float()


def fixtures():
    cases = {
        # name: (n, h, w, k, c, mask h, mask w, iterations, dilations)
        "default": (1, 7, 9, 3, 3, 7, 9, 10, DILATIONS),
        "resize": (2, 7, 9, 3, 4, 4, 5, 3, (1, 3)),
    }
    out = {}
    for name, (n, h, w, k, c, mh, mw, it, dil) in cases.items():
        img, m = fixture_inputs(n, h, w, k, c, mh, mw)
        r = pamr(img, m, it, dil).permute(0, 2, 3, 1).contiguous()  # NHWC, as in the test
        out[name] = [float(f"{v:.7g}") for v in r.flatten().tolist()]
    print(json.dumps(out))


def bench():
    quick = os.environ.get("WSSS_BENCH_QUICK") == "1"
    from _common import threads

    torch.set_num_threads(threads())

    def time_it(step, warmup, reps):
        if quick:
            reps = min(reps, 3)
        for _ in range(warmup):
            step()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            step()
            times.append((time.perf_counter() - t0) * 1000.0)
        times.sort()
        return round(times[len(times) // 2], 3), reps

    rows = []
    sizes = ((1, 81, 81, 21, 10), (1, 256, 256, 21, 3)) + (() if quick else ((16, 81, 81, 21, 3),))
    for n, h, w, c, reps in sizes:
        g = torch.Generator().manual_seed(0)
        img = torch.rand(n, 3, h, w, generator=g)
        m = torch.rand(n, c, h, w, generator=g).softmax(1)
        threads = torch.get_num_threads()
        ms, r = time_it(lambda: pamr(img, m, accumulate=True), warmup=1, reps=reps)
        rows.append({"id": f"pamr/{n}x{h}x{w}x{c}", "impl": "torch", "ms": ms, "reps": r, "threads": threads})
        if n == 1:
            ms, r = time_it(lambda: pamr(img, m), warmup=1, reps=min(reps, 3))
            rows.append(
                {
                    "id": f"pamr-reference-flow/{n}x{h}x{w}x{c}",
                    "impl": "torch",
                    "ms": ms,
                    "reps": r,
                    "threads": threads,
                    "note": "the reference's stack-multiply-sum data flow (unpaired)",
                }
            )
    sys.stdout.write(json.dumps(rows) + "\n")


if __name__ == "__main__":
    if "--fixture" in sys.argv:
        fixtures()
    else:
        bench()
