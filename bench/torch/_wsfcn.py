"""WS-FCN in PyTorch, written from /work/shared/spec/METHOD.md for benchmarks and cross-checks (not imported by
tests). NCHW, float32. Module names follow the reference state-dict keys (spec §1.1, §4.2–§4.4, §3.4), so
`state_dict()` maps onto the TS model with its `stateDictRules()`:

- backbone: `_resnet38.ResNet38` (spec §2), subclassed as the reference's SoftMaxAE does (keys `conv1a.weight`, …);
- FCA (spec §4.2), AlignModule (§4.3), SF2 (§4.4), stochastic gate (§3.3, §4.5), `last_conv` (§3.4);
- losses (§3.5–§3.8): background logit + softmax, nGWP + focal scores, multi-label soft margin, PAMR
  (bench/torch/pamr.py, §3.6) on the detached masks, clean + pseudo GT (§3.7), balanced CE (§3.8);
- the optimiser: SGD momentum 0.9 with the four parameter groups of spec §1.6 (WS-FCN multipliers 1/2/20/40).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from _resnet38 import CHANNELS, FULL, LIGHT, ResNet38
from pamr import DILATIONS, pamr

FCA_BRANCHES = ((1, 1, 0), (3, 12, 12), (5, 24, 48), (7, 36, 108))  # (ks, dilation, padding), spec §4.2


class GCN_Module(nn.Module):
    """Strip-conv branch (spec §4.2): (ks×1 ∘ 1×ks) + (1×ks ∘ ks×1), no bias; `bn`/`relu` built, never used."""

    def __init__(self, cin, cout, ks, dilation, padding):
        super().__init__()
        d = (dilation, dilation)
        self.conv1_1 = nn.Conv2d(cin, cout, (ks, 1), padding=(padding, 0), dilation=d, bias=False)
        self.conv1_2 = nn.Conv2d(cout, cout, (1, ks), padding=(0, padding), dilation=d, bias=False)
        self.conv2_1 = nn.Conv2d(cin, cout, (1, ks), padding=(0, padding), dilation=d, bias=False)
        self.conv2_2 = nn.Conv2d(cout, cout, (ks, 1), padding=(padding, 0), dilation=d, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.conv1_2(self.conv1_1(x)) + self.conv2_2(self.conv2_1(x))


class ChannelAttention(nn.Module):
    """Shared by the four branches, ratio 1 (spec §4.2): sigmoid(MLP(avg) + MLP(max))."""

    def __init__(self, c):
        super().__init__()
        self.sharedMLP = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.ReLU(), nn.Conv2d(c, c, 1, bias=False))

    def forward(self, x):
        avg = self.sharedMLP(F.adaptive_avg_pool2d(x, 1))
        mx = self.sharedMLP(F.adaptive_max_pool2d(x, 1))
        return torch.sigmoid(avg + mx)


class SpatialAttention(nn.Module):
    def __init__(self, k=3):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, k, padding=k // 2, bias=False)

    def forward(self, x):
        d = torch.cat([x.mean(1, keepdim=True), x.max(1, keepdim=True)[0]], 1)
        return torch.sigmoid(self.conv(d))


class FCA(nn.Module):
    """Spec §4.2. `frozen_stats`: the pool/embedding BNs stay in eval mode (reference, §1.5); False = batch BN."""

    def __init__(self, cin=4096, c=256, branches=FCA_BRANCHES, frozen_stats=True, dropout=0.5):
        super().__init__()
        for i, (ks, d, p) in enumerate(branches):
            setattr(self, f"fca{i + 1}", GCN_Module(cin, c, ks, d, p))
        self.nb = len(branches)
        self.ca = ChannelAttention(c)
        self.sa = SpatialAttention(3)
        self.global_avg_pool = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU()
        )
        self.conv1 = nn.Conv2d(c * (self.nb + 1), c, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.dropout = nn.Dropout(dropout)
        self.frozen_stats = frozen_stats
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)

    def train(self, mode=True):
        super().train(mode)
        if self.frozen_stats:
            self.global_avg_pool[2].eval()
            self.bn1.eval()
        return self

    def forward(self, x):
        h, w = x.shape[-2:]
        outs = []
        for i in range(self.nb):
            y = getattr(self, f"fca{i + 1}")(x)
            outs.append(self.ca(y) * y)
        outs.append(F.interpolate(self.global_avg_pool(x), size=(h, w), mode="bilinear", align_corners=True))
        e = self.bn1(self.conv1(torch.cat(outs, 1)))  # no ReLU (spec §4.2 step 2)
        e = self.sa(e) * e + e
        return self.dropout(e)


def flow_warp(high, flow):
    """Spec §4.3 step 4: base grid linspace(−1, 1) + flow / (output W, H), grid_sample bilinear, zeros, ac=True."""
    n, _, hh, ww = flow.shape
    gy, gx = torch.meshgrid(torch.linspace(-1, 1, hh), torch.linspace(-1, 1, ww), indexing="ij")
    base = torch.stack([gx, gy], -1).unsqueeze(0).expand(n, hh, ww, 2)
    grid = base + flow.permute(0, 2, 3, 1) / torch.tensor([ww, hh], dtype=flow.dtype)
    return F.grid_sample(high, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


class AlignModule(nn.Module):
    """Spec §4.3; PyTorch default init (not re-initialised, §1.7)."""

    def __init__(self, inplane=256, outplane=128):
        super().__init__()
        self.down_h = nn.Conv2d(inplane, outplane, 1, bias=False)
        self.down_l = nn.Conv2d(inplane, outplane, 1, bias=False)
        self.flow_make = nn.Conv2d(outplane * 2, 2, 3, padding=1, bias=False)

    def forward(self, low, high):
        size = low.shape[-2:]
        l = self.down_l(low)
        h = F.interpolate(self.down_h(high), size=size, mode="bilinear", align_corners=False)
        flow = self.flow_make(torch.cat([h, l], 1))
        return flow_warp(high, flow)


class SF2(nn.Module):
    """Spec §4.4: CBR = ReLU(BN(conv3×3 with bias)), train-mode BN; returns (h4, v4)."""

    BLOCKS = ("1h", "2h", "3h", "4h", "1v", "2v", "3v", "4v")

    def __init__(self, c=256):
        super().__init__()
        for k in self.BLOCKS:
            conv = nn.Conv2d(c, c, 3, padding=1, bias=True)
            nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            setattr(self, f"conv{k}", conv)
            setattr(self, f"bn{k}", nn.BatchNorm2d(c))

    def cbr(self, k, x):
        return F.relu(getattr(self, f"bn{k}")(getattr(self, f"conv{k}")(x)))

    def forward(self, left, down):
        if down.shape[-2:] != left.shape[-2:]:
            down = F.interpolate(down, size=left.shape[-2:], mode="bilinear", align_corners=False)
        h1 = self.cbr("1h", left)
        h2 = self.cbr("2h", h1)
        v1 = self.cbr("1v", down)
        v2 = self.cbr("2v", v1)
        f = h2 * v2
        h4 = self.cbr("4h", self.cbr("3h", f) + h1)
        v4 = self.cbr("4v", self.cbr("3v", f) + v1)
        return h4, v4


def stochastic_gate(x1, x2, psi, training):
    """Spec §3.3: train r·(x1 − ψx2)/(1 − ψ) + (1 − r)·x2 with r = (1 − ψ)·dropout(ones, ψ); eval (1 − ψ)x1 + ψx2."""
    if not training:
        return (1 - psi) * x1 + psi * x2
    r = (1 - psi) * F.dropout(torch.ones_like(x1), p=psi, training=True)
    x1s = (x1 - psi * x2) / max(1e-8, 1 - psi)
    return r * x1s + (1 - r) * x2


def last_conv(c, k):
    """Spec §3.4 (indices 0…8); kaiming_normal convs, final conv with PyTorch default bias (§1.7)."""
    seq = nn.Sequential(
        nn.Conv2d(c, c, 3, padding=1, bias=False),
        nn.BatchNorm2d(c),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Conv2d(c, c, 3, padding=1, bias=False),
        nn.BatchNorm2d(c),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Conv2d(c, k, 1, bias=True),
    )
    for i in (0, 4, 8):
        nn.init.kaiming_normal_(seq[i].weight)
    return seq


class WsFcn(ResNet38):
    """Spec §4.6. `from_scratch`: backbone BNs in batch mode and nothing frozen (the demo); otherwise the
    reference: backbone BNs frozen (eval, no grad), stem conv1a/b2* frozen (§1.5–§1.6)."""

    def __init__(self, num_classes=20, channels=CHANNELS, units=FULL, branches=FCA_BRANCHES, psi=0.3,
                 from_scratch=False, align_channels=None):
        super().__init__(channels, units)
        self.backbone_names = [n for n, _ in self.named_parameters()]
        c = channels[2]  # conv3 channels = head channels (256 in the reference)
        self.fca = FCA(channels[6], c, branches, frozen_stats=not from_scratch)
        self.align1 = AlignModule(c, align_channels or max(1, c // 2))
        self.sf2 = SF2(c)
        self.last_conv = last_conv(c, num_classes)
        self.psi = psi
        self.from_scratch = from_scratch
        if not from_scratch:
            for n, p in self.named_parameters():
                if n in self.backbone_names and (".bn" in n or n.startswith("bn7") or n.startswith(("conv1a", "b2."))):
                    p.requires_grad_(False)
                if n.startswith(("b2_1.", "b2_2.")):
                    p.requires_grad_(False)

    def train(self, mode=True):
        super().train(mode)
        if not self.from_scratch:
            for n, m in self.named_modules():
                if isinstance(m, nn.BatchNorm2d) and not n.startswith(("fca", "align1", "sf2", "last_conv")):
                    m.eval()
        return self

    def forward(self, y):
        conv3, conv6 = ResNet38.forward(self, y)
        x = self.fca(conv6)
        x_up = self.align1(conv3, x)
        h4, v4 = self.sf2(conv3, x_up)
        x = stochastic_gate(v4, h4, self.psi, self.training)
        return self.last_conv(x)

    def param_groups(self, lr=1e-3, mults=(1, 2, 20, 40), wd=5e-4):
        """Spec §1.6: weights and BN γ decayed; biases and BN β not; backbone vs new layers."""
        groups = [[], [], [], []]
        for n, p in self.named_parameters():
            if not p.requires_grad:
                continue
            new = n not in self.backbone_names
            is_bias = n.endswith(".bias")  # conv biases and BN β (γ is `.weight`)
            groups[(2 if new else 0) + (1 if is_bias else 0)].append(p)
        return [
            {"params": g, "lr": lr * m, "weight_decay": wd if i % 2 == 0 else 0.0}
            for i, (g, m) in enumerate(zip(groups, mults))
            if g
        ]


# ---- heads and losses (spec §3.5–§3.8) --------------------------------------------------------------------


def class_scores(z, focal_p=3, focal_lambda=0.01):
    """z (N,K,h,w) → logits y (N,K+1,h,w) with constant bg 1, masks m = softmax(y), cls (N,K) = nGWP + focal."""
    n, _, h, w = z.shape
    y = torch.cat([torch.ones(n, 1, h, w, dtype=z.dtype), z], 1)
    m = y.softmax(1)
    yf, mf = y.flatten(2), m.flatten(2)
    msum = mf.sum(2)
    ngwp = (yf * mf).sum(2) / (1 + msum)
    mbar = msum / (h * w)
    focal = (1 - mbar).pow(focal_p) * torch.log(focal_lambda + mbar)
    return y, m, (ngwp + focal)[:, 1:]


def pseudo_gt(masks, labels, bg=0.7, fg=0.6, low=0.2):
    """Spec §3.7 on cleaned masks (N,C,H,W): per-class thresholds, strict >, ambiguous/empty pixels → all zero."""
    mu = masks.flatten(2).max(2)[0]  # (N,C)
    fac = torch.full_like(mu, fg)
    fac[:, 0] = bg
    t = torch.clamp(mu * fac, min=low)
    g = (masks > t[:, :, None, None]).float()
    g = g * (g.sum(1, keepdim=True) == 1).float()
    return g


def balanced_mask_loss(y, g, labels):
    """Spec §3.8: y (N,C,h,w) upsampled (ac=True) to G's size; w_c = (n − n_c)/(1 + n); mean over all pixels; gate."""
    hh, ww = g.shape[-2:]
    yup = F.interpolate(y, size=(hh, ww), mode="bilinear", align_corners=True)
    nc = g.sum((2, 3))
    n = nc.sum(1, keepdim=True)
    wc = (n - nc) / (1 + n)
    wpix = (g * wc[:, :, None, None]).sum(1)
    target = g.argmax(1)
    target[g.sum(1) == 0] = 255
    ce = F.cross_entropy(yup, target, ignore_index=255, reduction="none")
    per = (wpix * ce).mean((1, 2))
    gate = ((labels.sum(1) + 1) == (nc > 0).sum(1)).float()
    return (per * gate).mean(), gate


