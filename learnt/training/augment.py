"""Image batches for the loop: augmentation (training only) and normalisation, on whole batches.

Pixels stay uint8 in the store; each batch is turned into the normalised float32 input the
network (and `model.onnx`) takes, `(pixel/255 - mean) / std`, with — while training — a random
crop of the image padded by an eighth of its side, and an optional horizontal flip. Everything is
one tensor operation per batch (no Python per image), drawn from the loop's augmentation generator
(part of its saved state, so a continued run draws the same crops).
"""

from __future__ import annotations

import torch
from torch.nn import functional

from learnt.kinds import Augment
from learnt.runtime.format import ImageInput


class ImageBatches:
    """`transform(inputs, augment)` for `LoopData`: uint8 [B, C, S, S] → normalised float32."""

    def __init__(self, spec: ImageInput, augment: Augment) -> None:
        self.mean = torch.tensor(spec.mean).view(1, -1, 1, 1) * 255.0
        self.std = torch.tensor(spec.std).view(1, -1, 1, 1) * 255.0
        self.augment = augment
        self.padding = max(1, spec.size // 8)

    def __call__(
        self, inputs: tuple[torch.Tensor, ...], generator: torch.Generator | None
    ) -> tuple[torch.Tensor, ...]:
        """Normalised images; augmented when training (`generator` given) and asked for."""
        (pixels,) = inputs
        images = pixels.float()  # [B, C, S, S], 0–255
        if generator is not None and self.augment != "none":
            images = self.random_crop(images, generator)
            if self.augment == "crop+flip":
                images = self.random_flip(images, generator)
        normalised = (images - self.mean) / self.std
        return (normalised.contiguous(memory_format=torch.channels_last),)

    def random_crop(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch, _, size, _ = images.shape
        pad = self.padding
        padded = functional.pad(
            images, (pad, pad, pad, pad), mode="replicate"
        )  # [B, C, S+2p, S+2p]
        offsets = torch.randint(0, 2 * pad + 1, (2, batch), generator=generator)
        span = torch.arange(size)
        rows = (offsets[0, :, None] + span)[:, :, None]  # [B, S, 1]
        cols = (offsets[1, :, None] + span)[:, None, :]  # [B, 1, S]
        cropped = padded[torch.arange(batch)[:, None, None], :, rows, cols]  # [B, S, S, C]
        return cropped.permute(0, 3, 1, 2)  # [B, C, S, S]

    def random_flip(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        flip = torch.rand(len(images), generator=generator) < 0.5
        return torch.where(flip[:, None, None, None], images.flip(3), images)
