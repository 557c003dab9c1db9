"""Images in class folders: finding and splitting the files, the generated example, seeded augmentation,
and a training loader that resumes mid-epoch with workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from lightning_hydra_template.config.errors import ConfigError
from lightning_hydra_template.data.epoch_sampler import EpochSampler
from lightning_hydra_template.data.generated_images import write_dataset
from lightning_hydra_template.data.image_files import ImageFiles, ImageList
from lightning_hydra_template.data.image_folder import ImageFolderDataModule
from lightning_hydra_template.train import train
from tests.image_data import tiny_image_folder

TO_FLOAT = [v2.ToDtype(torch.float32, scale=True)]
AUGMENT = [v2.RandomResizedCrop(12, scale=(0.3, 1.0), antialias=True), v2.RandomHorizontalFlip(), *TO_FLOAT]


@pytest.fixture(scope="module")
def flat(tmp_path_factory) -> Path:
    """24 images of each of 3 classes, 16x16, in <root>/<class>/."""
    root = tmp_path_factory.mktemp("flat") / "images"
    write_dataset(root, images_per_class=24, image_size=16, classes=["circle", "square", "cross"], seed=3)
    return root


def _datamodule(root: Path, **kwargs) -> ImageFolderDataModule:
    options = {"eval_transforms": TO_FLOAT, "train_transforms": TO_FLOAT, "num_workers": 0, "batch_size": 8}
    datamodule = ImageFolderDataModule(root=str(root), **{**options, **kwargs})
    datamodule.setup("fit")
    return datamodule


def test_flat_folder_split_is_stratified_disjoint_and_seeded(flat):
    datamodule = _datamodule(flat, val_fraction=0.25, test_fraction=0.25)
    assert datamodule.class_names == ["circle", "cross", "square"]  # sorted folder names
    assert datamodule.num_classes == 3 and datamodule.input_shape == (3, 16, 16)
    files = {split: set(images.files) for split, images in datamodule.images.items()}
    assert not files["train"] & files["val"] and not files["train"] & files["test"]
    assert len(files["train"] | files["val"] | files["test"]) == 72
    for split, size in (("train", 12), ("val", 6), ("test", 6)):
        counts = np.bincount(datamodule.images[split].targets, minlength=3)
        assert counts.tolist() == [size] * 3, split
    for images in datamodule.images.values():  # labels follow the folders
        assert all(
            Path(f).parent.name == datamodule.class_names[t]
            for f, t in zip(images.files, images.targets, strict=True)
        )
    again = _datamodule(flat, val_fraction=0.25, test_fraction=0.25)
    other = _datamodule(flat, val_fraction=0.25, test_fraction=0.25, split_seed=1)
    assert again.images["test"].files == datamodule.images["test"].files
    assert other.images["test"].files != datamodule.images["test"].files


def test_split_folders_are_used_as_given(tmp_path):
    write_dataset(tmp_path / "train", images_per_class=6, image_size=16, classes=["circle", "square"], seed=0)
    write_dataset(tmp_path / "test", images_per_class=2, image_size=16, classes=["circle", "square"], seed=1)
    datamodule = _datamodule(tmp_path, val_fraction=0.5)
    assert [len(datamodule.images[s].files) for s in ("train", "val", "test")] == [6, 6, 4]
    assert all("/test/" in f for f in datamodule.images["test"].files)
    assert all("/train/" in f for f in datamodule.images["val"].files)  # val carved from train/


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: None, "is not a folder"),
        (lambda root: (root / "only").mkdir(parents=True), "has 1 class folder(s)"),
        (
            lambda root: [(root / n).mkdir(parents=True) for n in ("a", "b")],
            "holds no .png/.jpg/.jpeg images",
        ),
    ],
    ids=["missing", "one class", "empty class"],
)
def test_unusable_folders_are_one_line_errors(tmp_path, setup, message):
    root = tmp_path / "images"
    setup(root)
    with pytest.raises(ConfigError, match="^data.root: ") as err:
        _datamodule(root)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_transforms_that_cannot_feed_a_network_are_refused(flat):
    with pytest.raises(ConfigError, match="^data.eval_transforms: they give torch.uint8 images"):
        _datamodule(flat, eval_transforms=[v2.CenterCrop(12)])
    with pytest.raises(ConfigError, match=r"^data.train_transforms: .* of shape \(3, 12, 12\)"):
        _datamodule(flat, train_transforms=AUGMENT)
    with pytest.raises(ConfigError, match="^data.root: required"):
        ImageFolderDataModule(root=None)


def test_generated_dataset_is_reproducible_and_not_overwritten(tmp_path):
    settings = {"images_per_class": 3, "image_size": 16, "classes": ["triangle", "cross"], "seed": 5}
    assert write_dataset(tmp_path / "a", **settings)
    assert write_dataset(tmp_path / "b", **settings)
    assert not write_dataset(tmp_path / "a", **settings)  # present already: reused
    names = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.png"))
    assert len(names) == 6
    assert all((tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes() for n in names)
    with pytest.raises(ConfigError, match="not generated with these data.generate settings"):
        write_dataset(tmp_path / "a", **{**settings, "seed": 6})


def test_epoch_sampler_is_a_function_of_seed_and_epoch():
    sampler = EpochSampler(20, seed=4)
    sampler.set_epoch(1)
    first = list(sampler)
    assert sorted(i for i, _ in first) == list(range(20))
    assert list(sampler) == first
    sampler.set_epoch(2)
    assert [i for i, _ in sampler] != [i for i, _ in first]
    assert len({s for _, s in first}) == 20  # one augmentation seed per sample


def test_epoch_sampler_resumes_inside_and_after_an_epoch():
    reference = EpochSampler(20, seed=4, batch_size=8, drop_last=True)
    reference.set_epoch(3)
    epoch3 = list(reference)
    reference.set_epoch(4)
    epoch4 = list(reference)

    resumed = EpochSampler(20, seed=4, batch_size=8, drop_last=True)
    resumed.load_state_dict({"epoch": 3, "yielded": 8, "seed": 4})
    assert list(resumed) == epoch3[8:]
    assert resumed.state_dict()["epoch"] == 3 and resumed.state_dict()["yielded"] == 20
    finished = EpochSampler(20, seed=4, batch_size=8, drop_last=True)
    finished.load_state_dict({"epoch": 3, "yielded": 16, "seed": 4})  # 2 full batches: epoch 3 is done
    assert list(finished) == epoch4


def test_ddp_shards_are_equal_and_disjoint():
    shards = [list(EpochSampler(21, seed=1, rank=r, world_size=2)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 10
    assert not {i for i, _ in shards[0]} & {i for i, _ in shards[1]}


def test_augmentation_is_seeded_per_sample_and_leaves_the_global_generator_alone(flat):
    datamodule = _datamodule(flat, train_transforms=[v2.RandomResizedCrop(16, scale=(0.2, 1.0)), *TO_FLOAT])
    dataset: ImageFiles = datamodule.datasets["train"]
    torch.manual_seed(0)
    state = torch.get_rng_state()
    first, again, other = dataset[(0, 11)][0], dataset[(0, 11)][0], dataset[(0, 12)][0]
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert torch.equal(torch.get_rng_state(), state)


def _batches(loader, epochs: range, stop_after: int | None = None) -> tuple[list, dict | None]:
    seen, state = [], None
    for epoch in epochs:
        loader.sampler.set_epoch(epoch)
        for images, targets in loader:
            seen.append((images.clone(), targets.clone()))
            if stop_after is not None and len(seen) == stop_after:
                return seen, loader.state_dict()
    return seen, state


@pytest.mark.slow
def test_loader_with_workers_resumes_mid_epoch_with_the_same_crops(flat):
    # budget: three loaders with 2 worker processes each, ~10 s on 2 cores
    options = {"train_transforms": AUGMENT, "eval_transforms": [v2.Resize(12), *TO_FLOAT], "num_workers": 2}
    datamodule = _datamodule(flat, **options, val_fraction=0.2, test_fraction=0.2)
    reference, _ = _batches(datamodule.train_dataloader(), range(2))
    assert len(reference) == 12  # 42 training images in batches of 8 (the last of 2), two epochs

    interrupted = datamodule.train_dataloader()
    before, state = _batches(interrupted, range(2), stop_after=3)
    resumed = _datamodule(flat, **options, val_fraction=0.2, test_fraction=0.2).train_dataloader()
    resumed.load_state_dict(state)
    after = [(x.clone(), y.clone()) for x, y in resumed]  # the rest of epoch 0
    resumed.sampler.set_epoch(1)
    after += [(x.clone(), y.clone()) for x, y in resumed]
    assert len(before) + len(after) == len(reference)
    for (x, y), (rx, ry) in zip(before + after, reference, strict=True):
        assert torch.equal(y, ry) and torch.equal(x, rx)  # same images, same random crops and flips


def test_image_folder_experiment_fast_dev_run(make_cfg, tmp_path):
    # the experiment as shipped, on a tiny generated dataset (written by the run itself)
    cfg = make_cfg(
        [
            "experiment=image_folder",
            f"paths.data_dir={tmp_path}",
            "data.generate.images_per_class=8",
            "data.generate.image_size=16",
            "data.crop_size=16",
            "data.num_workers=0",
            "+trainer.fast_dev_run=true",
            "logger=none",
        ]
    )
    summary = train(cfg)
    assert summary["global_step"] == summary["plan"]["total_optimizer_steps"] == 1
    assert len(list((tmp_path / "shapes_rgb").rglob("*.png"))) == 32
    assert cfg.model.num_classes == 4 and cfg.model.net.in_channels == 3


@pytest.mark.slow
def test_class_names_travel_in_the_checkpoint_to_eval_predict_and_the_confusion_matrix(
    make_cfg, tmp_path, monkeypatch
):
    # budget: one 1-epoch run on 16x16 images and an eval, ~15 s on 2 cores
    from lightning_hydra_template.eval import evaluate
    from lightning_hydra_template.utils import plotting

    labels = []
    drawn = plotting.confusion_figure
    monkeypatch.setattr(
        plotting, "confusion_figure", lambda m, names, t: labels.append(list(names)) or drawn(m, names, t)
    )
    cfg = make_cfg([*tiny_image_folder(tmp_path), "model.net.channels=[8]", "callbacks.early_stopping=null"])
    summary = train(cfg)
    checkpoint = torch.load(summary["best_checkpoint"], map_location="cpu", weights_only=True)
    assert checkpoint["hyper_parameters"]["class_names"] == ["circle", "cross", "square"]
    assert checkpoint["hyper_parameters"]["num_classes"] == 3
    assert checkpoint["ImageFolderDataModule"]["class_names"] == ["circle", "cross", "square"]
    assert (Path(cfg.paths.output_dir) / "confusion_matrix.png").is_file()
    assert labels == [["circle", "cross", "square"]]
    eval_cfg = make_cfg([f"ckpt_path={summary['best_checkpoint']}"], config_name="eval")
    metrics = evaluate(eval_cfg)
    assert metrics["test/acc"] == pytest.approx(summary["test"]["test/acc"])

    # make predict on a folder of new images, with the training files gone: the checkpoint alone suffices
    import csv
    import shutil

    from lightning_hydra_template.deploy.loading import load_trained
    from lightning_hydra_template.predict import predict

    new = tmp_path / "new" / "batch1"
    new.mkdir(parents=True)
    picked = (
        sorted((tmp_path / "images" / "cross").glob("*.png"))[:3]
        + sorted((tmp_path / "images" / "circle").glob("*.png"))[:2]
    )
    for index, file in enumerate(picked):
        shutil.copy(file, new / f"{index}.png")
    (tmp_path / "new" / "notes.txt").write_text("not an image")
    from lightning_hydra_template.deploy.export import export_trained
    from lightning_hydra_template.deploy.inputs import held_out_inputs

    exported = load_trained(summary["best_checkpoint"])
    pt2, _ = export_trained(
        exported, "pt2", tmp_path / "export", held_out_inputs(exported.datamodule, limit=4).tensor(), 1e-4
    )
    shutil.move(tmp_path / "images", tmp_path / "moved")
    trained = load_trained(summary["best_checkpoint"])
    predict_cfg = make_cfg(
        [f"ckpt_path={summary['best_checkpoint']}", f"input={tmp_path / 'new'}"], config_name="predict"
    )
    with open(predict(predict_cfg)["predictions"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == [f"batch1/{i}.png" for i in range(5)]
    transform = trained.datamodule.eval_transforms
    copies = [new / f"{i}.png" for i in range(5)]
    images = torch.stack([ImageFiles(ImageList([str(f)], [0]), transform)[0][0] for f in copies])
    with torch.no_grad():
        probs = trained.model(images).softmax(dim=1).numpy()
    names = ["circle", "cross", "square"]
    np.testing.assert_allclose([[float(r[f"prob_{n}"]) for n in names] for r in rows], probs, atol=1e-5)
    assert [r["predicted_name"] for r in rows] == [names[i] for i in probs.argmax(1)]

    # make serve: an encoded image of any size is prepared like the evaluation images, from the checkpoint or
    # the exported program alone
    import base64

    from lightning_hydra_template.deploy.service import BadRequest, PredictAPI

    for served in (summary["best_checkpoint"], pt2):
        api = PredictAPI(str(served))
        api.setup("cpu")
        requests = [api.decode_request({"image": base64.b64encode(f.read_bytes()).decode()}) for f in copies]
        requests.append(api.decode_request({"image": base64.b64encode(b"not an image").decode()}))
        answers = api.predict(requests)
        served_probs = [[a["probabilities"][n] for n in names] for a in answers[:-1]]
        np.testing.assert_allclose(served_probs, probs, atol=1e-4)
        assert isinstance(answers[-1], BadRequest) and answers[-1].reason.startswith(
            "image: not a PNG or JPEG"
        )

    (tmp_path / "empty").mkdir()
    empty_cfg = make_cfg(
        [f"ckpt_path={summary['best_checkpoint']}", f"input={tmp_path / 'empty'}"], config_name="predict"
    )
    with pytest.raises(ConfigError, match=r"^input: .*empty holds no \.png/\.jpg/\.jpeg images"):
        predict(empty_cfg)
    assert not list(Path(empty_cfg.paths.output_dir).glob("predictions.*"))


@pytest.mark.parametrize("workers", [0, 1])
def test_an_unreadable_image_is_one_line_also_from_a_loader_worker(tmp_path, capsys, workers):
    from PIL import Image
    from torch.utils.data import DataLoader

    from lightning_hydra_template.config.errors import user_errors

    good = tmp_path / "good.png"
    Image.new("RGB", (8, 8), "red").save(good)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not a PNG")
    loader = DataLoader(
        ImageFiles(ImageList([str(good), str(broken)], [0, 1])), batch_size=2, num_workers=workers
    )
    batches = iter(loader)
    with pytest.raises(SystemExit) as exit_info, user_errors():
        next(batches)
    code = exit_info.value.code
    del batches, exit_info  # the worker stops now, not when the test's frames are collected
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: data.root: {broken} cannot be read as an image (")
    assert lines[0].endswith("allowed: .png/.jpg/.jpeg files that decode: replace or remove it")
