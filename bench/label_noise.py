"""Does TransferLab find the labels a user got wrong, and does accepting its suggestions help? (issue 17)

    .venv/bin/python -m bench.label_noise           # bench.quality's seven real sets, 3 seeds (a few minutes)
    .venv/bin/python -m bench.label_noise --quick   # seconds: one tiny set, a smoke test (numbers mean nothing)

For each set and seed, a known 10% of the training images get another class at random. The training images'
labels are then checked as ``transferlab label-issues`` checks them (core.methods.label_issues: out-of-fold
probabilities of the converged classifier on tf_efficientnet_lite0's final features at 128 px, confident
learning's flags worst first, then the unflagged images least sure of their label first). Printed per set:

* **precision / recall in the top 10%**: of the first 10% of that ranking (as many images as were flipped),
  the share that were flipped, and the share of the flipped ones found there; **suggestion right**: of the
  flipped ones found there, the share whose suggested class is their true one;
* **held-out accuracy** of the converged classifier trained on the noisy labels, on the labels after accepting
  every suggestion in the top 10% (the flagged ones among them take the suggested class), and on the clean
  labels; **recovered**: the share of the accuracy lost to the noise that accepting won back (shown where the
  noise cost at least one held-out image).

**Which images to label first** (core.methods.next_labels): from 2 labelled training images per class, labels are
added ten at a time, chosen by TransferLab (the classifier's least sure images, kept unlike each other) or at
random, the classifier refitted after each ten; held-out accuracy after 20, 50 and 100 added labels, mean of
5 seeds.

The last line: ``recall_min=R precision_min=P recovered_min=X active_minus_random_at_50_min=D`` over the sets
(means over the seeds; D in points).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

NOISE = 0.10
SEEDS = 3
ACTIVE_SEEDS = 5
ADDED = (20, 50, 100)  # labels added, as printed
ROUND = 10  # labels added between refits


def ranking(labels: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, dict[int, int]]:
    """Every image, likely mistakes first (confident learning's flags, worst first), then the rest least sure of
    their label first; and the class suggested for each flagged one."""
    from core.methods.label_issues import confident_issues
    flagged, suggested = confident_issues(labels, probabilities)
    rest = np.setdiff1d(np.arange(len(labels)), flagged)
    rest = rest[np.argsort(probabilities[rest, labels[rest]], kind="stable")]
    return np.concatenate([flagged, rest]), dict(zip(flagged.tolist(), suggested.tolist()))


def accuracy(x: np.ndarray, y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, classes: int) -> float:
    from core.training.linear_head import fit_linear
    return float(np.mean(fit_linear(x, y, classes).logits(test_x).argmax(1) == test_y))


def one_seed(x, y, test_x, test_y, classes: int, seed: int) -> dict:
    from core.methods.label_issues import out_of_fold_probabilities
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(y), max(1, round(NOISE * len(y))), replace=False)
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, classes, len(flipped))) % classes
    order, suggested = ranking(noisy, out_of_fold_probabilities(x, noisy, classes, seed=seed))
    top = order[:len(flipped)]
    hits = len(set(top.tolist()) & set(flipped.tolist()))
    accepted = noisy.copy()
    for i in top.tolist():
        accepted[i] = suggested.get(i, accepted[i])
    wrong = np.intersect1d(top, flipped)
    return {"precision": hits / len(top), "recall": hits / len(flipped),
            "suggested_right": float(np.mean(accepted[wrong] == y[wrong])) if len(wrong) else float("nan"),
            "noisy": accuracy(x, noisy, test_x, test_y, classes), "accepted": accuracy(x, accepted, test_x, test_y,
                                                                                        classes),
            "clean": accuracy(x, y, test_x, test_y, classes)}


def active(x, y, test_x, test_y, classes: int, seed: int, chosen_by_model: bool, added=ADDED) -> list[float]:
    """Held-out accuracy after each of ``added`` labels, from 2 per class, ROUND at a time."""
    from core.methods.next_labels import next_to_label
    from core.training.linear_head import fit_linear
    rng = np.random.default_rng(seed)
    labelled = [int(i) for c in range(classes) for i in rng.choice(np.flatnonzero(y == c), 2, replace=False)]
    scores, fit = [], fit_linear(x[labelled], y[labelled], classes)
    while len(labelled) - 2 * classes < max(added):
        pool = np.setdiff1d(np.arange(len(y)), labelled)
        if not len(pool):
            break
        step = min(ROUND, max(added) - (len(labelled) - 2 * classes))
        if chosen_by_model:
            picks = pool[next_to_label(fit.probabilities(x[pool]), x[pool], step, x[labelled])]
        else:
            picks = rng.choice(pool, min(step, len(pool)), replace=False)
        labelled += [int(i) for i in picks]
        fit = fit_linear(x[labelled], y[labelled], classes)
        if len(labelled) - 2 * classes in added:
            scores.append(float(np.mean(fit.logits(test_x).argmax(1) == test_y)))
    return scores + [scores[-1] if scores else float("nan")] * (len(added) - len(scores))  # a pool run dry


def main() -> int:
    from bench.both_levels import BothLevels
    from bench.quality import datasets
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one tiny set at 32 px: a smoke test")
    args = parser.parse_args()
    levels = BothLevels(args.quick)
    sets = datasets(Path(tempfile.mkdtemp(prefix="transferlab-label-noise-")) / "data", args.quick)
    print("| set | train / held-out | precision top 10% | recall top 10% | suggestion right | accuracy noisy | "
          "after accepting | clean | recovered |")
    print("|---|---|---|---|---|---|---|---|---|")
    recalls, precisions, recovered, features = [], [], [], {}
    for name, (train_dir, test_dir) in sets.items():
        train, test = levels.features(train_dir), levels.features(test_dir)
        x, y = train.final.astype(np.float64), train.labels.astype(np.int64)
        classes = int(y.max()) + 1
        features[name] = (x, y, test.final.astype(np.float64), test.labels, classes)
        runs = [one_seed(x, y, test.final.astype(np.float64), test.labels, classes, seed)
                for seed in range(1 if args.quick else SEEDS)]
        mean = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        lost = mean["clean"] - mean["noisy"]
        won = (mean["accepted"] - mean["noisy"]) / lost if lost * len(test.labels) >= 1 else None
        recalls.append(mean["recall"])
        precisions.append(mean["precision"])
        if won is not None:
            recovered.append(won)
        print(f"| {name} | {len(y)} / {len(test.labels)} | {mean['precision']:.2f} | {mean['recall']:.2f} | "
              f"{mean['suggested_right']:.0%} | "
              f"{mean['noisy']:.1%} | {mean['accepted']:.1%} | {mean['clean']:.1%} | "
              f"{'-' if won is None else f'{won:.0%}'} |", flush=True)
    print(f"(means over {len(runs)} seed(s); {NOISE:.0%} of the training labels flipped to another class at random; "
          "recovered: shown where the noise cost at least one held-out image)")
    print()
    print("| set | from | " + " | ".join(f"+{n} chosen / random" for n in ADDED) + " |")
    print("|---|---|" + "---|" * len(ADDED))
    gains = []
    for name, (x, y, test_x, test_y, classes) in features.items():
        seeds = range(1 if args.quick else ACTIVE_SEEDS)
        chosen = np.mean([active(x, y, test_x, test_y, classes, s, True) for s in seeds], axis=0)
        drawn = np.mean([active(x, y, test_x, test_y, classes, s, False) for s in seeds], axis=0)
        gains.append(100 * (chosen[ADDED.index(50)] - drawn[ADDED.index(50)]))
        print(f"| {name} | {2 * classes} of {len(y)} | " + " | ".join(
            f"{c:.1%} / {d:.1%}" for c, d in zip(chosen, drawn)) + " |", flush=True)
    print(f"recall_min={min(recalls):.2f} precision_min={min(precisions):.2f} "
          f"recovered_min={min(recovered) if recovered else float('nan'):.2f} "
          f"active_minus_random_at_50_min={min(gains):+.1f} points")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
