"""Does TransferLab find the labels a user got wrong, and does accepting its suggestions help? (issue 17)

    .venv/bin/python -m bench.label_noise           # bench.quality's seven real sets, 3 seeds (a few minutes)
    .venv/bin/python -m bench.label_noise --quick   # seconds: one tiny set, a smoke test (numbers mean nothing)
    ... --cache DIR --sets "glyphs,photo crops, many" --seeds 5 --skip-active   # a part, on saved features

For each set and seed, a known 10% of the training images get another class at random. The training images'
labels are then checked as ``transferlab label-issues`` checks them (core.methods.label_issues: out-of-fold
probabilities of the converged classifier on tf_efficientnet_lite0's features at 128 px, the final level or
both levels as cross-validation prefers ("features": which, and on how many seeds both), the app's flags worst
first (confident learning's, and images whose given class is far less likely than another), then the unflagged
images least sure of their label first). Printed per set:

* **precision / recall in the top 10%**: of the first 10% of that ranking (as many images as were flipped),
  the share that were flipped, and the share of the flipped ones found there; **suggestion right**: of the
  flipped ones found there, the share whose suggested class is their true one;
* **accepting**: what accepting every suggestion in the top 10% does, as the app suggests it
  (core.methods.label_issues.action_for): the share of the flagged ones relabelled (and of those, the share
  given their true class) and the share excluded;
* **checking again**: the mistakes window's "Check again with your corrections": the labels checked once more
  with the accepted ones in, and every new flag (images decided before are not shown again) accepted likewise;
  **wrong labels left**: labels still wrong after that (flipped ones not fixed, correct ones relabelled wrongly);
* **held-out accuracy** (on the set's held-out images and, for the generated sets, ``--more-held-out`` more per
  class generated with another seed) of the converged classifier on the final features trained on the noisy
  labels, on the labels after accepting, after checking again, and on the clean labels; **lost**: the held-out
  images the noise cost (mean); **recovered**: the share of the accuracy lost to the noise that accepting won back, once
  and after checking again (shown where the noise cost at least one held-out image: below a few images, one
  image decides it); **only relabel / only exclude**: the accuracy had accepting relabelled, or excluded,
  every flagged image instead (one check); **at the clean labels' strength**: the same fits at the one L2
  strength that cross-validation picks on the clean labels, and the share recovered there (cross-validation's
  pick moves with the labels: stronger on noisy ones, which hides part of the noise, and the held-out images of
  the generated sets come from other parts of the photos or other fonts, where the training images' folds do
  not tell the strengths apart).

**Which images to label first** (core.methods.next_labels): from 2 labelled training images per class, labels are
added ten at a time, chosen by TransferLab (the classifier's least sure images, kept unlike each other) or at
random, the classifier refitted after each ten; held-out accuracy after 20, 50 and 100 added labels, mean of
5 seeds.

The last line: ``recall_min=R precision_min=P recovered_min=X active_minus_random_at_50_min=D`` over the sets
(means over the seeds; D in points).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from bench.scratch import scratch_dir
from core.methods.label_issues import RELABEL_FROM

NOISE = 0.10
SEEDS = 3
ACTIVE_SEEDS = 5
ADDED = (20, 50, 100)  # labels added, as printed
ROUND = 10  # labels added between refits
MORE_HELD_OUT = 60  # per class, generated besides the held-out images of bench.quality's generated sets
POLICIES = ("app", "relabel", "exclude")  # what accepting the suggestions does (see accepted)


def ranking(labels: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, dict[int, int]]:
    """Every image, likely mistakes first (the app's flags, worst first: core.methods.label_issues.likely_mistakes),
    then the rest least sure of their label first; and the class suggested for each flagged one."""
    from core.methods.label_issues import likely_mistakes
    flagged, suggested = likely_mistakes(labels, probabilities)
    rest = np.setdiff1d(np.arange(len(labels)), flagged)
    rest = rest[np.argsort(probabilities[rest, labels[rest]], kind="stable")]
    return np.concatenate([flagged, rest]), dict(zip(flagged.tolist(), suggested.tolist()))


def accuracy(x: np.ndarray, y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, classes: int,
             keep: np.ndarray | None = None, l2: float | None = None) -> float:
    """Held-out accuracy of the converged classifier fitted on (``x``, ``y``) rows ``keep``; its strength chosen
    by cross-validation as the app chooses it, or ``l2``."""
    from core.training.linear_head import fit_linear
    keep = np.ones(len(y), dtype=bool) if keep is None else keep
    return float(np.mean(fit_linear(x[keep], y[keep], classes, l2=l2).logits(test_x).argmax(1) == test_y))


def accepted(noisy: np.ndarray, suggestions: dict[int, tuple[int, str]], policy: str) -> tuple[np.ndarray, np.ndarray]:
    """(labels, rows kept) after accepting every suggestion: each relabelled as suggested ("relabel"), each
    excluded ("exclude"), or as its suggestion's action says ("app": core.methods.label_issues.action_for)."""
    labels, keep = noisy.copy(), np.ones(len(noisy), dtype=bool)
    for i, (suggested, action) in suggestions.items():
        if (action if policy == "app" else policy) == "relabel":
            labels[i] = suggested
        else:
            keep[i] = False
    return labels, keep


def one_seed(x, y, test_x, test_y, classes: int, seed: int, earlier=None, clean: float | None = None,
             strength: float | None = None) -> dict:
    """One seed's flips, check and accepting; ``strength``: also score each fit at this fixed strength (the clean
    labels' choice), which tells what the labels change from what cross-validation's choice changes."""
    from core.methods.label_issues import action_for, probabilities_by_evidence
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(y), max(1, round(NOISE * len(y))), replace=False)
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, classes, len(flipped))) % classes
    p, level = probabilities_by_evidence(x, earlier, noisy, classes, seed=seed)
    order, suggested = ranking(noisy, p)
    top = order[:len(flipped)]
    hits = len(set(top.tolist()) & set(flipped.tolist()))
    suggestions = {i: (suggested[i], action_for(float(p[i, suggested[i]]))) for i in top.tolist() if i in suggested}
    relabelled = [i for i, (_, action) in suggestions.items() if action == "relabel"]
    wrong = np.intersect1d(top, flipped).tolist()  # found: right when flagged with their true class
    result = {"precision": hits / len(top), "recall": hits / len(flipped), "both": float(level == "both"),
              "suggested_right": float(np.mean([suggested.get(i) == y[i] for i in wrong])) if wrong else float("nan"),
              "relabel_share": len(relabelled) / max(1, len(suggestions)), "exclude_share":
                  (len(suggestions) - len(relabelled)) / max(1, len(suggestions)),
              "relabel_right": float(np.mean([suggested[i] == y[i] for i in relabelled])) if relabelled else
              float("nan"), "noisy": accuracy(x, noisy, test_x, test_y, classes),
              "clean": accuracy(x, y, test_x, test_y, classes) if clean is None else clean}
    for policy in POLICIES:
        labels, keep = accepted(noisy, suggestions, policy)
        result[policy] = accuracy(x, labels, test_x, test_y, classes, keep)
    labels, keep = checked_again(x, earlier, *accepted(noisy, suggestions, "app"), set(suggestions), classes, seed)
    result["again"] = accuracy(x, labels, test_x, test_y, classes, keep)
    if strength is not None:
        once = accepted(noisy, suggestions, "app")
        for key, (fit_labels, fit_keep) in {"noisy": (noisy, None), "app": once, "again": (labels, keep),
                                            "clean": (y, None)}.items():
            result[f"{key}_fixed"] = accuracy(x, fit_labels, test_x, test_y, classes, fit_keep, strength)
    result["wrong_left"] = float(np.sum(labels[keep] != y[keep]))
    return result


