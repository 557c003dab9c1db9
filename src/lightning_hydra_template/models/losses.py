"""Differentiable segmentation losses: soft Dice, soft IoU (Jaccard) and cross-entropy + Dice.

Neither torch nor torchmetrics (whose metrics are not differentiable) provides these, so they live here.
Each takes raw logits ``(N, C, H, W)`` and integer class masks ``(N, H, W)``.

Scores are computed per class over the whole batch (all images and pixels together). A class with no
pixel in the batch's masks has no overlap to reward: with ``ignore_empty=True`` it is left out of the
mean (its false positives still cost, as they take probability from the classes that are present).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def soft_overlap(logits: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per class: soft intersection, predicted mass and true pixel count, summed over batch and pixels."""
    probs = logits.float().softmax(dim=1)
    one_hot = F.one_hot(targets.long(), probs.shape[1]).movedim(-1, 1).to(probs.dtype)
    dims = (0, *range(2, probs.ndim))
    return (probs * one_hot).sum(dims), probs.sum(dims), one_hot.sum(dims)


class _OverlapLoss(nn.Module):
    def __init__(
        self, smooth: float = 0.0, include_background: bool = True, ignore_empty: bool = True
    ) -> None:
        super().__init__()
        if smooth < 0:
            raise ValueError(f"smooth must be >= 0, got {smooth}")
        self.smooth = smooth
        self.include_background = include_background
        self.ignore_empty = ignore_empty

    def score(self, intersection: Tensor, predicted: Tensor, true: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        intersection, predicted, true = soft_overlap(logits, targets)
        scores = self.score(intersection, predicted, true)
        keep = torch.ones_like(true, dtype=torch.bool)
        if not self.include_background:
            keep[0] = False
        if self.ignore_empty:
            keep &= true > 0
        if not keep.any():
            return logits.sum() * 0.0  # nothing to score; keeps the graph connected
        return 1.0 - scores[keep].mean()


class DiceLoss(_OverlapLoss):
    """``1 - mean_c (2 |P_c ∩ T_c| + s) / (|P_c| + |T_c| + s)`` with softmax probabilities as P."""

    def score(self, intersection: Tensor, predicted: Tensor, true: Tensor) -> Tensor:
        return (2 * intersection + self.smooth) / (predicted + true + self.smooth).clamp(min=1e-7)


class JaccardLoss(_OverlapLoss):
    """Soft IoU loss: ``1 - mean_c (|P_c ∩ T_c| + s) / (|P_c| + |T_c| - |P_c ∩ T_c| + s)``."""

    def score(self, intersection: Tensor, predicted: Tensor, true: Tensor) -> Tensor:
        union = predicted + true - intersection
        return (intersection + self.smooth) / (union + self.smooth).clamp(min=1e-7)


class CrossEntropyLoss(nn.Module):
    """Pixel-wise cross-entropy on logits ``(N, C, ...)`` and class indices ``(N, ...)``."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return F.cross_entropy(logits, targets, label_smoothing=self.label_smoothing)


class CrossEntropyDiceLoss(nn.Module):
    """``ce_weight * cross-entropy + dice_weight * Dice loss``: CE gives smooth early gradients,
    Dice counters the background's dominance in the pixel count."""

    def __init__(self, ce_weight: float = 1.0, dice_weight: float = 1.0, smooth: float = 0.0) -> None:
        super().__init__()
        if ce_weight < 0 or dice_weight < 0 or ce_weight + dice_weight == 0:
            raise ValueError(f"weights must be >= 0 and not both 0, got ce={ce_weight}, dice={dice_weight}")
        self.ce_weight = ce_weight
        self.dice_weight = dice_weight
        self.dice = DiceLoss(smooth=smooth)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return self.ce_weight * F.cross_entropy(logits, targets) + self.dice_weight * self.dice(
            logits, targets
        )
