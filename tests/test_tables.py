"""Tables on disk: encoding fitted on the training split, carried by checkpoints, and one-line errors."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from lightning_hydra_template.config.errors import ConfigError
from lightning_hydra_template.data.table import TableDataModule
from lightning_hydra_template.data.table_encoding import MISSING


def people(rows: int = 120, seed: int = 0) -> pd.DataFrame:
    """A small table with what real ones have: text, gaps, an ID column, a string target."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "id": [f"p{i:04d}" for i in range(rows)],
            "age": rng.integers(18, 90, rows).astype(float),
            "income": rng.normal(50_000, 15_000, rows),
            "city": rng.choice(["Lyon", "Oslo", "Pune"], rows),
            "outcome": np.where(np.arange(rows) % 3 == 0, "sick", "well"),
        }
    )
    frame.loc[::10, "age"] = np.nan
    frame.loc[5::15, "city"] = None
    return frame


def table_module(path: Path, **options) -> TableDataModule:
    options = {"target": "outcome", "drop": ["id"], **options}
    return TableDataModule(path=str(path), **options)


@pytest.fixture
def people_csv(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    people().to_csv(path, index=False)
    return path


def test_features_are_encoded_with_training_split_statistics(people_csv):
    datamodule = table_module(people_csv)
    datamodule.setup("fit")
    raw = pd.read_csv(people_csv)
    train_rows = raw.iloc[datamodule.indices["train"]]
    assert datamodule.feature_names == [
        "age",
        f"age {MISSING}",
        "income",
        f"city={MISSING}",
        "city=Lyon",
        "city=Oslo",
        "city=Pune",
    ]
    assert datamodule.num_features == 7
    assert datamodule.class_names == ["sick", "well"] and datamodule.num_classes == 2

    features, targets = (t.numpy() for t in datamodule.splits["train"])
    age = train_rows["age"]
    filled = age.fillna(age.median())
    expected_age = (filled - age.mean()) / age.std(ddof=0)
    np.testing.assert_allclose(features[:, 0], expected_age, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(features[:, 1], age.isna().astype(float))
    income = train_rows["income"]
    np.testing.assert_allclose(
        features[:, 2], (income - income.mean()) / income.std(ddof=0), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_array_equal(features[:, 3], train_rows["city"].isna().astype(float))
    np.testing.assert_array_equal(features[:, 4], (train_rows["city"] == "Lyon").astype(float))
    np.testing.assert_array_equal(targets, (train_rows["outcome"] == "well").astype(int))

    # validation rows use the training statistics: their own mean is not 0
    val_income = raw.iloc[datamodule.indices["val"]]["income"]
    np.testing.assert_allclose(
        datamodule.splits["val"][0][:, 2].numpy(),
        (val_income - income.mean()) / income.std(ddof=0),
        rtol=1e-4,
    )


def test_split_is_seeded_and_stratified(people_csv):
    first, again, other = (table_module(people_csv, split_seed=s) for s in (0, 0, 1))
    for datamodule in (first, again, other):
        datamodule.setup("fit")
    assert all(np.array_equal(first.indices[k], again.indices[k]) for k in ("train", "val", "test"))
    assert not np.array_equal(first.indices["test"], other.indices["test"])
    for split in ("train", "val", "test"):  # a third of the rows are "sick" in every split
        share_sick = float((first.splits[split][1] == 0).float().mean())
        assert abs(share_sick - 1 / 3) < 0.05, split


def test_unseen_categories_encode_as_zeros(people_csv):
    datamodule = table_module(people_csv)
    datamodule.setup("fit")
    new = people(3).assign(city=["Lyon", "Rome", None])
    encoded = datamodule.encode(new.drop(columns=["outcome", "id"]))
    city = encoded[:, 3:].numpy()
    np.testing.assert_array_equal(city, [[0, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]])


def test_parquet_and_compressed_csv_read_like_csv(people_csv, tmp_path):
    frame = pd.read_csv(people_csv)
    frame.to_parquet(tmp_path / "people.parquet", index=False)
    frame.to_csv(tmp_path / "people.tsv.gz", sep="\t", index=False)
    modules = [table_module(p) for p in (people_csv, tmp_path / "people.parquet", tmp_path / "people.tsv.gz")]
    for datamodule in modules:
        datamodule.setup("fit")
    for other in modules[1:]:
        assert other.feature_names == modules[0].feature_names
        for split in ("train", "test"):
            torch.testing.assert_close(other.splits[split][0], modules[0].splits[split][0])
            torch.testing.assert_close(other.splits[split][1], modules[0].splits[split][1])


def test_regression_targets_are_standardised_and_features_can_be_chosen(people_csv):
    datamodule = table_module(
        people_csv, target="income", task="regression", features=["age", "city", "outcome"], categorical=[]
    )
    datamodule.setup("fit")
    income = pd.read_csv(people_csv)["income"].to_numpy()
    train = income[datamodule.indices["train"]]
    assert datamodule.target_mean == pytest.approx(train.mean(), rel=1e-5)
    assert datamodule.target_std == pytest.approx(train.std(), rel=1e-5)
    targets = datamodule.splits["train"][1]
    assert targets.shape == (len(train), 1) and targets.dtype == torch.float32
    assert datamodule.num_classes is None
    assert datamodule.feature_names[-2:] == ["outcome=sick", "outcome=well"]


def test_rows_without_target_are_left_out_and_number_classes_sort_as_numbers(tmp_path, capsys):
    frame = people().assign(outcome=np.arange(120) % 3 * 5 + 2.0)  # classes 2, 7, 12
    frame.loc[[3, 4], "outcome"] = np.nan
    frame.to_csv(tmp_path / "t.csv", index=False)
    datamodule = table_module(tmp_path / "t.csv")
    datamodule.setup("fit")
    assert datamodule.class_names == ["2", "7", "12"]
    assert sum(datamodule.num_samples(split) for split in ("train", "val", "test")) == 118
    assert "Table: 118 rows (2 without a target left out) -> 7 features" in capsys.readouterr().out


def test_numeric_codes_can_be_categories(tmp_path):
    frame = people().assign(grade=np.arange(120) % 4 + 1)
    frame.to_csv(tmp_path / "t.csv", index=False)
    datamodule = table_module(tmp_path / "t.csv", categorical=["grade"])
    datamodule.setup("fit")
    assert datamodule.feature_names[-4:] == ["grade=1", "grade=2", "grade=3", "grade=4"]


def test_checkpoint_state_is_plain_and_rebuilds_the_same_encoding(people_csv, tmp_path):
    trained = table_module(people_csv)
    trained.setup("fit")
    buffer = io.BytesIO()
    torch.save(trained.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)  # plain containers only

    # the same file with its training rows changed: refitting would give other statistics
    changed = pd.read_csv(people_csv)
    changed.loc[trained.indices["train"], "income"] *= 1000
    changed.to_csv(tmp_path / "changed.csv", index=False)
    refitted = table_module(tmp_path / "changed.csv")
    refitted.setup("fit")
    assert not torch.allclose(refitted.splits["test"][0], trained.splits["test"][0])
    restored = table_module(tmp_path / "changed.csv")
    restored.setup("fit")
    restored.load_state_dict(state)  # after setup, as Lightning does when testing a checkpoint
    torch.testing.assert_close(restored.splits["test"][0], trained.splits["test"][0])
    before_setup = table_module(tmp_path / "changed.csv")
    before_setup.load_state_dict(state)  # before setup, as eval does
    before_setup.setup("test")
    torch.testing.assert_close(before_setup.splits["test"][0], trained.splits["test"][0])
    assert before_setup.class_names == trained.class_names


def test_example_tables_are_written_once(tmp_path):
    directory = tmp_path / "tables"
    classification = TableDataModule(example_dir=str(directory))
    classification.setup("fit")
    written = directory / "breast_cancer.csv"
    stamp = written.stat().st_mtime_ns
    assert classification.class_names == ["benign", "malignant"] and classification.num_features == 37
    table = pd.read_csv(written)
    assert table["size"].isna().any() and table["mean texture"].isna().any()  # the awkward parts
    again = TableDataModule(example_dir=str(directory))
    again.setup("fit")
    assert written.stat().st_mtime_ns == stamp
    regression = TableDataModule(example_dir=str(directory), task="regression")
    regression.setup("fit")
    assert regression.target == "progression" and regression.num_features == 16
    assert sorted(p.name for p in directory.iterdir()) == ["breast_cancer.csv", "diabetes.csv"]


def error_of(datamodule: TableDataModule) -> str:
    with pytest.raises(ConfigError) as caught:
        datamodule.setup("fit")
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_bad_tables_are_one_line_errors(people_csv, tmp_path):
    def written(name: str, frame: pd.DataFrame) -> Path:
        frame.to_csv(tmp_path / name, index=False)
        return tmp_path / name

    frame = people()
    cases = [
        (table_module(tmp_path / "nope.csv"), "data.path: no file at " + str(tmp_path / "nope.csv")),
        (table_module(tmp_path / "people.xlsx"), "data.path: unsupported file type (.xlsx)"),
        (
            table_module(people_csv, target="Outcome"),
            "data.target: no column 'Outcome' in people.csv; allowed: id, age, income, city, outcome",
        ),
        (
            TableDataModule(path=str(people_csv)),
            "data.target: required: the column to predict; allowed: id, age",
        ),
        (
            table_module(written("one.csv", frame.assign(outcome="well"))),
            "data.target: column 'outcome' has a single class ('well')",
        ),
        (
            table_module(people_csv, drop=[]),
            "data.max_categories: column 'id' has 84 distinct values in the training split",
        ),
        (table_module(people_csv, drop=["ID"]), "data.drop: no column ID in the table; allowed: id, age"),
        (table_module(people_csv, categorical=["zip"]), "data.categorical: no column zip"),
        (table_module(people_csv, features=["age", "outcome"]), "data.features: 'outcome' is the target"),
        (
            table_module(people_csv, target="city", task="regression"),
            "data.target: column 'city' has non-numeric values",
        ),
        (table_module(people_csv, target="income"), "data.target: column 'income' holds non-integer numbers"),
        (
            table_module(people_csv, task="ranking"),
            "data.task: got 'ranking'; allowed: classification, regression",
        ),
        (
            table_module(written("empty.csv", frame.iloc[:0]), target="outcome"),
            "data.target: column 'outcome' of empty.csv has no filled cells",
        ),
        (
            table_module(written("rare.csv", frame.assign(outcome=["x"] + ["y"] * 119))),
            "data.target: cannot split 120 rows stratified by 2 classes (class 'x': 1 row)",
        ),
    ]
    (tmp_path / "blank.csv").write_text("")
    cases.append(
        (table_module(tmp_path / "blank.csv"), "data.path: " + str(tmp_path / "blank.csv") + " is empty")
    )
    for datamodule, expected in cases:
        assert error_of(datamodule).startswith(expected)
    assert "allowed: data.drop=[id] to leave it out, or a larger data.max_categories" in error_of(cases[5][0])


def test_numbers_with_a_few_text_cells_suggest_na_values(tmp_path):
    frame = people().astype({"income": object})
    frame.loc[::7, "income"] = "?"
    frame.to_csv(tmp_path / "t.csv", index=False)
    message = error_of(table_module(tmp_path / "t.csv"))
    assert message.startswith("data.max_categories: column 'income' has")
    assert message.endswith(
        "it is numbers with a few text cells ('?'); allowed: data.na_values=[?] to read those as empty"
    )
    fixed = table_module(tmp_path / "t.csv", na_values=["?"])
    fixed.setup("fit")
    assert "income (missing)" in fixed.feature_names


def test_check_config_catches_file_problems_before_anything_is_built(make_cfg, tmp_path):
    cfg = make_cfg(["data=csv", f"data.path={tmp_path / 'missing.parquet'}"])
    with pytest.raises(ConfigError, match=r"^data\.path: no file at .*missing\.parquet"):
        TableDataModule.check_config(cfg)
    with pytest.raises(ConfigError, match=r"^data\.max_categories: got 1; allowed: an integer >= 2"):
        TableDataModule.check_config(make_cfg(["data=csv", "data.max_categories=1"]))
    TableDataModule.check_config(make_cfg(["data=csv"]))  # the example needs no file yet


def run_train_cli(argv: list[str], monkeypatch, capfd, tmp_path: Path) -> tuple[int, str]:
    from lightning_hydra_template.train import main

    monkeypatch.setenv("LHT_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(sys, "argv", ["train", *argv])
    GlobalHydra.instance().clear()
    try:
        main()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        GlobalHydra.instance().clear()
    return code, capfd.readouterr().err


@pytest.mark.slow
def test_cli_reports_table_problems_in_one_line(people_csv, monkeypatch, capfd, tmp_path):
    base = ["experiment=csv_classification", "trainer.accelerator=cpu", f"data.path={people_csv}"]
    code, err = run_train_cli([*base, "data.target=label"], monkeypatch, capfd, tmp_path)
    assert code == 2
    assert (
        err.strip()
        == "error: data.target: no column 'label' in people.csv; allowed: id, age, income, city, outcome"
    )
    code, err = run_train_cli([*base[:2], "data.path=people.txt"], monkeypatch, capfd, tmp_path)
    assert (code, err.strip().splitlines()[-1][:48]) == (
        2,
        "error: data.path: unsupported file type (.txt) o",
    )


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["csv_classification", "csv_regression"])
def test_table_experiments_run_fast_dev_run(make_cfg, experiment, tmp_path):
    from lightning_hydra_template.train import train

    summary = train(make_cfg([f"experiment={experiment}", "debug=fdr", f"paths.data_dir={tmp_path}"]))
    assert summary["global_step"] == 1
    assert {"test/loss"} <= set(summary["test"])
    assert len(list((tmp_path / "tables").glob("*.csv"))) == 1


@pytest.mark.slow
def test_own_parquet_trains_and_eval_reuses_the_checkpoint_encoding(make_cfg, tmp_path, people_csv):
    from lightning_hydra_template.eval import evaluate
    from lightning_hydra_template.train import train

    path = tmp_path / "people.parquet"
    pd.read_csv(people_csv).to_parquet(path, index=False)
    cfg = make_cfg(
        [
            "experiment=csv_regression",
            f"data.path={path}",
            "data.target=income",
            "data.drop=[id]",
            "model.net.in_features=8",  # age, its missing indicator, 4 city columns, 2 outcome columns
            "trainer.max_epochs=2",
            "extras.plots=false",
        ]
    )
    summary = train(cfg)
    checkpoint = torch.load(summary["best_checkpoint"], map_location="cpu", weights_only=True)
    state = checkpoint["TableDataModule"]
    assert state["target"] == "income" and state["features"] == ["age", "city", "outcome"]
    assert float(checkpoint["state_dict"]["target_mean"]) == pytest.approx(state["target_mean"])

    # the training rows change after training: eval still encodes the test rows as training did
    frame = pd.read_parquet(path)
    split = TableDataModule(
        path=str(path), target="income", task="regression", drop=["id"], split_seed=cfg.data.split_seed
    )
    split.setup("fit")
    frame.loc[split.indices["train"], "age"] += 40
    frame.to_parquet(path, index=False)
    metrics = evaluate(make_cfg([f"ckpt_path={summary['best_checkpoint']}"], config_name="eval"))
    assert metrics == pytest.approx(summary["test"], rel=1e-6)
