"""The CNN family for images: a small residual network (ResNet-style basic blocks).

    image [B, C, S, S] → stem (3×3 conv, BN, ReLU) → stages of residual blocks, each stage halving
    the resolution and doubling the width → global average pool → dropout → linear → [B, outputs]

Sizing rule (`size_cnn`), from the input size S, the number of training images N:

* stages: halve the resolution until it is at most 8 pixels (S=28: 28→14→7, two stages;
  S=64: three stages), at least one stage;
* base width: 16 for N < 100,000, 32 beyond (on two CPU cores, a wider network trains fewer
  epochs in the same time and ends worse: Fashion-MNIST reached 0.915 at width 16 in the time
  width 32 needed for 0.891); the stem has the base width and stage i has base · 2^(i+1) channels;
* one residual block per stage (two for N ≥ 100,000); dropout 0.1 before the classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from learnt.runtime.format import CNNConfig


def size_cnn(
    images: int,
    size: int,
    channels: int,
    n_outputs: int,
    *,
    base_width: int | None = None,
    stages: int | None = None,
    blocks: int | None = None,
) -> CNNConfig:
    """The CNN for `images` training images of `size`×`size`, per the module's rule."""
    if stages is None:
        stages, side = 0, size
        while side > 8 or stages == 0:
            side, stages = (side + 1) // 2, stages + 1
    if base_width is None:
        base_width = 16 if images < 100_000 else 32
    return CNNConfig(
        channels=channels,
        size=size,
        base_width=base_width,
        stages=stages,
        blocks=blocks or (2 if images >= 100_000 else 1),
        n_outputs=n_outputs,
    )


class BasicBlock(nn.Module):
    def __init__(self, inputs: int, outputs: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.shortcut = (
            nn.Sequential(
                nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs)
            )
            if stride != 1 or inputs != outputs
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ImageCNN(nn.Module):
    def __init__(self, config: CNNConfig) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(config.channels, config.base_width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(config.base_width),
            nn.ReLU(),
        )
        layers: list[nn.Module] = []
        width = config.base_width
        for stage_width in config.widths:
            for block in range(config.blocks):
                layers.append(BasicBlock(width, stage_width, stride=2 if block == 0 else 1))
                width = stage_width
        self.stages = nn.Sequential(*layers)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(width, config.n_outputs)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        # image: [B, C, S, S] normalised → features [B, W, S', S'] → pooled [B, W] → [B, outputs]
        features = self.stages(self.stem(image))
        return self.head(self.dropout(features.mean(dim=(2, 3))))


# Candidates for sizing by compute (`learnt.training.plan`), small to large: (base width, blocks).
LADDER = ((16, 1), (24, 1), (32, 1), (32, 2), (48, 2), (64, 2))
MANY_IMAGES = 20_000


def ladder(sizes: dict) -> list[CNNConfig]:
    """All candidates from `MANY_IMAGES` training images on; below, none larger than the data
    rule's network (a budget then shrinks it, and does not grow it past its data)."""
    candidates = [size_cnn(**sizes, base_width=width, blocks=blocks) for width, blocks in LADDER]
    if sizes["images"] >= MANY_IMAGES:
        return candidates
    rule = size_cnn(**sizes)
    smaller = [c for c in candidates if c.base_width <= rule.base_width and c.blocks <= rule.blocks]
    return [c for c in smaller if c != rule] + [rule]
