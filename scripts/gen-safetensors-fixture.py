#!/usr/bin/env python3
"""Writes packages/core/src/io/fixtures/torch_small.safetensors, the cross-check fixture of
packages/core/src/io/safetensors.test.ts. Run once by hand (needs torch); tests only read the output.

The `safetensors` Python package is not assumed to be installed, so the file is laid out by hand from the
format: u64 little-endian header length, JSON header (dtype, shape, data_offsets relative to the data
buffer, __metadata__ of strings) padded with spaces to 8 bytes, then the tensors' little-endian bytes.
Tensor values come from torch so that the F16/BF16/I64 encodings are torch's, not ours.
"""
import json
import os
import struct

import torch

tensors = {
    # A conv kernel in PyTorch's OIHW layout: element [o,i,h,w] = 1000o + 100i + 10h + w.
    "conv.weight": torch.tensor(
        [[[[1000 * o + 100 * i + 10 * h + w for w in range(2)] for h in range(2)] for i in range(3)] for o in range(2)],
        dtype=torch.float32,
    ),
    "bn.running_var": torch.tensor([0.5, 2.0], dtype=torch.float64),
    "bn.num_batches_tracked": torch.tensor(12345678901 % 2**31, dtype=torch.int64),  # a 0-d tensor
    "half": torch.tensor([1.0, -2.5, 65504.0, 0.1, 2.0**-24], dtype=torch.float16),
    "bf": torch.tensor([1.0, -3.140625, 0.1], dtype=torch.bfloat16),
    "ids": torch.tensor([[-3, 7], [0, 2**31 - 1]], dtype=torch.int32),
    "mask": torch.tensor([True, False, True]),
    "bytes": torch.tensor([0, 255, 7], dtype=torch.uint8),
    "signed": torch.tensor([-128, 127, -1], dtype=torch.int8),
    "empty": torch.zeros((0, 3), dtype=torch.float32),
}
DTYPES = {
    torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.int8: "I8", torch.bool: "BOOL",
}


def raw_bytes(t: torch.Tensor) -> bytes:
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.view(torch.int16)
    return t.contiguous().numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


header = {"__metadata__": {"format": "pt", "source": "gen-safetensors-fixture.py"}}
data = b""
for name, t in tensors.items():
    b = raw_bytes(t)
    header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [len(data), len(data) + len(b)]}
    data += b
text = json.dumps(header).encode("utf-8")
text += b" " * (-len(text) % 8)
out = os.path.join(os.path.dirname(__file__), "..", "packages", "core", "src", "io", "fixtures", "torch_small.safetensors")
with open(out + ".tmp", "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
os.replace(out + ".tmp", out)
print(out, 8 + len(text) + len(data), "bytes")
for name, t in tensors.items():
    print(name, DTYPES[t.dtype], list(t.shape), t.float().flatten().tolist() if t.dtype != torch.bool else t.tolist())
