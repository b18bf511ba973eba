"""The saved model bundle: ``model.safetensors`` + ``transferlab.json`` in a run folder."""

import errno
import hashlib
import json
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load, save

from core import __version__
from core.base.atomic import atomic_write_all
from core.base.errors import BundleError
from core.models.network import TransferNet
from core.models.preprocess import Preprocessing
from core.models.weights import create_backbone

WEIGHTS_FILE = "model.safetensors"
META_FILE = "transferlab.json"
FORMAT_VERSION = 1


def library_versions() -> dict:
    import timm
    import torchvision
    return {"transferlab": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "timm": timm.__version__, "python": sys.version.split()[0], "platform": platform.platform()}


def save_bundle(run_dir: Path, net: TransferNet, meta: dict) -> None:
    """Write weights then metadata, each atomically; ``meta`` must hold classes, model_name, preprocessing."""
    for key in ("classes", "model_name", "preprocessing"):
        if key not in meta:
            raise ValueError(f"bundle metadata needs '{key}'")
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    blob = save(state)  # in memory first: its hash goes into the description
    full = {**meta, "format_version": FORMAT_VERSION, "cut_index": net.cut_index, "with_level": net.with_level,
            "versions": library_versions(),  # what this save computed wins over a description read from another
            "weights_sha256": hashlib.sha256(blob).hexdigest()}
    text = json.dumps(full, indent=2, ensure_ascii=False)
    run_dir = Path(run_dir)
    try:
        atomic_write_all({run_dir / WEIGHTS_FILE: lambda tmp: tmp.write_bytes(blob),
                          run_dir / META_FILE: lambda tmp: tmp.write_text(text, encoding="utf-8")})
    except OSError as exc:
        raise BundleError(f"Cannot save the model in {run_dir}: {_os_reason(exc)}. "
                          "Any model saved there before is unchanged.") from exc


@dataclass
class Bundle:
    run_dir: Path
    meta: dict
    net: TransferNet

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])

    @property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing.from_dict(self.meta["preprocessing"])

    @property
    def temperature(self) -> float:
        """Softmax temperature fitted on the validation images (1.0 for bundles saved before it existed)."""
        return float((self.meta.get("calibration") or {}).get("temperature", 1.0))


def read_meta(run_dir: Path) -> dict:
    path = Path(run_dir) / META_FILE
    if not Path(run_dir).is_dir():
        raise BundleError(f"Model folder not found: {run_dir}")
    if not path.is_file():
        raise BundleError(f"{run_dir} holds no trained model ({META_FILE} is missing); train one first")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"Cannot read {path}: {exc}") from exc
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise BundleError(f"{run_dir} was saved by a newer TransferLab; please update")
    return meta


def load_bundle(run_dir: Path) -> Bundle:
    """Rebuild the network from the metadata and load its weights (safetensors only, no pickle)."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir)
    weights = run_dir / WEIGHTS_FILE
    if not weights.is_file():
        raise BundleError(f"{run_dir} is incomplete: {WEIGHTS_FILE} is missing")
    data = weights.read_bytes()
    expected = meta.get("weights_sha256")
    if expected and hashlib.sha256(data).hexdigest() != expected:
        raise BundleError(f"{weights} does not belong to {META_FILE} in {run_dir} (the files come from "
                          "different saves, or one is damaged); save or train the model again")
    backbone = create_backbone(meta["model_name"], weights="none").model
    net = TransferNet(backbone, len(meta["classes"]), meta.get("cut_index"), meta.get("with_level"))
    state = load(data)
    if meta.get("unknown") and "unknown.whitening" in state:  # "I don't know": its numbers travel with the weights
        from core.models.unknown_score import empty_unknown_score
        net.unknown = empty_unknown_score(meta["unknown"])
    else:  # numbers of an unknown score this version cannot read (none, or another kind): the model works without
        state = {k: v for k, v in state.items() if not k.startswith("unknown.")}
        meta.pop("unknown", None)
    try:
        net.load_state_dict(state)
    except Exception as exc:
        raise BundleError(f"The weights in {weights} do not match the saved model description: {exc}") from exc
    net.eval()
    return Bundle(run_dir, meta, net)


def export_bundle(run_dir: Path, dest_dir: Path) -> Path:
    """Copy a model bundle (weights + description, not the checkpoint) to ``dest_dir``.

    Each file is written to a temporary name, synced and renamed, so a bundle already in
    ``dest_dir`` is never left half-replaced.
    """
    import shutil

    from core.base.errors import TransferLabError
    run_dir, dest_dir = Path(run_dir), Path(dest_dir)
    read_meta(run_dir)  # a clear error if there is no bundle
    if dest_dir.resolve() == run_dir.resolve():
        raise TransferLabError("The model is already stored in that folder; choose another one")
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_all({dest_dir / name: (lambda tmp, src=run_dir / name: shutil.copyfile(src, tmp))
                          for name in (WEIGHTS_FILE, META_FILE)})
    except OSError as exc:
        raise TransferLabError(f"Cannot save the model into {dest_dir}: {_os_reason(exc)}. "
                               "Any model saved there before is unchanged.") from exc
    return dest_dir


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return "the folder is read-only (no permission to write there)"
    return exc.strerror or str(exc)
