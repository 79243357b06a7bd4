"""PyTorch reference for bench/cases/backbone.mjs (run by bench/run.mjs with /usr/bin/python3).

ResNet-38d forward (spec §2.2, bench/torch/_resnet38.py), eval mode (BN running statistics, no dropout), no
autograd, taps conv3 + conv6:
- `backbone-fwd/full-321`: the reference network (64…4096 channels, units 3/3/6/3/1/1), 1×3×321×321;
- `backbone-fwd/demo-128`: channels [16, 32, 64, 128, 256, 256, 256], one unit per stage, 16×3×128×128;
- `backbone-fwd/demo-preset-96`: the CLI's DEMO_PRESET widths [8, 16, 32, 64, 128, 128, 128], 16×3×96×96.
"""
import os

import torch

from _common import QUICK, emit, row, setup
from _resnet38 import CHANNELS, FULL, LIGHT, ResNet38

DEMO_CHANNELS = [16, 32, 64, 128, 256, 256, 256]


def main():
    setup()
    rows = []
    for id_, channels, units, shape, reps in (
        ("backbone-fwd/full-321", CHANNELS, FULL, (1, 3, 321, 321), 3),
        ("backbone-fwd/demo-128", DEMO_CHANNELS, LIGHT, (16, 3, 128, 128), 3 if QUICK else 7),
        # the CLI's DEMO_PRESET (packages/cli/src/config/presets.ts): [8…128], 96 px crops, batch 16
        ("backbone-fwd/demo-preset-96", [8, 16, 32, 64, 128, 128, 128], LIGHT, (16, 3, 96, 96), 3 if QUICK else 7),
    ):
        if os.environ.get("WSSS_BENCH_ID", "") not in id_:  # substring filter, as in the TS case
            continue
        net = ResNet38(channels, units).eval()
        x = torch.randn(*shape)

        def step():
            with torch.no_grad():
                net(x)

        rows.append({**row(id_, step, warmup=1, reps=reps), "note": f"batch {shape[0]}, {shape[2]}x{shape[3]}"})
    emit(rows)


if __name__ == "__main__":
    main()