def checked_again(x, earlier, labels, keep, decided: set, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The window's "Check again with your corrections": the labels checked once more with the accepted ones in
    (excluded images left out), and every new flag accepted as the app suggests it; images decided before are
    not shown again."""
    from core.methods.label_issues import action_for, probabilities_by_evidence
    rows = np.flatnonzero(keep)
    p, _ = probabilities_by_evidence(x[rows], None if earlier is None else earlier[rows], labels[rows], classes,
                                     seed=seed)
    _, suggested = ranking(labels[rows], p)
    more = {int(rows[i]): (s, action_for(float(p[i, s]))) for i, s in suggested.items() if int(rows[i]) not in decided}
    labels, kept = accepted(labels, more, "app")
    return labels, keep & kept


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


def features(levels, name: str, train_dir: Path, test_dir: Path, cache: Path | None, more: int = 0) -> dict:
    """The set's final and earlier-level features, train and held-out (from ``cache`` where it has them); the
    held-out images with ``more`` per class generated besides (see more_held_out), where the set is generated."""
    file = None if cache is None else cache / f"{name.replace(',', '').replace(' ', '-')}.npz"
    found: dict = {}
    if file is not None and file.exists():
        with np.load(file) as saved:
            found = {k: saved[k] for k in saved.files}
    computed = not found
    if computed:
        train, test = levels.features(train_dir), levels.features(test_dir)
        found = {"x": train.final, "earlier": train.levels[0], "y": train.labels, "test_x": test.final,
                 "test_y": test.labels}
    key = f"more_{more}_x"
    extra = None if key in found else more_held_out(name, test_dir.parent.parent / "more-held-out", more)
    if extra is not None:  # (generated, and their features computed, only when the cache lacks them)
        test = levels.features(extra)
        found.update({key: test.final, f"more_{more}_y": test.labels})
        computed = True
    if file is not None and computed:
        file.parent.mkdir(parents=True, exist_ok=True)
        np.savez(file, **found)
    if key in found:  # scored on both: the set's own held-out images and the ones generated besides
        found["test_x"] = np.concatenate([found["test_x"], found[key]])
        found["test_y"] = np.concatenate([found["test_y"], found[f"more_{more}_y"]])
    return found


def more_held_out(name: str, root: Path, per_class: int) -> Path | None:
    """``per_class`` more held-out images per class for a generated set (photo crops from the photos' held-out
    region, glyphs in the held-out fonts; another seed than the set's own), or None: with 130 held-out images
    one image is 0.8 points, more than the accuracy that 10% wrong labels cost (bench notes, 2026-12-06)."""
    from bench import glyphs, photo_patches
    if per_class <= 0 or not name.startswith(("photo crops", "glyphs")):
        return None
    folder = root / name.replace(",", "").replace(" ", "-")
    if name.startswith("photo crops"):
        photo_patches.write(folder, per_class=0, val_per_class=per_class, classes=len(photo_patches.PHOTOS),
                            seed=101)
        return folder / "val"
    glyphs.write(folder, per_class=0, held_out=per_class, seed=101)
    return folder / "heldout"


def held_out_inside(f: dict, fraction: float, seed: int = 0) -> dict:
    """The set with a stratified ``fraction`` of its training images as the held-out images instead (their true
    labels; the rest train): held-out images like the training ones, as the app's validation images are, where
    the generated sets' own held-out images come from other parts of the photos or other fonts."""
    rng = np.random.default_rng(seed)
    y = f["y"].astype(np.int64)
    test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        test[rng.choice(rows, max(1, round(fraction * len(rows))), replace=False)] = True
    return {"x": f["x"][~test], "earlier": f["earlier"][~test], "y": y[~test], "test_x": f["x"][test],
            "test_y": y[test]}


def mistakes(name: str, f: dict, seeds: int) -> tuple[dict, int]:
    x, y, test_x = f["x"].astype(np.float64), f["y"].astype(np.int64), f["test_x"].astype(np.float64)
    classes = int(y.max()) + 1
    from core.training.linear_head import fit_linear
    strength = fit_linear(x, y, classes).l2  # what cross-validation chooses on the clean labels
    clean = accuracy(x, y, test_x, f["test_y"], classes)
    runs = [one_seed(x, y, test_x, f["test_y"], classes, seed, f["earlier"].astype(np.float64), clean, strength)
            for seed in range(seeds)]
    return {k: _mean([r[k] for r in runs]) for k in runs[0]}, classes


def _mean(values: list[float]) -> float:
    """The mean of the numbers that are not NaN (NaN where none are)."""
    values = [v for v in values if v == v]
    return float(np.mean(values)) if values else float("nan")


def main() -> int:
    from bench.both_levels import BothLevels
    from bench.quality import datasets
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one tiny set at 32 px: a smoke test")
    parser.add_argument("--cache", type=Path, help="a folder for each set's features (read where there, else written)")
    parser.add_argument("--skip-active", action="store_true", help="only the mistakes table")
    parser.add_argument("--sets", help="only these sets, comma-separated names (e.g. 'glyphs,textures')")
    parser.add_argument("--seeds", type=int, help=f"seeds of the mistakes table (default {SEEDS})")
    parser.add_argument("--held-out-inside", type=float, metavar="FRACTION",
                        help="hold out this share of each set's training images instead of its held-out images")
    parser.add_argument("--more-held-out", type=int, default=MORE_HELD_OUT,
                        help=f"more held-out images per class for the generated sets (default {MORE_HELD_OUT})")
    args = parser.parse_args()
    levels = BothLevels(args.quick)
    sets = datasets(scratch_dir("transferlab-label-noise-") / "data", args.quick)
    if args.sets:
        sets = {name: sets[name] for name in re.split(r",(?! )", args.sets)}  # "photo crops, many" is one name
    seeds = args.seeds or (1 if args.quick else SEEDS)
    print("| set | train / held-out | features | precision top 10% | recall top 10% | suggestion right | "
          "accepting: relabel / exclude | accuracy noisy | after accepting | after checking again | clean | "
          "lost (held-out images) | recovered: once / checked again | wrong labels left | only relabel / only "
          "exclude | at the clean labels' strength: noisy / accepting / checked again / clean | recovered there: "
          "once / checked again |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    recalls, precisions, recovered, recovered_fixed, found = [], [], [], [], {}
    for name, (train_dir, test_dir) in sets.items():
        found[name] = f = features(levels, name, train_dir, test_dir, args.cache, 0 if args.quick else
                                   args.more_held_out)
        if args.held_out_inside:
            found[name] = f = held_out_inside(f, args.held_out_inside)
        mean, _ = mistakes(name, f, seeds)
        held = len(f["test_y"])
        lost = mean["clean"] - mean["noisy"]
        shown = lost * held >= 1 - 1e-9
        once, won = ((mean[k] - mean["noisy"]) / lost if shown else None for k in ("app", "again"))
        recalls.append(mean["recall"])
        precisions.append(mean["precision"])
        if won is not None:
            recovered.append(won)
        lost_fixed = mean["clean_fixed"] - mean["noisy_fixed"]
        once_fixed, won_fixed = ((mean[k] - mean["noisy_fixed"]) / lost_fixed if lost_fixed * held >= 1 - 1e-9
                                 else None for k in ("app_fixed", "again_fixed"))
        if won_fixed is not None:
            recovered_fixed.append(won_fixed)
        print(f"| {name} | {len(f['y'])} / {held} | {'both' if mean['both'] >= 0.5 else 'final'} "
              f"({mean['both']:.0%} both) | {mean['precision']:.2f} | {mean['recall']:.2f} | "
              f"{mean['suggested_right']:.0%} | {mean['relabel_share']:.0%} ({mean['relabel_right']:.0%} right) / "
              f"{mean['exclude_share']:.0%} | {mean['noisy']:.1%} | {mean['app']:.1%} | {mean['again']:.1%} | "
              f"{mean['clean']:.1%} | {lost * held:.1f} of {held} | {_share(once)} / {_share(won)} | "
              f"{mean['wrong_left']:.1f} of {round(NOISE * len(f['y']))} | {mean['relabel']:.1%} / "
              f"{mean['exclude']:.1%} | {mean['noisy_fixed']:.1%} / {mean['app_fixed']:.1%} / "
              f"{mean['again_fixed']:.1%} / {mean['clean_fixed']:.1%} | {_share(once_fixed)} / {_share(won_fixed)} |",
              flush=True)
    print(f"(means over {seeds} seed(s); {NOISE:.0%} of the training labels flipped to another class at random; "
          "features: the level the out-of-fold classifier used, chosen per seed by cross-validated accuracy; "
          f"accepting: the flagged images in the top 10% relabelled (suggested class's probability at least "
          f"{RELABEL_FROM:.0%}) or excluded; checking again: the window's 'Check again with your corrections', "
          "every new flag accepted; recovered: shown where the noise cost at least one held-out image, and the "
          "last line's figure is after checking again; wrong labels left: of those flipped, after checking again; "
          "at the clean labels' strength: every fit at the L2 strength cross-validation picks on the clean labels, "
          "so that what the labels change is told from what the strength cross-validation picks changes)")
    gains = [] if args.skip_active else active_table(found, args.quick)
    print(f"recall_min={min(recalls):.2f} precision_min={min(precisions):.2f} "
          f"recovered_min={min(recovered) if recovered else float('nan'):.2f} "
          f"recovered_at_clean_strength_min={min(recovered_fixed) if recovered_fixed else float('nan'):.2f} "
          f"active_minus_random_at_50_min={min(gains) if gains else float('nan'):+.1f} points")
    return 0


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def active_table(found: dict, quick: bool) -> list[float]:
    print()
    print("| set | from | " + " | ".join(f"+{n} chosen / random" for n in ADDED) + " |")
    print("|---|---|" + "---|" * len(ADDED))
    gains = []
    for name, f in found.items():
        x, y, test_x = f["x"].astype(np.float64), f["y"].astype(np.int64), f["test_x"].astype(np.float64)
        classes = int(y.max()) + 1
        seeds = range(1 if quick else ACTIVE_SEEDS)
        chosen = np.mean([active(x, y, test_x, f["test_y"], classes, s, True) for s in seeds], axis=0)
        drawn = np.mean([active(x, y, test_x, f["test_y"], classes, s, False) for s in seeds], axis=0)
        gains.append(100 * (chosen[ADDED.index(50)] - drawn[ADDED.index(50)]))
        print(f"| {name} | {2 * classes} of {len(y)} | " + " | ".join(
            f"{c:.1%} / {d:.1%}" for c, d in zip(chosen, drawn)) + " |", flush=True)
    return gains


if __name__ == "__main__":
    raise SystemExit(main())
