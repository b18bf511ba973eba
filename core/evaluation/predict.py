"""Predicting and evaluating with a saved model bundle. Input files are only read."""

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from core.base.cancel import CancelToken
from core.base.errors import DatasetError, TransferLabError
from core.base.progress import Progress, saying
from core.data.dataset import DatasetScan, make_split
from core.data.loading import make_loader
from core.data.walk import walk_files
from core.evaluation.heldout import SPLIT_NAME, recorded_validation, stored_logits
from core.evaluation.metrics import Scores, classification_report, expected_calibration_error, roc_curve
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
            progress: Progress | None = None, cancel: CancelToken | None = None,
            threshold: float | None = None) -> list[dict]:
    """One result per file: {path, label, confidence, probabilities} or {path, error} when it cannot be read;
    a model that can say "I don't know" adds unknown_score and is_unknown (the score above ``threshold``, by
    default the one set when it was trained: core.models.unknown_score)."""
    files = collect_images(paths)
    dev = resolve_device(device)
    net, plan = inference.fast_copy(bundle.net, dev)
    loader = make_loader([(p, -1) for p in files], eval_transform(bundle.preprocessing), batch_size)
    out = inference.run(net, loader, dev, cancel, saying(progress, "Predicting"), plan, bundle.temperature)
    classes = bundle.classes
    by_index = {int(i): row for i, row in zip(out.indices, out.probabilities)}
    unknown = {} if out.unknown is None else dict(zip(out.indices.tolist(), out.unknown.tolist()))
    limit = unknown_threshold(bundle, threshold)
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
        if i in unknown:
            results[-1].update(unknown_score=unknown[i], is_unknown=unknown[i] > limit)
    return results


def unknown_threshold(bundle: Bundle, threshold: float | None = None) -> float:
    """The score above which an image is called unknown: ``threshold``, else the model's own (inf without one)."""
    if threshold is not None:
        return float(threshold)
    return float((bundle.meta.get("unknown") or {}).get("threshold", float("inf")))


def evaluation_items(bundle: Bundle, scan: DatasetScan, split_from: Path | None = None) -> tuple[str, list]:
    """Which images to score. Never the ones the model was trained on when that can be known:
    a pre-split folder gives its test/ (else val/) images; the very folder the model was trained
    on gives its held-out validation images (those its run.json records, else the same seeded split; with
    ``split_from``, another run's, to compare two models on the same images); any other folder, all images."""
    which, items, _ = _items_and_changes(bundle, scan, split_from)
    return which, items


def _items_and_changes(bundle: Bundle, scan: DatasetScan, split_from: Path | None) -> tuple[str, list, dict]:
    """:func:`evaluation_items`, and how today's labels differ on the run's recorded validation images
    (heldout.recorded_validation: one read of its run.json)."""
    if scan.layout == "pre-split":
        if scan.items.get("test"):
            return "test", scan.items["test"], {}
        return "val", scan.items.get("val", []), {}
    trained_on = bundle.meta.get("dataset", {}).get("root")
    if trained_on and Path(trained_on) == scan.root:
        recorded, changed = recorded_validation(split_from or bundle.run_dir, scan.all_items(), scan.classes,
                                                scan.root)
        if recorded is not None:
            return "val (held out during training)", recorded, changed
        settings = bundle.meta.get("settings", {})
        split = make_split(scan, settings.get("val_fraction", 0.2), settings.get("seed", 0))
        return "val (held out during training)", split.val, {}
    return "all", scan.all_items(), {}


@dataclass
class Evaluation(Scores):
    """What :func:`evaluate` measured: the scores, and what they were measured on."""

    loss: float = float("nan")  # mean cross-entropy
    unreadable: list[str] = field(default_factory=list)  # paths that could not be read
    split: str = ""  # which images, in evaluation_items' words (heldout.SPLIT_NAME: a refitted classifier's fit)
    folder: str = ""  # the folder they are in
    images: list[dict] = field(default_factory=list)  # per image: path, true, predicted, confidence, loss,
    # probabilities, and unknown_score for a model that has one
    calibration: dict = field(default_factory=dict)  # the bundle's, plus "ece" on these images
    roc: dict | None = None  # two classes: {fpr, tpr, thresholds, auc, positive}
    unknown: dict | None = None  # a model that can say "I don't know": {threshold, rejected_known, ...}
    labels_changed: dict = field(default_factory=dict)  # on the run's recorded validation images: {recorded,
    # left_out, relabelled} (heldout.recorded_validation) where today's labels differ from the run's

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None or k not in ("roc", "unknown")}


