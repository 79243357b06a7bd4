"""pydensecrf side of bench/crf-reference.mjs (not swept by bench/run.mjs).

Reads the cases bench/crf-reference.mjs wrote (a JSON manifest; per case the image as H·W·3 uint8 and the unary
energy as L·H·W float32, labels-major, pydensecrf's layout), runs pydensecrf's DenseCRF2D with the WS-FCN settings
(spec §4.9: Gaussian sxy 3 / compat 3, bilateral sxy 30 / srgb 13 / compat 10, 10 mean-field iterations) and
writes each case's labels (H·W int32). Prints one JSON array: per case the median wall and process-CPU time of
`reps` runs after one warm-up.

pydensecrf is built from source (https://github.com/lucasb-eyer/pydensecrf; see bench/README.md) and found through
PYTHONPATH.
"""
import json
import os
import sys
import time

import numpy as np
import pydensecrf.densecrf as dcrf


def run(case, folder):
    w, h, labels = case["width"], case["height"], case["labels"]
    rgb = np.fromfile(os.path.join(folder, case["id"] + ".rgb"), dtype=np.uint8).reshape(h, w, 3)
    unary = np.fromfile(os.path.join(folder, case["id"] + ".unary"), dtype=np.float32).reshape(labels, h * w)
    unary = np.ascontiguousarray(unary)
    rgb = np.ascontiguousarray(rgb)

    def once():
        d = dcrf.DenseCRF2D(w, h, labels)
        d.setUnaryEnergy(unary)
        d.addPairwiseGaussian(sxy=3, compat=3)
        d.addPairwiseBilateral(sxy=30, srgb=13, rgbim=rgb, compat=10)
        q = np.array(d.inference(case["iterations"]))
        return q.argmax(axis=0).astype(np.int32)

    once()
    wall, cpu = [], []
    out = None
    for _ in range(case["reps"]):
        c0, t0 = time.process_time(), time.perf_counter()
        out = once()
        wall.append((time.perf_counter() - t0) * 1000.0)
        cpu.append((time.process_time() - c0) * 1000.0)
    out.tofile(os.path.join(folder, case["id"] + ".pydensecrf.labels"))
    med = lambda a: sorted(a)[len(a) // 2]  # noqa: E731
    return {"id": case["id"], "ms": round(med(wall), 1), "cpuMs": round(med(cpu), 1), "reps": case["reps"]}


def main():
    folder = sys.argv[1]
    with open(os.path.join(folder, "cases.json")) as f:
        cases = json.load(f)
    sys.stdout.write(json.dumps([run(c, folder) for c in cases]) + "\n")


if __name__ == "__main__":
    main()
