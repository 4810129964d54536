"""The three networks. `width` scales channels: 1.0 is the edge student, 2.0 the teacher."""

from __future__ import annotations

import torch
from torch import nn

from model_repository.processing import DEST_ALPHABET, DETECTOR_CLASSES, PRO_ALPHABET


def _ch(c: int, width: float) -> int:
    return max(8, round(c * width / 8) * 8)


class ConvBNAct(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, k, stride, padding=dilation * (k // 2), dilation=dilation, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class DepthwiseBlock(nn.Module):
    """Depthwise 3x3 + pointwise, residual when shapes match."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.dw = nn.Sequential(
            nn.Conv2d(cin, cin, 3, stride, padding=dilation, dilation=dilation, groups=cin, bias=False),
            nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
        )
        self.pw = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pw(self.dw(x))
        return self.act(x + y if self.residual else y)


class PalletDetector(nn.Module):
    """CenterNet-style: a small FPN to stride 4; heads for class heatmaps, log box size and offset."""

    def __init__(self, width: float = 1.0, num_classes: int = len(DETECTOR_CLASSES)) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = (_ch(c, width) for c in (16, 32, 64, 96, 128))
        self.stem = nn.Sequential(  # /4: a strided 4x4 "patchify" conv keeps full-resolution activations small
            nn.Conv2d(3, c1 * 2, 4, stride=4, bias=False), nn.BatchNorm2d(c1 * 2), nn.ReLU(inplace=True),
            ConvBNAct(c1 * 2, c2), DepthwiseBlock(c2, c2),
        )
        self.s8 = nn.Sequential(DepthwiseBlock(c2, c3, stride=2), DepthwiseBlock(c3, c3))
        self.s16 = nn.Sequential(DepthwiseBlock(c3, c4, stride=2), DepthwiseBlock(c4, c4), DepthwiseBlock(c4, c4))
        self.s32 = nn.Sequential(
            DepthwiseBlock(c4, c5, stride=2), DepthwiseBlock(c5, c5, dilation=2), DepthwiseBlock(c5, c5, dilation=3)
        )
        f = _ch(32, width)
        self.lat32, self.lat16 = nn.Conv2d(c5, f, 1), nn.Conv2d(c4, f, 1)
        self.lat8, self.lat4 = nn.Conv2d(c3, f, 1), nn.Conv2d(c2, f, 1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.smooth = nn.Sequential(DepthwiseBlock(f, f), DepthwiseBlock(f, f))

        self.head = ConvBNAct(f, f)
        self.heatmap = nn.Conv2d(f, num_classes, 1)
        self.size = nn.Conv2d(f, 2, 1)
        self.offset = nn.Conv2d(f, 2, 1)
        nn.init.constant_(self.heatmap.bias, -2.19)  # prior 0.1

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        p4 = self.stem(x)
        p8 = self.s8(p4)
        p16 = self.s16(p8)
        p32 = self.s32(p16)
        y = self.lat32(p32)
        y = self.up(y) + self.lat16(p16)
        y = self.up(y) + self.lat8(p8)
        y = self.up(y) + self.lat4(p4)
        y = self.head(self.smooth(y))
        return torch.sigmoid(self.heatmap(y)), self.size(y), self.offset(y)


OCR_FEATURE_STRIDE_Y = 8  # input rows per feature row


class ResidualRefine(nn.Module):
    """x + BN(conv(ReLU(BN(conv(x))))), the last BN's scale starting at 0: an identity when added, so a trained
    network grows a block without forgetting what it reads (its input is >= 0, after ReLU and max pooling)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvBNAct(channels, channels),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
        )
        nn.init.zeros_(self.body[2].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class LabelReader(nn.Module):
    """Reads PRO digits and DEST letters from a label crop without line segmentation.

    A CNN keeps full width resolution (stride 2); each head attends over rows per column (so it can
    follow a tilted line) and a BiLSTM reads the pooled column sequence, trained with CTC.
    `refine_blocks` residual blocks after each of the first three poolings (64x48, 32x48, 16x48) add depth
    where the glyphs are still a few pixels wide; 0 is the v1 network.
    """

    def __init__(self, width: float = 1.0, refine_blocks: int = 0) -> None:
        super().__init__()
        c1, c2, c3, c4 = (_ch(c, width) for c in (16, 32, 48, 64))
        self.features = nn.Sequential(
            ConvBNAct(1, c1), nn.MaxPool2d(2),  # 64x48
            ConvBNAct(c1, c2), nn.MaxPool2d((2, 1)),  # 32x48
            ConvBNAct(c2, c3), nn.MaxPool2d((2, 1)),  # 16x48
            ConvBNAct(c3, c4), ConvBNAct(c4, c4, dilation=2),
        )
        # after features[1], [3], [5]: the poolings
        self.refine = nn.ModuleList(
            nn.Sequential(*(ResidualRefine(c) for _ in range(refine_blocks))) for c in (c1, c2, c3)
        ) if refine_blocks else None
        hidden = _ch(64, width)
        self.pro = _ReadHead(c4, hidden, len(PRO_ALPHABET) + 1)
        self.dest = _ReadHead(c4, hidden, len(DEST_ALPHABET) + 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pro, dest, _, _ = self.forward_with_attention(x)
        return pro, dest  # (B, T, C) log-probabilities each

    def forward_with_attention(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Also the row attention of each head, (B, rows, T): training supervises where the lines are."""
        if self.refine is None:
            f = self.features(x)
        else:
            f = x
            for i, layer in enumerate(self.features):
                f = layer(f)
                if i in (1, 3, 5):
                    f = self.refine[i // 2](f)
        pro, pro_att = self.pro(f)
        dest, dest_att = self.dest(f)
        return pro, dest, pro_att, dest_att


class _ReadHead(nn.Module):
    def __init__(self, channels: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.attend = nn.Sequential(ConvBNAct(channels, channels // 2), nn.Conv2d(channels // 2, 1, 1))
        self.rnn = nn.LSTM(channels, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, classes)

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weights = torch.softmax(self.attend(f), dim=2)  # (B, 1, H, W): over rows, per column
        seq = (f * weights).sum(dim=2).permute(0, 2, 1)  # (B, W, C)
        y, _ = self.rnn(seq)
        return torch.log_softmax(self.out(y), dim=-1), weights[:, 0]


class DamageClassifier(nn.Module):
    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        c1, c2, c3, c4 = (_ch(c, width) for c in (16, 32, 64, 128))
        self.features = nn.Sequential(
            ConvBNAct(3, c1, stride=2),  # 64
            DepthwiseBlock(c1, c2, stride=2), DepthwiseBlock(c2, c2),  # 32
            DepthwiseBlock(c2, c3, stride=2), DepthwiseBlock(c3, c3),  # 16
            DepthwiseBlock(c3, c4, stride=2), DepthwiseBlock(c4, c4),  # 8
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(c4, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, 1) logit


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
