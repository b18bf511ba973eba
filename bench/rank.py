"""Does LogME rank frozen features the way a trained linear classifier does? Checked on real photos.

    .venv/bin/python -m bench.rank [--quick] [--out rank.json]

Datasets (scikit-image photos, no network): ``faces`` and ``textures`` (bench.real_photos) and
``photos`` (bench.photo_patches: crops of 13 photos, few per class). Each has a training folder
and a held-out folder whose images were never seen, even partly.

Candidates: every offline backbone (tf_efficientnet_lite0/1/2 with their ImageNet weights, and a
randomly initialised lite0 as a weak one) x a few of its levels: the pooled features of an
intermediate level count as a candidate "model", so there are enough of them for a rank
correlation to mean something. Per candidate: LogME on the training images, the accuracy of a
linear probe fitted on the training images and tested on the held-out ones (more honest than
cross-validation), and the cross-validated probe accuracy on the training images. Per dataset:
Kendall's tau-b between the LogME order and each accuracy order, and the held-out accuracy of
LogME's top pick against the best one. A table is printed; everything is written as JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from core.data.dataset import scan_dataset
from core.methods.pooled_features import extract, labelled_items, stratified_sample
from core.methods.transferability import holdout_accuracy, kendall_tau, linear_probe_accuracy, logme
from core.models.preprocess import preprocessing_for
from core.models.weights import create_backbone

# (name, weights, levels): levels index core.models.network.cut_levels; "final" is the pooled pre-logits features.
BACKBONES = [("tf_efficientnet_lite0", "pretrained"), ("tf_efficientnet_lite1", "pretrained"),
             ("tf_efficientnet_lite2", "pretrained"), ("tf_efficientnet_lite0", "none")]
LEVELS = (1, 2, 3)


def make_datasets(root: Path, quick: bool) -> dict[str, tuple[Path, Path]]:
    """name -> (training folder, held-out folder)."""
    from bench import photo_patches, real_photos
    real_photos.write_textures(root)
    if quick:
        return {"textures": (root / "textures" / "train", root / "textures" / "heldout")}
    real_photos.write_faces(root)
    out = {name: (root / name / "train", root / name / "heldout") for name in ("faces", "textures")}
    photo_patches.write(root / "photos", per_class=15, val_per_class=10, classes=len(photo_patches.PHOTOS))
    out["photos"] = (root / "photos" / "train", root / "photos" / "val")
    return out


def backbone_candidates(name: str, weights: str, train_items, heldout_items, image_size: int | None) -> tuple[
        list[dict], dict]:
    """One forward pass per image over both folders; a candidate row per level and the final features."""
    torch.manual_seed(0)  # the random initialisation, when weights == "none"
    model = create_backbone(name, weights).model
    pp = preprocessing_for(model, image_size)
    start = time.perf_counter()
    train = extract(model, train_items, pp, levels=LEVELS)
    heldout = extract(model, heldout_items, pp, levels=LEVELS)
    wall = time.perf_counter() - start
    timing = {"backbone": f"{name} ({weights})", "input_size": pp.input_size,
              "images": train.images + heldout.images, "forward_seconds": train.seconds + heldout.seconds,
              "images_per_second": (train.images + heldout.images) / (train.seconds + heldout.seconds),
              "wall_seconds_with_decoding": wall}
    rows = []
    pairs = [(f"level {i}", a, b) for i, a, b in zip(LEVELS, train.levels, heldout.levels)]
    for level, f_train, f_heldout in [*pairs, ("final", train.final, heldout.final)]:
        t0 = time.perf_counter()
        score = logme(f_train, train.labels)
        t1 = time.perf_counter()
        acc = holdout_accuracy(f_train, train.labels, f_heldout, heldout.labels)
        t2 = time.perf_counter()
        rows.append({"candidate": f"{name}{'' if weights == 'pretrained' else ' (random init)'} {level}",
                     "dim": int(f_train.shape[1]), "logme": score, "heldout_accuracy": acc,
                     "cv_accuracy": linear_probe_accuracy(f_train, train.labels),
                     "logme_seconds": t1 - t0, "probe_seconds": t2 - t1})
    return rows, timing


def evaluate(train_dir: Path, heldout_dir: Path, backbones, image_size: int | None, max_images: int) -> dict:
    train_items = stratified_sample(labelled_items(scan_dataset(train_dir)), max_images)
    heldout_items = labelled_items(scan_dataset(heldout_dir))
    rows, timings = [], []
    for name, weights in backbones:
        found, timing = backbone_candidates(name, weights, train_items, heldout_items, image_size)
        rows += found
        timings.append(timing)
    rows.sort(key=lambda r: -r["logme"])
    logmes = [r["logme"] for r in rows]
    finals = [r for r in rows if r["candidate"].endswith("final") and "random" not in r["candidate"]]
    return {
        "train_images": len(train_items), "heldout_images": len(heldout_items), "candidates": rows,
        "tau_heldout": kendall_tau(logmes, [r["heldout_accuracy"] for r in rows]),
        "tau_cv": kendall_tau(logmes, [r["cv_accuracy"] for r in rows]),
        "logme_pick_heldout_accuracy": rows[0]["heldout_accuracy"],
        "best_heldout_accuracy": max(r["heldout_accuracy"] for r in rows),
        "pretrained_final_only": {"candidates": [r["candidate"] for r in finals],
                                  "tau_heldout": kendall_tau([r["logme"] for r in finals],
                                                             [r["heldout_accuracy"] for r in finals])},
        "extraction": timings,
    }


def print_report(name: str, result: dict) -> None:
    print(f"\n== {name}: {result['train_images']} training images, {result['heldout_images']} held out ==")
    print(f"{'candidate':<48} {'dim':>5} {'LogME':>8} {'held-out':>9} {'CV':>6}")
    for r in result["candidates"]:
        print(f"{r['candidate']:<48} {r['dim']:>5} {r['logme']:>8.3f} {100 * r['heldout_accuracy']:>8.1f}% "
              f"{100 * r['cv_accuracy']:>5.1f}%")
    print(f"Kendall tau (LogME vs held-out accuracy) = {result['tau_heldout']:.3f}; "
          f"vs cross-validated accuracy = {result['tau_cv']:.3f}")
    print(f"LogME's top pick: {100 * result['logme_pick_heldout_accuracy']:.1f}% held out "
          f"(best candidate {100 * result['best_heldout_accuracy']:.1f}%)")
    finals = result["pretrained_final_only"]
    print(f"Pretrained final features only, as rank_models compares them ({len(finals['candidates'])}): "
          f"tau = {finals['tau_heldout']:.3f}")
    for t in result["extraction"]:
        print(f"  {t['backbone']:<40} {t['input_size']:>4} px  {t['images_per_second']:6.1f} images/s (forward)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one small dataset, two backbones, 64 px: a smoke test")
    parser.add_argument("--out", default="rank.json", help="where to write the JSON results")
    parser.add_argument("--data", help="folder for the generated datasets (default: a temporary one)")
    parser.add_argument("--image-size", type=int, default=None, help="input size (default: each model's own)")
    parser.add_argument("--max-images", type=int, default=200, help="training images sampled per dataset")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's own); 1 is faster on a CPU other jobs share")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    backbones = [BACKBONES[0], BACKBONES[3]] if args.quick else BACKBONES
    image_size = args.image_size or (64 if args.quick else None)
    max_images = 24 if args.quick else args.max_images
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.data) if args.data else Path(tmp)
        results = {}
        start = time.perf_counter()
        for name, (train_dir, heldout_dir) in make_datasets(root, args.quick).items():
            results[name] = evaluate(train_dir, heldout_dir, backbones, image_size, max_images)
            print_report(name, results[name])
    summary = {"quick": args.quick, "image_size": image_size, "seconds": time.perf_counter() - start,
               "torch_threads": torch.get_num_threads(), "datasets": results}
    Path(args.out).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(f"\n{summary['seconds']:.0f} s; JSON in {args.out}")
    print(" ".join(f"kendall_tau_heldout_{name}={r['tau_heldout']:.3f}" for name, r in results.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
