"""How accurate is the model "auto" hands a user, next to a ten-line scikit-learn probe?

    .venv/bin/python -m bench.quality            # four real image sets at each model's own size
    .venv/bin/python -m bench.quality --quick    # seconds: one tiny set, a smoke test (numbers mean nothing)

Every set is a training folder and a separate held-out folder of real images that ship inside PyPI
packages (no network): scikit-image's brick/grass/gravel texture photos and its LFW faces vs.
non-faces, scikit-learn's handwritten digits (8x8, upscaled), and crops of scikit-image's photos.
For each set, on the same held-out images:

* **auto** — ``transferlab train --strategy auto`` as a user runs it: the advisor measures the data,
  picks a quadrant and its settings, TransferLab trains; then ``evaluate`` on the held-out folder;
* **epochs head** — feature extraction with the classifier trained for 10 AdamW epochs (the default
  before the classifier was fitted to convergence), for comparison;
* **sklearn probe** — scikit-learn's ``LogisticRegression(max_iter=1000)`` on the frozen
  tf_efficientnet_lite0 features (pooled, evaluation crop), the reference a user could write.

Times are wall clock including feature extraction. fastai's ``fine_tune``, the other reference the
project's issue names, is not run here yet. The last line is
``auto_vs_probe=±X.X auto_time_ratio=Y.YY``: auto's accuracy minus the probe's in points on the set
where auto compares worst, and auto's time over the probe's on the set where that ratio is largest.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image


def write_digits(out: Path, held_out: int = 300, size: int = 64, limit: int | None = None) -> None:
    """scikit-learn's 1,797 handwritten digits (8x8, 16 grey levels), upscaled; the last ``held_out`` kept apart."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    images, labels = digits.images, digits.target
    if limit:
        images, labels = images[:limit], labels[:limit]
        held_out = min(held_out, len(images) // 3)
    for i, (image, label) in enumerate(zip(images, labels)):
        part = "heldout" if i >= len(images) - held_out else "train"
        folder = out / "digits" / part / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (255 - image * 255 / 16).astype(np.uint8)  # dark ink on white paper
        Image.fromarray(pixels).resize((size, size), Image.BICUBIC).save(folder / f"d{i:04d}.png")


def datasets(root: Path, quick: bool) -> dict[str, tuple[Path, Path]]:
    from bench import photo_patches, real_photos
    if quick:
        write_digits(root, limit=60, size=32)
        return {"digits": (root / "digits" / "train", root / "digits" / "heldout")}
    real_photos.write_textures(root)
    real_photos.write_faces(root)
    write_digits(root)
    photo_patches.write(root / "photos", per_class=15, val_per_class=10, classes=len(photo_patches.PHOTOS))
    return {"textures": (root / "textures" / "train", root / "textures" / "heldout"),
            "faces": (root / "faces" / "train", root / "faces" / "heldout"),
            "digits": (root / "digits" / "train", root / "digits" / "heldout"),
            "photo crops": (root / "photos" / "train", root / "photos" / "val")}


def run_auto(train_dir: Path, test_dir: Path, out: Path, image_size: int | None) -> dict:
    from core.advisor import advise
    from core.bundle import load_bundle
    from core.dataset import scan_dataset
    from core.predict import evaluate
    from core.settings import TrainSettings
    from core.trainer import train
    start = time.perf_counter()
    scan = scan_dataset(train_dir)
    suggestion = advise(scan, TrainSettings(image_size=image_size))
    settings = suggestion.apply(TrainSettings(image_size=image_size))
    train(scan, settings, out, overwrite=True)
    seconds = time.perf_counter() - start
    accuracy = evaluate(load_bundle(out), scan_dataset(test_dir))["accuracy"]
    return {"accuracy": accuracy, "seconds": seconds, "quadrant": f"{suggestion.size} + {suggestion.similarity}",
            "strategy": suggestion.strategy}


def run_epochs_head(train_dir: Path, test_dir: Path, out: Path, image_size: int | None) -> dict:
    from core.bundle import load_bundle
    from core.dataset import scan_dataset
    from core.predict import evaluate
    from core.settings import TrainSettings, with_strategy
    from core.trainer import train
    start = time.perf_counter()
    settings = with_strategy(TrainSettings(image_size=image_size), "feature-extraction", 8, None)
    train(scan_dataset(train_dir), replace(settings, classifier_fit="epochs", epochs=10), out, overwrite=True)
    seconds = time.perf_counter() - start
    return {"accuracy": evaluate(load_bundle(out), scan_dataset(test_dir))["accuracy"], "seconds": seconds}


def run_probe(train_dir: Path, test_dir: Path, image_size: int | None) -> dict:
    from sklearn.linear_model import LogisticRegression

    from core.dataset import scan_dataset
    from core.pooled_features import extract, labelled_items
    from core.preprocess import preprocessing_for
    from core.weights import create_backbone
    start = time.perf_counter()
    model = create_backbone("tf_efficientnet_lite0").model
    pp = preprocessing_for(model, image_size)
    train = extract(model, labelled_items(scan_dataset(train_dir)), pp)
    test_scan = scan_dataset(test_dir)
    test = extract(model, labelled_items(test_scan), pp)
    probe = LogisticRegression(max_iter=1000).fit(train.final, train.labels)
    seconds = time.perf_counter() - start
    return {"accuracy": float(np.mean(probe.predict(test.final) == test.labels)), "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one tiny set at 32 px: a smoke test")
    args = parser.parse_args()
    image_size = 32 if args.quick else None
    work = Path(tempfile.mkdtemp(prefix="transferlab-quality-"))
    from core.accel import configure_threads
    configure_threads()
    rows = []
    print("| set | train / held-out | auto's quadrant → strategy | auto | epochs head | sklearn probe |")
    print("|---|---|---|---|---|---|")
    for name, (train_dir, test_dir) in datasets(work / "data", args.quick).items():
        os.environ["TRANSFERLAB_CACHE_DIR"] = str(work / "cache" / name / "auto")  # every arm starts cold
        auto = run_auto(train_dir, test_dir, work / "auto", image_size)
        os.environ["TRANSFERLAB_CACHE_DIR"] = str(work / "cache" / name / "epochs")
        epochs = run_epochs_head(train_dir, test_dir, work / "epochs", image_size)
        probe = run_probe(train_dir, test_dir, image_size)
        counts = f"{sum(1 for _ in train_dir.rglob('*.*'))} / {sum(1 for _ in test_dir.rglob('*.*'))}"
        cell = lambda r: f"{100 * r['accuracy']:.1f}% ({r['seconds']:.0f} s)"  # noqa: E731
        print(f"| {name} | {counts} | {auto['quadrant']} → {auto['strategy']} | {cell(auto)} | {cell(epochs)} | "
              f"{cell(probe)} |", flush=True)
        rows.append((auto, probe))
    worst_auto, worst_probe = min(rows, key=lambda r: r[0]["accuracy"] - r[1]["accuracy"])
    slowest = max(a["seconds"] / p["seconds"] for a, p in rows)
    print(f"auto_vs_probe={100 * (worst_auto['accuracy'] - worst_probe['accuracy']):+.1f} "
          f"auto_time_ratio={slowest:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
