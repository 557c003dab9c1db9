"""The figures users read: what each figure function draws, read back from its matplotlib objects."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from lightning_hydra_template.utils import plotting

HISTORY = {
    "train/loss": [(1, 2.0), (2, 1.2), (3, 1.0)],
    "val/loss": [(1, 2.1), (2, 1.1), (3, 1.3)],
    "train/acc": [(1, 0.4), (2, 0.7), (3, 0.8)],
    "val/acc": [(1, 0.5), (2, 0.75), (3, 0.7)],
    "train/lr": [(1, 0.01), (2, 0.005), (3, 0.0025)],
}


def _labels(ax) -> list[str]:
    return [line.get_label() for line in ax.lines]


def _inside(figure, artist) -> bool:
    figure.canvas.draw()
    box, page = artist.get_window_extent(), figure.bbox
    return box.x0 >= page.x0 and box.x1 <= page.x1 and box.y0 >= page.y0 and box.y1 <= page.y1


def test_curves_mark_the_best_epoch_and_show_the_learning_rate():
    figure = plotting.curves_figure(HISTORY, "val/acc", "max")
    loss_ax, metric_ax, lr_ax = figure.axes
    assert lr_ax.get_ylabel() == "learning rate" and _labels(lr_ax)[0] == "train/lr"
    for ax in figure.axes:  # the best epoch of val/acc (max) is 2, marked on every panel
        assert "best epoch 2" in _labels(ax)
    (star,) = [line for line in metric_ax.lines if line.get_label().startswith("best val/acc")]
    assert list(star.get_xdata()) == [2] and list(star.get_ydata()) == [0.75]
    figure.canvas.draw()
    for ax in figure.axes:  # epochs are whole numbers
        assert all(float(t).is_integer() for t in ax.get_xticks())
    # mode min picks the lowest value; no learning rate recorded: no panel for it
    no_lr = {k: v for k, v in HISTORY.items() if k != "train/lr"}
    figure = plotting.curves_figure(no_lr, "val/loss", "min")
    assert len(figure.axes) == 1 and "best epoch 2" in _labels(figure.axes[0])


def test_confusion_matrix_is_normalised_per_true_class_and_its_title_fits():
    matrix = np.array([[90, 10, 0], [1, 8, 1], [0, 0, 5]])  # classes of very different sizes
    names = ["airplane", "automobile", "bird"]
    figure = plotting.confusion_figure(matrix, names, "test confusion matrix")
    ax = figure.axes[0]
    shares = ax.images[0].get_array()
    assert np.allclose(np.asarray(shares).sum(axis=1), 1.0)
    texts = {(round(t.get_position()[0]), round(t.get_position()[1])): t.get_text() for t in ax.texts}
    assert texts[(1, 1)] == "0.80\n(8)" and texts[(0, 0)] == "0.90\n(90)"
    title = figure._suptitle
    assert "normalised by true class" in title.get_text() and "accuracy 0.896" in title.get_text()
    assert _inside(figure, title)


def test_segmentation_grid_has_a_legend_with_the_class_names():
    images = np.zeros((2, 1, 8, 8))
    masks = np.zeros((2, 8, 8), dtype=int)
    names = ["background", "circle", "square"]
    figure = plotting.segmentation_grid(images, masks, masks, names, "validation, epoch 3")
    (legend,) = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == names
    assert "#" not in figure._suptitle.get_text()  # no hex colour codes
    assert _inside(figure, legend)


def _sweep(tmp_path: Path) -> Path:
    from omegaconf import OmegaConf

    sweep = tmp_path / "sweep"
    for job, (lr, tests) in enumerate(
        [("0.1", {"test/acc": 0.9, "test/loss": 0.3}), ("0.01", {"test/acc": 0.8, "test/f1": 0.7})]
    ):
        (sweep / str(job) / ".hydra").mkdir(parents=True)
        OmegaConf.save(
            OmegaConf.create([f"optimizer.lr={lr}"]), sweep / str(job) / ".hydra" / "overrides.yaml"
        )
        history = [{"epoch": e, "seconds": e, "val/loss": 1 / e, "val/acc": 0.5 + e / 10} for e in (1, 2)]
        summary = {"status": "completed", "monitor": "val/acc", "test": tests, "history": history}
        (sweep / str(job) / "summary.json").write_text(json.dumps(summary))
    return sweep


def test_report_csv_has_one_column_per_test_metric_and_epoch_axes_integer_ticks(tmp_path):
    from lightning_hydra_template.distributed.sweep_report import report_figure, write_report

    sweep = _sweep(tmp_path)
    jobs = write_report(sweep)
    with (sweep / "report.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames[-3:] == ["test/acc", "test/f1", "test/loss"]
    assert "test" not in reader.fieldnames
    assert [(r["test/acc"], r["test/f1"], r["test/loss"]) for r in rows] == [
        ("0.9", "", "0.3"),
        ("0.8", "0.7", ""),
    ]
    figure = report_figure(jobs)
    figure.canvas.draw()
    for ax in figure.axes[:2]:  # the epoch axes
        assert ax.get_xlabel() == "epoch"
        assert all(float(t).is_integer() for t in ax.get_xticks())


# example:digits
@pytest.mark.slow
def test_eval_writes_the_task_figures_a_training_run_writes_when_testing(make_cfg):
    from lightning_hydra_template.eval import evaluate
    from lightning_hydra_template.train import train

    summary = train(make_cfg(["model/net=mlp"]))
    trained = {p.name for p in Path(summary["run_dir"]).glob("*.png")} - {
        "curves.png"
    }  # curves: fitting only
    assert trained == {"confusion_matrix.png"}
    eval_cfg = make_cfg([f"ckpt_path={summary['best_checkpoint']}"], config_name="eval")
    evaluate(eval_cfg)
    assert {p.name for p in Path(eval_cfg.paths.output_dir).glob("*.png")} == trained


# /example:digits
