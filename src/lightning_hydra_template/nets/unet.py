"""A small U-Net: an encoder that halves the resolution per level, a decoder that doubles it back and
concatenates the encoder features of the same resolution (skip connections), a 1x1 conv per-pixel head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two (conv3x3 -> batch norm -> ReLU) layers at constant resolution."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """Input ``(N, in_channels, H, W)`` -> logits ``(N, num_classes, H, W)``.

    ``channels`` gives the width of each level, top to bottom; H and W must be divisible by
    :meth:`size_multiple` ``= 2 ** (len(channels) - 1)``.
    """

    @staticmethod
    def size_multiple(channels: Sequence[int]) -> int:
        """Input heights and widths must be multiples of this: each level below the first halves them."""
        return 2 ** (len(channels) - 1)

    def __init__(self, in_channels: int, num_classes: int, channels: Sequence[int] = (16, 32, 64)) -> None:
        super().__init__()
        if len(channels) < 2:
            raise ValueError(f"a U-Net needs at least 2 levels, got channels={list(channels)}")
        self.down_factor = self.size_multiple(channels)
        self.encoders = nn.ModuleList()
        width = in_channels
        for out in channels:
            self.encoders.append(conv_block(width, out))
            width = out
        self.pool = nn.MaxPool2d(2)
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for skip in reversed(channels[:-1]):
            self.ups.append(nn.ConvTranspose2d(width, skip, kernel_size=2, stride=2))
            self.decoders.append(conv_block(2 * skip, skip))
            width = skip
        self.head = nn.Conv2d(width, num_classes, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2] % self.down_factor or x.shape[-1] % self.down_factor:
            raise ValueError(f"image size {tuple(x.shape[-2:])} is not divisible by {self.down_factor}")
        skips = []
        for i, encoder in enumerate(self.encoders):
            x = encoder(x if i == 0 else self.pool(x))
            skips.append(x)
        for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips[:-1]), strict=True):
            x = decoder(torch.cat([up(x), skip], dim=1))
        return self.head(x)
