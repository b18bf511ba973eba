"""Would Auto gain from test-time augmentation or from averaging its classifier candidates? (issue 13)

    .venv/bin/python -m bench.tta_ensemble           # bench.quality's seven sets (about 5 minutes)
    .venv/bin/python -m bench.tta_ensemble --quick   # seconds: one tiny set, a smoke test

For each set of bench.quality (same training and held-out folders, 128 px), Auto's two classifier candidates
are fitted as a run fits them (core.training.linear_head, strength cross-validated on the training images):
"both" on tf_efficientnet_lite0's final features beside its earlier level's, and "earlier" on the earlier
level's alone. Each is scored on the held-out images as they are, and with test-time augmentation (TTA: the
probabilities of each image and of its mirror image averaged); and the two candidates' probabilities are
averaged (the ensemble of the best candidates), with and without TTA, and their logits averaged (one linear
head: what Auto's "both" does since 2026-12-06). The last line: ``tta_gain_best=+X.X points
tta_gain_worst=±Y.Y points ensemble_gain_best=... ensemble_gain_worst=... logits_gain_best=...
logits_gain_worst=...`` (mirror TTA, probabilities averaged and logits averaged, each against "both" alone,
on the sets where that gains most and least).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from bench.scratch import scratch_dir


# the summary line's comparisons with "both" alone: mirror TTA, probabilities averaged, logits averaged
GAINS = {"tta": "both tta", "ensemble": "averaged", "logits": "logits averaged"}


def mirrored(folder: Path, out: Path) -> Path:
    """A copy of an image folder with every image mirrored left to right (same names, same classes)."""
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            target = out / path.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(path) as image:  # JPEGs at quality 95: the mirror must not lose more than the original
                ImageOps.mirror(image).save(target, quality=95)
    return out


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def main() -> int:
    from bench.both_levels import BothLevels
    from bench.quality import datasets
    from core.training.linear_head import fit_linear
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one tiny set at 32 px: a smoke test")
    args = parser.parse_args()
    levels = BothLevels(args.quick)
    work = scratch_dir("transferlab-tta-")
    print("| set | both | both + TTA | earlier | earlier + TTA | both & earlier averaged | the same + TTA | "
          "their logits averaged |")
    print("|---|---|---|---|---|---|---|---|")
    gains: dict[str, list[float]] = {name: [] for name in GAINS}
    for set_name, (train_dir, test_dir) in datasets(work / "data", args.quick).items():
        flipped_dir = mirrored(test_dir, work / "mirrored" / set_name.replace(" ", "-").replace(",", ""))
        train, test, flipped = (levels.features(d) for d in (train_dir, test_dir, flipped_dir))
        assert np.array_equal(test.labels, flipped.labels)

        def columns(f, part):
            return np.concatenate([f.final, f.levels[0]], 1) if part == "both" else f.levels[0]

        probs, logits = {}, {}
        for part in ("both", "earlier"):
            fit = fit_linear(columns(train, part), train.labels)
            logits[part] = fit.logits(columns(test, part))
            probs[part] = _softmax(logits[part])
            probs[part + " tta"] = (probs[part] + _softmax(fit.logits(columns(flipped, part)))) / 2
        probs["averaged"] = (probs["both"] + probs["earlier"]) / 2
        probs["averaged tta"] = (probs["both tta"] + probs["earlier tta"]) / 2
        probs["logits averaged"] = _softmax((logits["both"] + logits["earlier"]) / 2)  # one linear head
        accuracy = {k: float(np.mean(p.argmax(1) == test.labels)) for k, p in probs.items()}
        for name, column in GAINS.items():
            gains[name].append(100 * (accuracy[column] - accuracy["both"]))
        order = ("both", "both tta", "earlier", "earlier tta", "averaged", "averaged tta", "logits averaged")
        print(f"| {set_name} | " + " | ".join(f"{100 * accuracy[k]:.1f}%" for k in order) + " |", flush=True)
    print(" ".join(f"{name}_gain_best={max(g):+.1f} points {name}_gain_worst={min(g):+.1f} points"
                   for name, g in gains.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
