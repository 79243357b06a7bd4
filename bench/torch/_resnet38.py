"""ResNet-38d ("model A1", WideResNet-38) in PyTorch, written from spec §2 (METHOD.md) for cross-checks and
benchmarks: the module names are the reference state-dict keys (conv1a, b2, b2_1, …, bn7). Not imported by tests."""
import torch
import torch.nn as nn
import torch.nn.functional as F

FULL = [3, 3, 6, 3, 1, 1]
LIGHT = [1, 1, 1, 1, 1, 1]
CHANNELS = [64, 128, 256, 512, 1024, 2048, 4096]


class Basic(nn.Module):
    def __init__(self, cin, mid, cout, stride=1, first_dilation=None, dilation=1):
        super().__init__()
        first_dilation = dilation if first_dilation is None else first_dilation
        self.same_shape = cin == cout and stride == 1
        self.bn_branch2a = nn.BatchNorm2d(cin)
        self.conv_branch2a = nn.Conv2d(cin, mid, 3, stride, padding=first_dilation, dilation=first_dilation, bias=False)
        self.bn_branch2b1 = nn.BatchNorm2d(mid)
        self.conv_branch2b1 = nn.Conv2d(mid, cout, 3, padding=dilation, dilation=dilation, bias=False)
        if not self.same_shape:
            self.conv_branch1 = nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        a = F.relu(self.bn_branch2a(x))
        shortcut = x if self.same_shape else self.conv_branch1(a)
        r = self.conv_branch2a(a)
        r = self.conv_branch2b1(F.relu(self.bn_branch2b1(r)))
        return shortcut + r


class Bottleneck(nn.Module):
    def __init__(self, cin, cout, stride=1, dilation=1, dropout=0.0):
        super().__init__()
        self.bn_branch2a = nn.BatchNorm2d(cin)
        self.conv_branch1 = nn.Conv2d(cin, cout, 1, stride, bias=False)
        self.conv_branch2a = nn.Conv2d(cin, cout // 4, 1, stride, bias=False)
        self.bn_branch2b1 = nn.BatchNorm2d(cout // 4)
        self.dropout_2b1 = nn.Dropout2d(dropout)
        self.conv_branch2b1 = nn.Conv2d(cout // 4, cout // 2, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn_branch2b2 = nn.BatchNorm2d(cout // 2)
        self.dropout_2b2 = nn.Dropout2d(dropout)
        self.conv_branch2b2 = nn.Conv2d(cout // 2, cout, 1, bias=False)

    def forward(self, x):
        a = F.relu(self.bn_branch2a(x))
        shortcut = self.conv_branch1(a)
        r = self.dropout_2b1(F.relu(self.bn_branch2b1(self.conv_branch2a(a))))
        r = self.dropout_2b2(F.relu(self.bn_branch2b2(self.conv_branch2b1(r))))
        return shortcut + self.conv_branch2b2(r)


class ResNet38(nn.Module):
    def __init__(self, channels=CHANNELS, units=FULL):
        super().__init__()
        c0, c2, c3, c4, c5, c6, c7 = channels
        self.conv1a = nn.Conv2d(3, c0, 3, padding=1, bias=False)
        self.names = []

        def add(name, module):
            setattr(self, name, module)
            self.names.append(name)

        cin = c0
        for stage, cout, stride in ((2, c2, 2), (3, c3, 2), (4, c4, 2)):
            for u in range(units[stage - 2]):
                add(f"b{stage}" if u == 0 else f"b{stage}_{u}", Basic(cin, cout, cout, stride if u == 0 else 1))
                cin = cout
        for u in range(units[3]):
            add("b5" if u == 0 else f"b5_{u}", Basic(cin, c5 // 2, c5, 1, first_dilation=1 if u == 0 else 2, dilation=2))
            cin = c5
        add("b6", Bottleneck(cin, c6, dilation=4, dropout=0.3))
        add("b7", Bottleneck(c6, c7, dilation=4, dropout=0.5))
        self.bn7 = nn.BatchNorm2d(c7)
        self.last_stage3 = [n for n in self.names if n.startswith("b3")][-1]

    def forward(self, x):
        x = self.conv1a(x)
        conv3 = None
        for n in self.names:
            x = getattr(self, n)(x)
            if n == self.last_stage3:
                conv3 = x
        return conv3, F.relu(self.bn7(x))
