"""Export a trained model for use outside TransferLab: ONNX or TorchScript, verified before it is kept.

The exported model takes a batch of preprocessed images (float32, NCHW, RGB, resized, centre-cropped
and normalised as the sidecar JSON says) and returns calibrated class probabilities
(``softmax(logits / temperature)``). Export writes to a temporary file, runs the exported model (ONNX
Runtime for ONNX, ``torch.jit.load`` for TorchScript) on sample images and compares its probabilities
with PyTorch's; only if every value agrees within ``TOLERANCE`` is the file moved into place, with
``<file>.json`` beside it (class names, preprocessing, temperature). Otherwise export fails loudly and
leaves nothing behind.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core import __version__
from core.base.atomic import atomic_write_all
from core.base.errors import TransferLabError
from core.base.progress import Progress, report
from core.data.images import IMAGE_EXTENSIONS
from core.models.bundle import Bundle
from core.models.preprocess import eval_transform, resize_size

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_model` wrote, and how closely the file reproduces the trained model."""

    path: str  # the model file
    sidecar: str  # its JSON description: classes, preprocessing, how to read the output
    format: str
    images: str  # what the check ran on ("your images" or "random inputs")
    max_abs_difference: float  # largest difference of any output (probability, unknown score) from PyTorch's
    tolerance: float

    def to_dict(self) -> dict:
        return asdict(self)
TOLERANCE = 1e-4
SAMPLE_IMAGES = 8


class ExportError(TransferLabError):
    """The exported model is missing something or does not compute what the trained one does."""


class CalibratedProbabilities(nn.Module):
    def __init__(self, net: nn.Module, temperature: float) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("temperature", torch.tensor(float(temperature)))

    def forward(self, image: torch.Tensor):
        """Probabilities; with the model's "I don't know" (core.models.unknown_score), also its score per image."""
        logits, unknown = self.net.scored(image)
        probabilities = torch.softmax(logits / self.temperature, dim=1)
        return probabilities if unknown is None else (probabilities, unknown)


def _outputs(model: nn.Module) -> list[str]:
    return ["probabilities", "unknown_score"] if getattr(model.net, "unknown", None) is not None else ["probabilities"]


def _arrays(result) -> list[np.ndarray]:
    return [r.numpy() if isinstance(r, torch.Tensor) else np.asarray(r)
            for r in (result if isinstance(result, (tuple, list)) else [result])]


