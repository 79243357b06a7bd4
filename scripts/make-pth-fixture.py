#!/usr/bin/python3
"""Writes the small .pth fixtures for packages/core/src/io/torch (run with Debian's /usr/bin/python3 + PyTorch).

Fixtures (all a few KB):
  small.pth           a state dict with many dtypes, views (transposed, sliced, expanded), 0-d and empty tensors
  small.expected.json its values: {key: {dtype, shape, values}} (values flattened row-major, as Python numbers)
  small_deflate.pth   small.pth re-zipped with deflate-compressed entries
  legacy.pth          the same state dict in the pre-1.6 (non-zip) format
  checkpoint.pth      {'model': <state dict>, 'epoch': 3, 'best_miou': 0.5, 'note': 'fixture'}
  bigint.pth          an int64 tensor holding 2**40 (outside int32)
  malicious.pth       a zip whose data.pkl calls os.system via GLOBAL + REDUCE (crafted bytes; never loaded here)
"""

import io
import json
import os
import struct
import zipfile

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "packages", "core", "src", "io", "torch", "fixtures")

DTYPES = {
    torch.float32: "F32",
    torch.float64: "F64",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


def state_dict():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.BatchNorm2d(2))
    net[1].running_mean.uniform_(-1, 1)
    net[1].num_batches_tracked.fill_(7)
    sd = net.state_dict()  # an OrderedDict with a _metadata attribute (pickled with BUILD)
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    sd["base"] = base
    sd["transposed"] = base.t()  # shares base's storage, strides (1, 4)
    sd["sliced"] = torch.arange(20, dtype=torch.float64).reshape(4, 5)[1:, ::2]  # offset 5, strides (5, 2)
    sd["expanded"] = torch.tensor([1.5, -2.0, 3.25]).expand(2, 3)  # stride 0
    sd["double"] = torch.tensor([0.1, -1e-300, 1e30], dtype=torch.float64)
    sd["half"] = torch.tensor([0.5, -65504.0, 6e-8, 1 / 3], dtype=torch.float16)
    sd["bf16"] = torch.tensor([1.0, -3.140625, 1e20], dtype=torch.bfloat16)
    sd["long"] = torch.tensor([[-(2**31), 2**31 - 1], [0, -5]], dtype=torch.int64)
    sd["int"] = torch.tensor([1, -2, 3], dtype=torch.int32)
    sd["short"] = torch.tensor([-32768, 32767], dtype=torch.int16)
    sd["char"] = torch.tensor([-128, 127, 0], dtype=torch.int8)
    sd["byte"] = torch.tensor([0, 255, 7], dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["scalar"] = torch.tensor(2.75)
    sd["empty"] = torch.zeros(0, 3)
    sd["param"] = torch.nn.Parameter(torch.tensor([[1.0, 2.0]]))
    return sd


def expected(sd):
    out = {}
    for k, t in sd.items():
        t = t.detach()
        values = t.float().flatten().tolist() if t.dtype in (torch.float16, torch.bfloat16) else t.flatten().tolist()
        out[k] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "values": values}
    return out


def save(obj, name, **kw):
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(buf.getvalue())
    return buf.getvalue()


def fixed_info(name, compress_type):
    # A fixed timestamp keeps the fixtures byte-for-byte reproducible.
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = compress_type
    return info


def rezip_deflated(data):
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compresslevel=9) as dst:
        for info in src.infolist():
            dst.writestr(fixed_info(info.filename, zipfile.ZIP_DEFLATED), src.read(info.filename))
    return buf.getvalue()


def malicious_pickle():
    # Protocol 2: GLOBAL 'os' 'system', the argument tuple ('echo pwned',), REDUCE, STOP. Crafted by hand; it is
    # written to disk only and never unpickled here.
    cmd = b"echo pwned"
    return b"\x80\x02" + b"cos\nsystem\n" + b"X" + struct.pack("<I", len(cmd)) + cmd + b"\x85" + b"R" + b"."


def main():
    os.makedirs(OUT, exist_ok=True)
    sd = state_dict()
    small = save(sd, "small.pth")
    with open(os.path.join(OUT, "small.expected.json"), "w") as f:
        json.dump(expected(sd), f, indent=1)
        f.write("\n")
    deflated = rezip_deflated(small)
    with open(os.path.join(OUT, "small_deflate.pth"), "wb") as f:
        f.write(deflated)
    save(sd, "legacy.pth", _use_new_zipfile_serialization=False)
    save({"model": sd, "epoch": 3, "best_miou": 0.5, "note": "fixture"}, "checkpoint.pth")
    save({"x": torch.tensor([1, 2**40], dtype=torch.int64)}, "bigint.pth")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(fixed_info("archive/data.pkl", zipfile.ZIP_STORED), malicious_pickle())
        z.writestr(fixed_info("archive/version", zipfile.ZIP_STORED), "3\n")
    with open(os.path.join(OUT, "malicious.pth"), "wb") as f:
        f.write(buf.getvalue())

    # Sanity: PyTorch itself reads back what we wrote (not the malicious file).
    for name in ("small.pth", "small_deflate.pth", "legacy.pth"):
        back = torch.load(os.path.join(OUT, name))
        for k, t in sd.items():
            assert torch.equal(back[k], t), (name, k)
            assert back[k].stride() == t.stride() or name == "legacy.pth", (name, k)


if __name__ == "__main__":
    main()
