"""The HTTP service (LitServe): ``POST /predict`` with JSON, ``GET /health``, requests batched together.

Request bodies:
    {"inputs": <one sample as nested lists>}              one answer
    {"inputs": [<sample>, <sample>, ...], "many": true}   a list of answers
    {"image": "<base64 PNG or JPEG>"}                     image models: decoded to the input's shape (an
                                                          image_folder model: any size, prepared as in evaluation)

Samples are in the units of the training data (before scaling: the service scales them as training
did). A bad request gets a 400 answer with a one-line ``error``; other requests of the same batch are
answered normally.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from dataclasses import dataclass
from typing import Any

import litserve as ls
import numpy as np
from fastapi.responses import JSONResponse


@dataclass
class BadRequest:
    reason: str


class RequestError(ValueError):
    pass


def decode_samples(request: Any, sample_shape: tuple[int, ...]) -> tuple[np.ndarray, bool]:
    """The raw samples of a request, shaped ``(n, *sample_shape)``, and whether a list was asked for."""
    if not isinstance(request, dict):
        raise RequestError("the body must be a JSON object with `inputs` or `image`")
    if ("inputs" in request) == ("image" in request):
        raise RequestError("give exactly one of `inputs` (nested lists of numbers) or `image` (base64)")
    if "image" in request:
        return decode_image(request["image"], sample_shape)[None], False
    many = bool(request.get("many", False))
    try:
        samples = np.asarray(request["inputs"], dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise RequestError(f"inputs: not an array of numbers ({str(err).splitlines()[0][:80]})") from err
    if not many:
        samples = samples[None]
    if samples.ndim != len(sample_shape) + 1 or tuple(samples.shape[1:]) != sample_shape or len(samples) == 0:
        got = tuple(samples.shape[1:]) if samples.ndim > 1 else tuple(samples.shape)
        raise RequestError(
            f"inputs: a sample of shape {got}; allowed: shape {list(sample_shape)} per sample"
            + ("" if many else ' (send {"inputs": [...], "many": true} for several)')
        )
    if not np.isfinite(samples).all():
        raise RequestError("inputs: NaN or infinite values; allowed: finite numbers")
    return samples, many


def decode_base64(encoded: Any) -> bytes:
    try:
        return base64.b64decode(str(encoded), validate=True)
    except (binascii.Error, ValueError) as err:
        raise RequestError(f"image: not base64 ({type(err).__name__})") from err


def decode_image(encoded: Any, sample_shape: tuple[int, ...]) -> np.ndarray:
    """A base64 PNG/JPEG as one sample of shape (channels, height, width), values scaled to [0, 1]."""
    from PIL import Image, UnidentifiedImageError

    if len(sample_shape) != 3 or sample_shape[0] not in (1, 3):
        raise RequestError("image: this model does not take images; send `inputs`")
    try:
        image = Image.open(io.BytesIO(base64.b64decode(str(encoded), validate=True)))
        image.load()
    except (binascii.Error, UnidentifiedImageError, OSError, ValueError) as err:
        raise RequestError(f"image: not a base64-encoded PNG or JPEG ({type(err).__name__})") from err
    channels, height, width = sample_shape
    if image.size != (width, height):
        raise RequestError(f"image: {image.size[0]}x{image.size[1]} pixels; allowed: {width}x{height}")
    pixels = np.asarray(image.convert("L" if channels == 1 else "RGB"), dtype=np.float32) / 255.0
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


class PredictAPI(ls.LitAPI):
    """Decodes requests, predicts valid ones together, and answers bad ones with 400 and a reason."""

    def __init__(self, path: str, max_batch_size: int = 16, batch_timeout: float = 0.01) -> None:
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout)
        self.path = path

    def setup(self, device: str) -> None:
        from lightning_hydra_template.deploy.predictor import Predictor

        self.predictor = Predictor(self.path)

    def decode_request(self, request):  # noqa: ANN001  (no annotation: LitServe reads the JSON body)
        """Prepared samples (scaled, or resized and normalised by the datamodule) and whether a list was asked for."""
        try:
            if self.predictor.reads_image_files and isinstance(request, dict) and "image" in request:
                if "inputs" in request:
                    raise RequestError(
                        "give exactly one of `inputs` (nested lists of numbers) or `image` (base64)"
                    )
                try:
                    return self.predictor.prepare_image(decode_base64(request["image"])), False
                except ValueError as err:
                    raise RequestError(f"image: {err}") from None
            samples, many = decode_samples(request, self.predictor.sample_shape)
            return self.predictor.prepare(samples), many
        except RequestError as err:
            return BadRequest(str(err))

    def batch(self, inputs: list[Any]) -> list[Any]:
        return inputs

    def predict(self, requests: Any) -> Any:
        if not isinstance(requests, list):  # max_batch_size=1: LitServe passes one request
            return self.predict([requests])[0]
        valid = [r for r in requests if not isinstance(r, BadRequest)]
        answers: list[Any] = []
        if valid:
            samples = np.concatenate([samples for samples, _ in valid])
            answers = self.predictor.describe(self.predictor.predict(samples, prepared=True))
        results: list[Any] = []
        start = 0
        for request in requests:
            if isinstance(request, BadRequest):
                results.append(request)
                continue
            samples, many = request
            chunk = answers[start : start + len(samples)]
            start += len(samples)
            results.append({"predictions": chunk} if many else chunk[0])
        return results

    def unbatch(self, output: list[Any]) -> list[Any]:
        return output

    def encode_response(self, output: Any) -> Any:
        if isinstance(output, BadRequest):
            return JSONResponse(status_code=400, content={"error": output.reason})
        return output


class JSONBodies:
    """ASGI middleware: a POST whose body is not JSON gets a 400 with one line, before it reaches LitServe
    (which would answer 500)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            json.loads(body or b"null")
        except ValueError:
            response = JSONResponse(
                status_code=400, content={"error": "the body is not JSON; allowed: a JSON object"}
            )
            await response(scope, receive, send)
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def build_server(path: str, max_batch_size: int, batch_timeout: float) -> ls.LitServer:
    """A LitServer answering with the predictions of the checkpoint or exported file at ``path``."""
    api = PredictAPI(path, max_batch_size=max_batch_size, batch_timeout=batch_timeout)
    return ls.LitServer(api, accelerator="cpu", devices=1, workers_per_device=1, middlewares=[JSONBodies])
