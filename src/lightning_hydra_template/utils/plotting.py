"""Pure matplotlib figure builders (no pyplot, no global backend: the Agg canvas is attached per figure).

Imported lazily by the plot callbacks only, so ``--help`` and the training step never pay for matplotlib.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.image import imsave
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

# background black, then one distinct colour per class (cycled beyond 8 classes)
MASK_COLOURS = ["#000000", "#e6194b", "#3cb44b", "#4363d8", "#ffe119", "#f58231", "#911eb4", "#46f0f0"]


def new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, path: str | Path) -> Path:
    """The PNG that ``figure.savefig(path)`` writes, drawn once instead of twice.

    ``savefig`` draws a figure with a layout engine twice: once to lay it out, once to render it. The
    canvas does both in one draw, and the rendered pixels are those ``savefig`` writes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.canvas.draw()
    imsave(path, figure.canvas.buffer_rgba(), format="png", dpi=figure.dpi)  # type: ignore[attr-defined]  # Agg canvas
    return path


def to_rgb_array(figure: Figure) -> np.ndarray:
    """The rendered figure as an ``(H, W, 3)`` uint8 array, the form every image logger accepts."""
    canvas = figure.canvas
    if figure.stale:  # not drawn yet, or changed since (save_png draws it)
        canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()  # type: ignore[attr-defined]  # Agg canvas


def r2_score(true: np.ndarray, pred: np.ndarray) -> float:
    total = float(((true - true.mean()) ** 2).sum())
    return 1.0 - float(((true - pred) ** 2).sum()) / total if total > 0 else float("nan")


def regression_figure(true: np.ndarray, pred: np.ndarray, title: str) -> Figure:
    """Predicted against true values with the identity line; the title carries R2."""
    true, pred = np.asarray(true, dtype=float).ravel(), np.asarray(pred, dtype=float).ravel()
    figure = new_figure(5, 5)
    ax = figure.add_subplot()
    ax.scatter(true, pred, s=14, alpha=0.7, edgecolors="none")
    low, high = float(min(true.min(), pred.min())), float(max(true.max(), pred.max()))
    ax.plot([low, high], [low, high], color="black", linewidth=1, linestyle="--", label="prediction = truth")
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="upper left")
    ax.set_title(f"{title}  R2 = {r2_score(true, pred):.3f}  (n = {true.size})")
    return figure


def segmentation_grid(
    images: np.ndarray, true: np.ndarray, pred: np.ndarray, class_names: Sequence[str], title: str
) -> Figure:
    """One row per image: the input, the true mask and the predicted mask."""
    rows = len(images)
    colours = ListedColormap([MASK_COLOURS[i % len(MASK_COLOURS)] for i in range(len(class_names))])
    figure = new_figure(6, 2 * rows + 0.6)
    axes = figure.subplots(rows, 3, squeeze=False)
    for row in range(rows):
        panels = [
            (images[row, 0], "gray", None, "input"),
            (true[row], colours, len(class_names) - 1, "true mask"),
            (pred[row], colours, len(class_names) - 1, "predicted mask"),
        ]
        for ax, (data, cmap, vmax, name) in zip(axes[row], panels, strict=True):
            ax.imshow(data, cmap=cmap, vmin=0 if vmax else None, vmax=vmax, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(name)
    handles = [
        Patch(facecolor=MASK_COLOURS[i % len(MASK_COLOURS)], edgecolor="grey", label=name)
        for i, name in enumerate(class_names)
    ]
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), frameon=False)
    figure.suptitle(title)
    return figure


def confusion_figure(matrix: np.ndarray, class_names: Sequence[str], title: str) -> Figure:
    """Each row normalised by its true class (the share of that class predicted as each class, so rows of
    rare classes read like those of frequent ones), with the counts under the shares."""
    matrix = np.asarray(matrix)
    shares = matrix / np.clip(matrix.sum(axis=1, keepdims=True), 1, None)
    size = max(4.5, 0.6 * len(class_names) + 2)
    figure = new_figure(size, size)
    ax = figure.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45 if max(map(len, class_names)) > 2 else 0)
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    small = len(class_names) <= 12  # room for the count under the share
    for (i, j), share in np.ndenumerate(shares):
        text = f"{share:.2f}\n({int(matrix[i, j])})" if small else f"{share:.2f}"
        ax.text(j, i, text, ha="center", va="center", fontsize=7,
                color="white" if share > 0.5 else "black")  # fmt: skip
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    # two short lines: a one-line title wider than the figure would be cut at its edges
    figure.suptitle(f"{title}\nrows normalised by true class; accuracy {accuracy:.3f}", fontsize=10)
    return figure


def best_epoch(points: Sequence[tuple[int, float]], mode: str) -> tuple[int, float] | None:
    """The ``(epoch, value)`` with the lowest (``mode="min"``) or highest (``"max"``) value; the first on ties."""
    if not points:
        return None
    pick = min if mode == "min" else max
    return pick(points, key=lambda point: point[1])


def curves_figure(
    history: Mapping[str, Sequence[tuple[int, float]]], monitor: str, mode: str = "max"
) -> Figure:
    """Training and validation loss per epoch, the monitored metric (and its training twin), and when
    ``history`` has ``train/lr`` a learning-rate panel. The best epoch of ``monitor`` (by ``mode``) is
    marked on every panel."""
    name = monitor.split("/", 1)[-1]
    panels = [(["train/loss", "val/loss"], "loss", "loss")]
    if name != "loss":
        panels.append(([f"train/{name}", monitor], name, f"monitored: {monitor}"))
    if history.get("train/lr"):
        panels.append((["train/lr"], "learning rate", "learning rate"))
    figure = new_figure(5 * len(panels), 4)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    best = best_epoch(history.get(monitor) or [], mode)
    for ax, (keys, label, title) in zip(axes, panels, strict=True):
        for key in keys:
            points = history.get(key) or []
            if points:
                epochs, values = zip(*points, strict=True)
                ax.plot(epochs, values, marker="o", markersize=3, label=key)
        if best is not None:
            ax.axvline(best[0], color="grey", linestyle=":", linewidth=1, label=f"best epoch {best[0]}")
        if monitor in keys and best is not None:
            ax.plot([best[0]], [best[1]], marker="*", markersize=12, color="tab:red", linestyle="none",
                    label=f"best {monitor} {best[1]:.4g}")  # fmt: skip
        if keys == ["train/lr"]:
            rates = [v for _, v in history["train/lr"]]
            if min(rates) > 0 and max(rates) / min(rates) > 100:
                ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    return figure
