"""MNIST through torchvision's download path, served offline: a tiny MNIST in the real file format (gzipped
idx files) comes from an HTTP server on 127.0.0.1 that the test starts and stops."""

from __future__ import annotations

import gzip
import hashlib
import struct
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate

from lightning_hydra_template.config.errors import ConfigError
from lightning_hydra_template.data.mnist import MnistDataModule
from tests.conftest import CLASSIFIER

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
NUM_TRAIN, NUM_TEST = 200, 50


def idx_images(images: np.ndarray) -> bytes:
    return struct.pack(">IIII", 0x803, len(images), 28, 28) + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 0x801, len(labels)) + labels.astype(np.uint8).tobytes()


def tiny_mnist(directory: Path, seed: int = 0) -> dict[str, str]:
    """Writes the four gzipped idx files (each class a bright bar at its own row); returns their MD5s by role."""
    rng = np.random.default_rng(seed)
    contents = {}
    for split, count in (("train", NUM_TRAIN), ("test", NUM_TEST)):
        labels = np.arange(count) % 10
        images = rng.integers(0, 60, size=(count, 28, 28))
        for image, label in zip(images, labels, strict=True):
            image[2 + 2 * label : 4 + 2 * label, 4:24] = 255
        contents[f"{split}_images"] = idx_images(images)
        contents[f"{split}_labels"] = idx_labels(labels)
    directory.mkdir(parents=True, exist_ok=True)
    md5 = {}
    for role, payload in contents.items():
        data = gzip.compress(payload, mtime=0)
        (directory / FILES[role]).write_bytes(data)
        md5[role] = hashlib.md5(data).hexdigest()
    return md5


class Mirror:
    """A static file server on 127.0.0.1 that records the paths requested."""

    def __init__(self, directory: Path) -> None:
        self.requests: list[str] = []
        self.stopped = False
        mirror = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                mirror.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args) -> None:  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(directory)))
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[Mirror, dict[str, str]]]:
    md5 = tiny_mnist(tmp_path / "served")
    server = Mirror(tmp_path / "served")
    yield server, md5
    server.stop()


def md5_override(md5: dict[str, str]) -> str:
    return "data.md5={" + ",".join(f"{role}:{value}" for role, value in md5.items()) + "}"


@pytest.mark.slow
def test_mnist_downloads_once_verifies_and_trains_an_epoch(make_cfg, mirror, tmp_path):
    from torchvision.datasets import MNIST

    from lightning_hydra_template.train import train

    server, md5 = mirror
    data_dir = tmp_path / "data"
    overrides = [
        "data=mnist",
        *CLASSIFIER,
        f"paths.data_dir={data_dir}",
        f"data.mirrors=[{server.url}]",
        md5_override(md5),
        "data.batch_size=32",
        "model/net=mlp",
        "model.net.in_features=784",
        "logger=none",
    ]
    summary = train(make_cfg(overrides))

    raw = data_dir / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(
        [*FILES.values(), *(name.removesuffix(".gz") for name in FILES.values())]
    )
    assert {Path(p).name for p in server.requests} == set(FILES.values())
    # 200 official training images: 180 train (one epoch of 6 batches), 20 validation; the 50 test images test
    assert summary["plan"]["train_samples"] == 180 and summary["plan"]["val_samples"] == 20
    assert summary["plan"]["test_samples"] == NUM_TEST
    assert summary["global_step"] == 6
    assert 0.0 <= summary["test"]["test/acc"] <= 1.0
    assert MNIST.mirrors[0].startswith("https://")  # torchvision's own class is left as it was

    # reuse: with the mirror gone, a new run finds the files and asks nobody
    served = len(server.requests)
    server.stop()
    datamodule = instantiate(make_cfg(overrides).data)
    datamodule.setup("fit")
    assert len(server.requests) == served
    assert datamodule.num_samples("test") == NUM_TEST
    assert datamodule.class_names == MNIST.classes
    images, labels = datamodule.splits["test"]
    assert images.shape == (NUM_TEST, 1, 28, 28) and float(images.max()) == 1.0
    assert labels.tolist() == [i % 10 for i in range(NUM_TEST)]


def test_files_that_fail_their_checksum_are_a_one_line_error(make_cfg, mirror, tmp_path):
    server, md5 = mirror
    cfg = make_cfg(["data=mnist", f"paths.data_dir={tmp_path / 'data'}", f"data.mirrors=[{server.url}]"])
    # torchvision's checksums are those of the real files, not of the tiny ones served here
    with pytest.raises(ConfigError) as caught:
        instantiate(cfg.data).setup("fit")
    message = str(caught.value)
    assert message.startswith("data.mirrors: error downloading train-images-idx3-ubyte.gz from " + server.url)
    assert "see data.md5" in message and "\n" not in message


def test_unreachable_mirror_and_no_download_are_one_line_errors(tmp_path):
    closed = ThreadingHTTPServer(("127.0.0.1", 0), SimpleHTTPRequestHandler)
    url = f"http://127.0.0.1:{closed.server_port}/"
    closed.server_close()  # nothing listens there any more
    datamodule = MnistDataModule(root=str(tmp_path), mirrors=[url])
    with pytest.raises(ConfigError, match=r"^data\.mirrors: .*from http://127\.0\.0\.1:\d+/: .*refused"):
        datamodule.setup("fit")
    offline = MnistDataModule(root=str(tmp_path / "empty"), download=False)
    with pytest.raises(ConfigError, match=r"^data\.download: no MNIST files in .*empty/MNIST/raw"):
        offline.setup("fit")


def test_fashion_mnist_uses_its_own_mirror_folder_and_class_names(make_cfg, mirror, tmp_path):
    from torchvision.datasets import FashionMNIST

    server, md5 = mirror
    cfg = make_cfg(
        [
            "data=fashion_mnist",
            f"paths.data_dir={tmp_path}",
            f"data.mirrors=[{server.url}]",
            md5_override(md5),
        ]
    )
    assert cfg.data.batch_size == 128  # the rest comes from data/mnist.yaml
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    assert (tmp_path / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte").is_file()
    assert datamodule.class_names == FashionMNIST.classes and datamodule.class_names[0] == "T-shirt/top"
    assert datamodule.num_samples("train") + datamodule.num_samples("val") == NUM_TRAIN


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["data.dataset=cifar"], "data.dataset: got 'cifar'; allowed: mnist, fashion_mnist"),
        (["data.mirrors=[ftp-less]"], "data.mirrors: got ['ftp-less']; allowed: a list of URL prefixes"),
        (["data.md5={train:abc}"], "data.md5: unknown train; allowed: null or keys among train_images"),
    ],
)
def test_bad_options_are_caught_before_any_download(make_cfg, overrides, expected):
    cfg = make_cfg(["data=mnist", *overrides])
    with pytest.raises(ConfigError) as early:
        MnistDataModule.check_config(cfg)
    assert str(early.value).startswith(expected)
    datamodule = instantiate(cfg.data)  # constructors raise nothing: Hydra would wrap it in a traceback
    with pytest.raises(ConfigError) as late:
        datamodule.setup("fit")
    assert str(late.value) == str(early.value)
