"""Predicting and evaluating with a saved model bundle. Input files are only read."""

from pathlib import Path

from core.base.cancel import CancelToken
from core.base.errors import DatasetError, TransferLabError
from core.base.progress import Progress, saying
from core.data.dataset import DatasetScan, make_split
from core.data.loading import make_loader
from core.data.walk import walk_files
from core.evaluation.heldout import SPLIT_NAME, stored_logits
from core.evaluation.metrics import classification_report, expected_calibration_error, roc_curve
from core.models import inference
from core.models.bundle import Bundle
from core.models.devices import resolve_device
from core.models.preprocess import eval_transform


def collect_images(paths: list[Path]) -> list[Path]:
    """Image files among ``paths``; folders are searched recursively (hidden and junk entries skipped,
    folder links not followed)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(walk_files(path, skipped=[]))  # what a dataset scan would find there
        elif path.is_file():
            found.append(path)
        else:
            raise TransferLabError(f"Not found: {path}")
    return found


def predict(bundle: Bundle, paths: list[Path], device: str = "auto", batch_size: int = 32,
            progress: Progress | None = None, cancel: CancelToken | None = None) -> list[dict]:
    """One result per file: {path, label, probabilities} or {path, error} when it cannot be read."""
    files = collect_images(paths)
    dev = resolve_device(device)
    net, plan = inference.fast_copy(bundle.net, dev)
    loader = make_loader([(p, -1) for p in files], eval_transform(bundle.preprocessing), batch_size)
    out = inference.run(net, loader, dev, cancel, saying(progress, "Predicting"), plan, bundle.temperature)
    classes = bundle.classes
    by_index = {int(i): row for i, row in zip(out.indices, out.probabilities)}
    results = []
    for i, path in enumerate(files):
        row = by_index.get(i)
        if row is None:
            results.append({"path": str(path), "label": None, "probabilities": None,
                            "error": "cannot be read as an image"})
            continue
        probs = {name: float(p) for name, p in zip(classes, row)}
        results.append({"path": str(path), "label": classes[int(row.argmax())], "confidence": float(row.max()),
                        "probabilities": probs})
    return results


def evaluation_items(bundle: Bundle, scan: DatasetScan) -> tuple[str, list]:
    """Which images to score. Never the ones the model was trained on when that can be known:
    a pre-split folder gives its test/ (else val/) images; the very folder the model was trained
    on gives its held-out validation images (same seeded split); any other folder, all images."""
    if scan.layout == "pre-split":
        if scan.items.get("test"):
            return "test", scan.items["test"]
        return "val", scan.items.get("val", [])
    trained_on = bundle.meta.get("dataset", {}).get("root")
    if trained_on and Path(trained_on) == scan.root:
        settings = bundle.meta.get("settings", {})
        split = make_split(scan, settings.get("val_fraction", 0.2), settings.get("seed", 0))
        return "val (held out during training)", split.val
    return "all", scan.all_items()


def evaluate(bundle: Bundle, scan: DatasetScan, device: str = "auto", batch_size: int = 32,
             progress: Progress | None = None, cancel: CancelToken | None = None) -> dict:
    """Metrics on a labelled folder (see :func:`evaluation_items` for which images), as a JSON-ready dict:
    ``accuracy``, ``accuracy_interval`` (95% Wilson), ``majority_baseline`` ({class, accuracy}),
    ``balanced_accuracy``, ``num_images``, ``classes``, ``per_class`` ({class: precision, recall, f1,
    support}), ``confusion_matrix`` (rows true, columns predicted), ``loss``, ``unreadable`` (paths),
    ``split`` and ``folder`` (which images), ``images`` (one row per scored image: path, true,
    predicted, confidence, loss, probabilities), ``calibration`` (the bundle's, plus ``ece`` here) and,
    with two classes, ``roc`` ({fpr, tpr, thresholds, auc, positive})."""
    classes = bundle.classes
    unknown = [c for c in scan.classes if c not in classes]
    if unknown:
        raise DatasetError(f"Classes not known to this model: {', '.join(unknown)} "
                           f"(the model knows: {', '.join(classes)})")
    which, items = evaluation_items(bundle, scan)
    if not items:
        raise DatasetError(f"No images to evaluate in {scan.root}")
    remap = [classes.index(c) for c in scan.classes]
    files = [(i.path, remap[i.label]) for i in items]
    stored = stored_logits(bundle.meta, files, scan.root) if which.startswith("val") else None
    if stored is not None:  # the saved classifier learnt from these images too: its measured fit's predictions
        which = SPLIT_NAME
        logits, found = stored
        out = inference.outputs_from_logits(logits, [files[i][1] for i in found], found, bundle.temperature)
    else:
        dev = resolve_device(device)
        loader = make_loader(files, eval_transform(bundle.preprocessing), batch_size)
        net, plan = inference.fast_copy(bundle.net, dev)
        out = inference.run(net, loader, dev, cancel, saying(progress, "Scoring the images"), plan,
                            bundle.temperature)
    report = classification_report(out.labels.tolist(), out.predictions.tolist(), classes)
    report["loss"] = out.loss
    report["unreadable"] = [str(files[i][0]) for i in sorted(set(range(len(files))) - set(out.indices.tolist()))]
    report["split"], report["folder"] = which, str(scan.root)
    report["images"] = _per_image(files, out)
    confidence, predicted = out.probabilities.max(1)
    report["calibration"] = {**(bundle.meta.get("calibration") or {}), "ece": expected_calibration_error(
        confidence.tolist(), (predicted == out.labels).tolist())}
    if len(classes) == 2:  # the second class is "positive"
        report["roc"] = {**roc_curve(out.labels.tolist(), out.probabilities[:, 1].tolist()), "positive": classes[1]}
    return report


def _per_image(files: list, out) -> list[dict]:
    """Each scored image: path, true and predicted class index, confidence, its loss, all probabilities."""
    rows = []
    for index, probs, label in zip(out.indices.tolist(), out.probabilities, out.labels.tolist()):
        predicted = int(probs.argmax())
        rows.append({"path": str(files[index][0]), "true": label, "predicted": predicted,
                     "confidence": float(probs[predicted]), "loss": float(-probs[label].clamp_min(1e-12).log()),
                     "probabilities": [round(float(p), 6) for p in probs]})
    return rows


CSV_COLUMNS = ("path", "label", "confidence")  # then p_<class> per class, then error


def write_predictions_csv(path: Path, results: list[dict], classes: list[str]) -> None:
    """One row per image: path, predicted label, confidence, one probability column per class, error
    (for files that could not be read). Written atomically; UTF-8."""
    import csv

    from core.base.atomic import atomic_write

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow([*CSV_COLUMNS, *[f"p_{c}" for c in classes], "error"])
            for r in results:
                probs = r.get("probabilities") or {}
                w.writerow([r["path"], r.get("label") or "", f"{r['confidence']:.6f}" if probs else "",
                            *[f"{probs[c]:.6f}" if probs else "" for c in classes], r.get("error", "")])
    try:
        atomic_write(Path(path), write)
    except OSError as exc:
        raise TransferLabError(f"Cannot write {path}: {exc.strerror or exc}") from exc