def wsfcn_losses(model, images, raw, labels, mask_phase=True, pamr_iter=10, dilations=DILATIONS):
    """Spec §3.9 / §4.6–§4.7: returns (total, cls_loss, mask_loss or None)."""
    z = model(images)
    y, m, cls = class_scores(z)
    cls_loss = F.multilabel_soft_margin_loss(cls, labels)
    if not mask_phase:
        return cls_loss, cls_loss, None
    h, w = m.shape[-2:]
    H, W = raw.shape[-2:]
    raw_small = F.interpolate(raw, size=(h, w), mode="bilinear", align_corners=True)
    refined = pamr(raw_small, m.detach(), pamr_iter, dilations, accumulate=True)
    up = F.interpolate(refined, size=(H, W), mode="bilinear", align_corners=True)
    up = torch.cat([up[:, :1], up[:, 1:] * labels[:, :, None, None]], 1)
    g = pseudo_gt(up, labels)
    mask_loss, _ = balanced_mask_loss(y, g, labels)
    return cls_loss + 1.0 * mask_loss, cls_loss, mask_loss


def demo_model(num_classes=20):
    """The width-reduced demo WS-FCN: channels [16, 32, 64, 128, 256, 256, 256], one unit per stage, from scratch."""
    return WsFcn(num_classes, [16, 32, 64, 128, 256, 256, 256], LIGHT, from_scratch=True)