def evaluate(bundle: Bundle, scan: DatasetScan, device: str = "auto", batch_size: int = 32,
             progress: Progress | None = None, cancel: CancelToken | None = None,
             unknown_folder: Path | None = None, split_from: Path | None = None) -> Evaluation:
    """Metrics on a labelled folder (see :func:`evaluation_items` for which images). For a model that can say "I
    don't know", ``unknown`` holds {threshold, rejected_known}: the share of these known images called unknown;
    with ``unknown_folder``, images of none of the classes, also folder, images, auroc, rejected_unknown."""
    classes = bundle.classes
    foreign = [c for c in scan.classes if c not in classes]
    if foreign:
        raise DatasetError(f"Classes not known to this model: {', '.join(foreign)} "
                           f"(the model knows: {', '.join(classes)})")
    if unknown_folder is not None and "unknown" not in bundle.meta:
        raise TransferLabError("This model cannot say \"I don't know\" (it was trained before TransferLab could); "
                               "train it again to measure how it treats images of none of its classes")
    which, items, changed = _items_and_changes(bundle, scan, split_from)
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
    scores = classification_report(out.labels.tolist(), out.predictions.tolist(), classes)
    confidence, predicted = out.probabilities.max(1)
    return Evaluation(
        **{f.name: getattr(scores, f.name) for f in fields(Scores)}, loss=out.loss,
        unreadable=[str(files[i][0]) for i in sorted(set(range(len(files))) - set(out.indices.tolist()))],
        split=which, folder=str(scan.root), images=_per_image(files, out),
        calibration={**(bundle.meta.get("calibration") or {}), "ece": expected_calibration_error(
            confidence.tolist(), (predicted == out.labels).tolist())},
        roc={**roc_curve(out.labels.tolist(), out.probabilities[:, 1].tolist()), "positive": classes[1]}
        if len(classes) == 2 else None,  # the second class is "positive"
        unknown=_unknown_report(bundle, out.unknown.tolist(), unknown_folder, device, batch_size, cancel)
        if out.unknown is not None else None,
        labels_changed=changed if changed.get("left_out") or changed.get("relabelled") else {})


def _unknown_report(bundle: Bundle, known: list[float], folder: Path | None, device: str, batch_size: int,
                    cancel: CancelToken | None) -> dict:
    """How the model's "I don't know" treats the known images scored, and the images of ``folder`` (none of
    its classes): the share of each called unknown, and the AUROC of the score (1.0: every unknown image
    scores above every known one; 0.5: no better than guessing)."""
    threshold = unknown_threshold(bundle)
    described = bundle.meta["unknown"]
    out = {"threshold": threshold, "rejected_known": sum(s > threshold for s in known) / max(1, len(known)),
           "trained_threshold": described.get("trained_threshold", threshold),
           "threshold_from": described.get("threshold_from", "cross-validation")}
    if folder is None:
        return out
    other = score_folder(bundle, folder, device, batch_size, cancel=cancel)
    roc = roc_curve([0] * len(known) + [1] * len(other), known + other)
    return {**out, "folder": str(folder), "images": len(other), "auroc": roc["auc"], "other_scores": other,
            "rejected_unknown": sum(s > threshold for s in other) / max(1, len(other))}


def score_folder(bundle: Bundle, folder, device: str = "auto", batch_size: int = 32, progress: Progress | None = None,
                 cancel: CancelToken | None = None) -> list[float]:
    """The unknown scores of every readable image in ``folder`` (images of none of the model's classes), or in a
    list of image files."""
    where = [Path(p) for p in folder] if isinstance(folder, (list, tuple)) else [Path(folder)]
    scores = [r["unknown_score"] for r in predict(bundle, where, device, batch_size, progress, cancel)
              if "unknown_score" in r]
    if not scores:
        raise DatasetError(f"No readable images in {folder if len(where) == 1 else 'the images given'}")
    return scores


def _per_image(files: list, out) -> list[dict]:
    """Each scored image: path, true and predicted class index, confidence, its loss, all probabilities."""
    rows = []
    unknown = out.unknown.tolist() if out.unknown is not None else None
    for row, (index, probs, label) in enumerate(zip(out.indices.tolist(), out.probabilities, out.labels.tolist())):
        predicted = int(probs.argmax())
        rows.append({"path": str(files[index][0]), "true": label, "predicted": predicted,
                     "confidence": float(probs[predicted]), "loss": float(-probs[label].clamp_min(1e-12).log()),
                     "probabilities": [round(float(p), 6) for p in probs]})
        if unknown is not None:
            rows[-1]["unknown_score"] = unknown[row]
    return rows


CSV_COLUMNS = ("path", "label", "confidence")  # then unknown_score and is_unknown (a model that has them),
# p_<class> per class, and error
UNKNOWN_COLUMNS = ("unknown_score", "is_unknown")


def write_predictions_csv(path: Path, results: list[dict], classes: list[str]) -> None:
    """One row per image: path, predicted label, confidence, one probability column per class, error
    (for files that could not be read). Written atomically; UTF-8."""
    import csv

    from core.base.atomic import atomic_write

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            scored = any("unknown_score" in r for r in results)
            w.writerow([*CSV_COLUMNS, *(UNKNOWN_COLUMNS if scored else ()), *[f"p_{c}" for c in classes], "error"])
            for r in results:
                probs = r.get("probabilities") or {}
                unknown = ([f"{r['unknown_score']:.6f}", "yes" if r["is_unknown"] else "no"] if "unknown_score" in r
                           else ["", ""]) if scored else []
                w.writerow([r["path"], r.get("label") or "", f"{r['confidence']:.6f}" if probs else "", *unknown,
                            *[f"{probs[c]:.6f}" if probs else "" for c in classes], r.get("error", "")])
    try:
        atomic_write(Path(path), write)
    except OSError as exc:
        raise TransferLabError(f"Cannot write {path}: {exc.strerror or exc}") from exc
