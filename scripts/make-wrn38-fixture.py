"""Writes packages/backbone-wrn38/src/fixtures/wrn38-tiny.pth (a tiny ResNet-38d state dict saved by PyTorch,
reference key names) and wrn38-tiny.expected.json (PyTorch's conv3/conv6 for a fixed input, eval mode).
Run with Debian's python3 (python3-torch): /usr/bin/python3 scripts/make-wrn38-fixture.py"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench", "torch"))
from _resnet38 import LIGHT, ResNet38  # noqa: E402

CHANNELS = [4, 4, 8, 8, 8, 8, 8]
out_dir = os.path.join(os.path.dirname(__file__), "..", "packages", "backbone-wrn38", "src", "fixtures")
os.makedirs(out_dir, exist_ok=True)
torch.manual_seed(0)
net = ResNet38(CHANNELS, LIGHT)
with torch.no_grad():
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial statistics so the BN mapping is exercised
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
            m.num_batches_tracked.fill_(5)
net.eval()
h, w = 11, 13
x = torch.tensor([[[[math.sin(0.37 * (c * h * w + i * w + j)) for j in range(w)] for i in range(h)] for c in range(3)]],
                 dtype=torch.float32)
with torch.no_grad():
    conv3, conv6 = net(x)
torch.save(net.state_dict(), os.path.join(out_dir, "wrn38-tiny.pth"))
expected = {
    "channels": CHANNELS,
    "depth": "light",
    "input": {"shape": [1, h, w, 3], "formula": "sin(0.37*(c*H*W + i*W + j)) at NHWC [0,i,j,c]"},
    "conv3": {"shape": list(conv3.permute(0, 2, 3, 1).shape), "data": conv3.permute(0, 2, 3, 1).flatten().tolist()},
    "conv6": {"shape": list(conv6.permute(0, 2, 3, 1).shape), "data": conv6.permute(0, 2, 3, 1).flatten().tolist()},
}
with open(os.path.join(out_dir, "wrn38-tiny.expected.json"), "w") as f:
    json.dump(expected, f)
print("params", sum(p.numel() for p in net.parameters()), "conv3", tuple(conv3.shape), "conv6", tuple(conv6.shape))
