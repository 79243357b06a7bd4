"""PyTorch side of bench/onnx.mjs (not run by bench/run.mjs: the leading underscore keeps it out of the sweep).

Serves the inference forward of the full WS-FCN twin (bench/torch/_wsfcn.py: ResNet-38d 64…4096 channels, units
3/3/6/3/1/1, FCA + align + SF2, 20 classes, reference mode, eval) over stdin/stdout, one JSON object a line, so that
bench/onnx.mjs can alternate it with the tfjs and ONNX Runtime forwards in lockstep without reloading the model:

    /usr/bin/python3 bench/torch/_serve_wsfcn.py --threads 2 [--weights wsfcn.safetensors]

With `--weights`, the state dict written by bench/onnx.mjs (`exportStateDict` of the tfjs model, PyTorch names and
layouts) is loaded, so that all engines run the same weights; without it the twin keeps its own random init.
Prints {"ready": true, …}, then answers each command line:
    {"cmd": "input", "path": p, "h": H, "w": W}   reads a float32 NHWC (1, H, W, 3) image → {"ok": true}
    {"cmd": "run"[, "count": true]}               one forward (torch.no_grad) → {"ms": …, "cpuMs": …[, "gmac": …]}
    {"cmd": "dump", "path": p}                    writes the last logits as float32 NHWC (1, h, w, K) → {"shape": …}
    {"cmd": "quit"} or EOF                        ends.
"""
import argparse
import json
import struct
import sys
import time

import numpy as np
import torch

from _wsfcn import WsFcn


def read_safetensors(path):
    """name → float32 numpy array (F32 only: what exportStateDict writes for WS-FCN)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = np.fromfile(f, dtype=np.uint8)
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if e["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} has dtype {e['dtype']}, expected F32")
        a, b = e["data_offsets"]
        out[name] = data[a:b].view("<f4").reshape(e["shape"])
    return out


def _valid_taps(n, ks, d, p, s):
    """Kernel taps along one axis that read at least one input element (the others only read zero padding)."""
    out_n = (n + 2 * p - d * (ks - 1) - 1) // s + 1
    return sum(1 for t in range(ks) if any(0 <= o * s + t * d - p < n for o in range(out_n)))


def count_macs(model):
    """Forward hooks counting the convolutions' multiply-adds of one forward: `all` (every kernel tap, as PyTorch
    computes them) and `nonPadding` (taps that only read zero padding left out, as wsss's FCA does), with the FCA's
    share of each. Returns (hooks to remove, dict filled during the forward)."""
    macs = {"all": 0, "nonPadding": 0, "fcaAll": 0, "fcaNonPadding": 0}
    hooks = []
    for name, mod in model.named_modules():
        if not isinstance(mod, torch.nn.Conv2d):
            continue

        def hook(mod, inp, out, fca=name.startswith("fca.")):
            _, cin, kh, kw = mod.weight.shape
            h, w = inp[0].shape[-2:]
            full = out.numel() * cin * kh * kw
            vh = _valid_taps(h, kh, mod.dilation[0], mod.padding[0], mod.stride[0])
            vw = _valid_taps(w, kw, mod.dilation[1], mod.padding[1], mod.stride[1])
            eff = out.numel() * cin * vh * vw
            macs["all"] += full
            macs["nonPadding"] += eff
            if fca:
                macs["fcaAll"] += full
                macs["fcaNonPadding"] += eff

        hooks.append(mod.register_forward_hook(hook))
    return hooks, macs


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--classes", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = WsFcn(args.classes).eval()  # full reference network, reference mode (frozen backbone BNs)
    build_ms = (time.perf_counter() - t0) * 1000.0
    info = {"ready": True, "threads": torch.get_num_threads(), "torch": torch.__version__,
            "buildMs": round(build_ms, 1), "params": sum(p.numel() for p in model.parameters())}
    if args.weights:
        t0 = time.perf_counter()
        sd = read_safetensors(args.weights)
        own = model.state_dict()
        tensors = {}
        misshaped = []
        for k, v in sd.items():
            if k in own and tuple(own[k].shape) != tuple(v.shape):
                misshaped.append(k)
            tensors[k] = torch.from_numpy(v.copy())
        if misshaped:
            raise ValueError(f"mis-shaped keys: {misshaped[:10]}")
        r = model.load_state_dict(tensors, strict=False)
        # keys the TS model has no counterpart for: BN step counters, and the GCN branches' unused `bn`
        # (built by the reference, never called in forward)
        missing = [k for k in r.missing_keys if not k.endswith("num_batches_tracked")]
        unused = [k for k in missing if k.startswith("fca.fca") and ".bn." in k]
        info.update({
            "weightsLoaded": len(sd),
            "weightsLoadMs": round((time.perf_counter() - t0) * 1000.0, 1),
            "missingKeys": [k for k in missing if k not in unused],
            "unusedMissingKeys": len(unused),
            "unexpectedKeys": list(r.unexpected_keys),
        })
        del sd, tensors
    reply(info)

    x = None
    last = None
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        msg = json.loads(line)
        cmd = msg.get("cmd")
        if cmd == "quit":
            break
        if cmd == "input":
            h, w = msg["h"], msg["w"]
            a = np.fromfile(msg["path"], dtype="<f4").reshape(1, h, w, 3)
            x = torch.from_numpy(a.copy()).permute(0, 3, 1, 2).contiguous()
            last = None
            reply({"ok": True, "shape": list(x.shape)})
        elif cmd == "run":
            hooks, macs = (count_macs(model) if msg.get("count") else ([], None))
            c0 = time.process_time()
            t0 = time.perf_counter()
            with torch.no_grad():
                y = model(x)
            ms = (time.perf_counter() - t0) * 1000.0
            cpu_ms = (time.process_time() - c0) * 1000.0
            for h in hooks:
                h.remove()
            last = y
            reply({"ms": ms, "cpuMs": cpu_ms, **({"gmac": {k: round(v / 1e9, 2) for k, v in macs.items()}}
                                                  if macs else {})})
        elif cmd == "dump":
            a = last.permute(0, 2, 3, 1).contiguous().numpy().astype("<f4")
            a.tofile(msg["path"])
            reply({"shape": list(a.shape)})
        else:
            reply({"error": f"unknown command {cmd!r}"})


if __name__ == "__main__":
    main()