def sample_inputs(bundle: Bundle, extra: list[Path] | None = None) -> tuple[torch.Tensor, str]:
    """Up to ``SAMPLE_IMAGES`` preprocessed images: the given ones, else from the training folder, else
    generated patterns (with a note saying so)."""
    pp = bundle.preprocessing
    transform = eval_transform(pp)
    candidates = list(extra or [])
    root = Path(bundle.meta.get("dataset", {}).get("root", ""))
    if not candidates and root.is_dir():
        candidates = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        candidates = candidates[:: max(1, len(candidates) // SAMPLE_IMAGES)][:SAMPLE_IMAGES]
    from core.base.errors import ImageLoadError
    from core.data.images import load_rgb
    tensors = []
    for path in candidates:
        try:
            tensors.append(transform(load_rgb(path)))
        except ImageLoadError:
            continue
    if tensors:
        return torch.stack(tensors), f"{len(tensors)} of your images"
    g = torch.Generator().manual_seed(0)
    ramp = torch.linspace(-1, 1, pp.input_size)
    patterns = [torch.randn(3, pp.input_size, pp.input_size, generator=g) for _ in range(SAMPLE_IMAGES - 1)]
    patterns.append(ramp.expand(3, pp.input_size, pp.input_size).clone())
    return torch.stack(patterns), f"{SAMPLE_IMAGES} generated test patterns (the training images were not found)"


def sidecar(bundle: Bundle, fmt: str) -> dict:
    pp = bundle.preprocessing
    return {
        "format": fmt,
        "classes": bundle.classes,
        "model_name": bundle.meta.get("model_name"),
        "input": {"name": "image", "layout": "NCHW", "dtype": "float32", "channels": "RGB",
                  "height": pp.input_size, "width": pp.input_size},
        "preprocessing": {"resize_short_side": resize_size(pp), "interpolation": pp.interpolation,
                          "centre_crop": pp.input_size, "scale": "pixel / 255", "mean": list(pp.mean),
                          "std": list(pp.std)},
        "output": {"name": "probabilities", "meaning": "softmax(logits / temperature), one column per class"},
        **({"unknown_score": {"name": "unknown_score", "meaning": "the second output, one number per image: how "
                              "unlike the training images it looks (squared Mahalanobis distance of its features to "
                              "the nearest class mean, per feature: about 1 for images like the training ones); "
                              "above the threshold, call the image unknown",
                              "threshold": bundle.meta["unknown"]["threshold"]}} if "unknown" in bundle.meta else {}),
        "temperature": bundle.temperature,
        "exported_by": f"TransferLab {__version__}",
    }


def _export_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    buffer = io.BytesIO()
    names = _outputs(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example[:1], buffer, input_names=["image"], output_names=names,
                          dynamic_axes={"image": {0: "batch"}, **{name: {0: "batch"} for name in names}},
                          opset_version=17, dynamo=False)
    path.write_bytes(buffer.getvalue())


def _run_onnx(path: Path, inputs: torch.Tensor, names: list[str]) -> list[np.ndarray]:
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(names, {"image": inputs.numpy()})


def _export_torchscript(model: nn.Module, example: torch.Tensor, path: Path, meta: dict) -> None:
    with warnings.catch_warnings():  # deprecated by PyTorch in favour of torch.export, still widely loaded
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example[:1], check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={"transferlab.json": json.dumps(meta)})


def _run_torchscript(path: Path, inputs: torch.Tensor) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path), map_location="cpu")
        with torch.inference_mode():
            return _arrays(loaded(inputs))


def export_model(bundle: Bundle, out: Path, fmt: str, samples: list[Path] | None = None,
                 progress: Progress | None = None) -> dict:
    """Export ``bundle`` to ``out`` in ``fmt`` ('onnx' or 'torchscript'); see the module text."""
    if fmt not in FORMATS:
        raise TransferLabError(f"Unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    if out.is_dir():
        out = out / f"{bundle.run_dir.name}{FORMATS[fmt]}"
    model = CalibratedProbabilities(bundle.net.cpu().eval(), bundle.temperature).eval()
    inputs, source = sample_inputs(bundle, samples)
    with torch.inference_mode():
        expected = _arrays(model(inputs))  # probabilities, and the unknown score for a model that has one
    meta = sidecar(bundle, fmt)
    written: dict[Path, list[np.ndarray]] = {}

    def write_model(tmp: Path) -> None:
        report(progress, 0, 0, f"Exporting to {fmt.upper()}…")
        if fmt == "onnx":
            _export_onnx(model, inputs, tmp)
        else:
            _export_torchscript(model, inputs, tmp, meta)
        report(progress, 0, 0, f"Checking the exported model on {source}…")
        written[tmp] = _run_onnx(tmp, inputs, _outputs(model)) if fmt == "onnx" else _run_torchscript(tmp, inputs)
        difference = max(float(np.abs(got - want).max()) for got, want in zip(written[tmp], expected, strict=True))
        meta["verification"] = {"images": source, "max_abs_difference": difference, "tolerance": TOLERANCE}
        if not difference <= TOLERANCE:  # NaN fails too
            raise ExportError(f"The exported {fmt.upper()} model does not reproduce the trained model: its "
                              f"outputs differ by up to {difference:.2g} (allowed {TOLERANCE:g}). "
                              "Nothing was saved.")

    try:
        atomic_write_all({out: write_model,
                          out.with_name(out.name + ".json"): lambda tmp: tmp.write_text(json.dumps(meta, indent=2),
                                                                                        encoding="utf-8")})
    except OSError as exc:
        raise TransferLabError(f"Cannot write {out}: {exc.strerror or exc}") from exc
    check = meta["verification"]
    return ExportResult(str(out), str(out.with_name(out.name + ".json")), fmt, check["images"],
                        check["max_abs_difference"], check["tolerance"])
