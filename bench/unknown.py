"""Which "unknown" score tells images of none of the classes apart best? (issue 16)

    .venv/bin/python -m bench.unknown           # 18 pairs of bench.quality's real sets (about 4 minutes)
    .venv/bin/python -m bench.unknown --quick   # seconds: one tiny pair, a smoke test (numbers mean nothing)

Each pair is a known set (its training folder teaches the classes) and an unrelated set whose held-out
images play the images of no class a user may feed the model. As Auto's first candidate does, the classifier
is fitted to convergence (core.training.linear_head) on tf_efficientnet_lite0's final features beside its
earlier level's, at 128 px. Each detector scores the known set's held-out images and the unknown ones
(higher = more unknown):

* **softmax** — one minus the top class's probability (the usual threshold on the softmax; the baseline);
* **energy** — minus the log of the summed exponentiated scores (Liu et al., 2020);
* **mahalanobis** — the distance to the nearest class mean under the shared covariance, shrunk towards its
  average variance (Lee et al., 2018; the shrinkage is needed with fewer images than feature dimensions), on
  the earlier level's features: the score a trained model carries (core.models.unknown_score), whose own
  threshold is also checked: the share of known images it accepts (the issue's bar: 95% +- 3%), of images
  held out of the training folder (a fifth, three times) and of the separate held-out folder (another source:
  other crops of the photos, typefaces never trained on);
* **mahalanobis, both levels** — the same on the final and earlier features side by side;
* **knn k=K** — the distance from the unit-length feature vector to its K-th nearest training image's
  (Sun et al., 2022).

For each it prints the AUROC (1.0: every unknown scores above every known image; 0.5: no better than
guessing) and the share of unknowns rejected where 95% of the known held-out images are accepted. The
last line: ``best=NAME worst_auroc=X.XXX softmax_worst_auroc=Y.YYY beats_softmax_on=N/M tied_at_1=T
shipped_accepted_min=A shipped_accepted_max=B another_source_accepted_min=C`` (the T pairs where both score 1.000
left out of M; accepted: of known images held out of the training folder, and of the other-source held-out folder).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench.scratch import scratch_dir

# (known set, unknown set): every ordered pair of bench.quality's five small sets but photo crops with textures (the
# photo crops include crops of the same brick, grass and gravel pictures)
SETS = ("photo crops", "digits", "glyphs", "textures", "faces")
PAIRS = tuple((a, b) for a in SETS for b in SETS if a != b and {a, b} != {"photo crops", "textures"})
KS = (1, 5, 10)


def auroc(known: np.ndarray, unknown: np.ndarray) -> float:
    """P(an unknown image scores above a known one), ties counting half: the ROC's area, as evaluate reports it."""
    from core.evaluation.metrics import roc_curve
    return roc_curve([0] * len(known) + [1] * len(unknown), [*map(float, known), *map(float, unknown)])["auc"]


def rejected_at(known: np.ndarray, unknown: np.ndarray, accepted: float = 0.95) -> float:
    """The share of unknowns above the threshold that accepts ``accepted`` of the known images."""
    return float(np.mean(unknown > np.quantile(known, accepted)))


def detectors(train_x: np.ndarray, train_y: np.ndarray, head, earlier: int) -> dict:
    """Score functions (features -> scores, higher = more unknown), fitted on the training features, whose
    earlier level's columns begin at ``earlier``."""
    def softmax(x):
        z = head.logits(x)
        z = z - z.max(1, keepdims=True)
        return 1 - 1 / np.exp(z).sum(1)  # 1 - the top probability

    def energy(x):
        z = head.logits(x)
        top = z.max(1)
        return -(top + np.log(np.exp(z - top[:, None]).sum(1)))

    import torch

    from core.models.unknown_score import fit_unknown_score
    def fitted(first_column: int):
        scorer, _ = fit_unknown_score(train_x, train_y, first_column=first_column)

        def score(x):
            with torch.no_grad():
                return scorer(torch.as_tensor(x)).double().numpy()
        score.threshold = scorer.threshold
        return score
    mahalanobis = fitted(earlier)  # what a two-level model carries (core.training.unknown_reference)
    mahalanobis.shipped = True

    unit = train_x / np.linalg.norm(train_x, axis=1, keepdims=True)

    def knn(k):
        def score(x):
            u = x / np.linalg.norm(x, axis=1, keepdims=True)
            distances = np.sqrt(np.maximum(0.0, 2 - 2 * u @ unit.T))
            return np.sort(distances, 1)[:, min(k, len(unit)) - 1]
        return score

    return {"softmax": softmax, "energy": energy, "mahalanobis": mahalanobis,
            "mahalanobis, both levels": fitted(0), **{f"knn k={k}": knn(k) for k in KS}}


def accepted_within(x: np.ndarray, y: np.ndarray, earlier: int, seeds: int = 3) -> float:
    """The share of known images a score fitted on four fifths of a training folder accepts of the fifth left
    out (mean of ``seeds`` stratified splits)."""
    import torch

    from core.data.split import stratified_folds
    from core.models.unknown_score import fit_unknown_score
    shares = []
    for seed in range(seeds):
        out = np.asarray(stratified_folds(y, 5, seed)) == 0
        scorer, _ = fit_unknown_score(x[~out], y[~out], seed=seed, first_column=earlier)
        with torch.no_grad():
            shares.append(float(np.mean(scorer(torch.as_tensor(x[out])).numpy() <= scorer.threshold)))
    return float(np.mean(shares))


def main() -> int:
    from bench.both_levels import BothLevels
    from bench.quality import datasets
    from core.training.linear_head import fit_linear
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one tiny pair at 32 px: a smoke test")
    args = parser.parse_args()
    levels = BothLevels(args.quick)
    sets = datasets(scratch_dir("transferlab-unknown-") / "data", args.quick)
    pairs = [(next(iter(sets)), list(sets)[-1])] if args.quick else PAIRS  # quick: one tiny set, as its own unknown
    features, within = {}, {}
    earlier = 0

    def columns(name: str, part: int):
        nonlocal earlier
        if (name, part) not in features:
            f = levels.features(sets[name][part])
            earlier = f.final.shape[1]
            features[name, part] = (np.concatenate([f.final, f.levels[0]], 1).astype(np.float64), f.labels)
        return features[name, part]

    names = None
    results: dict[str, list[float]] = {}
    accepted: dict[str, list[float]] = {"same folder": [], "another source": []}
    for known, unknown in pairs:
        (train_x, train_y), (test_x, _), (other_x, _) = columns(known, 0), columns(known, 1), columns(unknown, 1)
        scored = detectors(train_x, train_y, fit_linear(train_x, train_y), earlier)
        if names is None:
            names = [n for name in scored for n in ([name, f"{name}: its own threshold"]
                                                     if hasattr(scored[name], "shipped") else [name])]
            print("| known ← unknown | " + " | ".join(names) + " |")
            print("|---|" + "---|" * len(names))
        cells = []
        for name, score in scored.items():
            k_scores, u_scores = score(test_x), score(other_x)
            results.setdefault(name, []).append(auroc(k_scores, u_scores))
            cells.append(f"{results[name][-1]:.3f} / {100 * rejected_at(k_scores, u_scores):.0f}%")
            if hasattr(score, "shipped"):
                if known not in within:
                    within[known] = accepted_within(train_x, train_y, earlier)
                    accepted["same folder"].append(within[known])
                    accepted["another source"].append(float(np.mean(k_scores <= score.threshold)))
                cells.append(f"{within[known]:.0%} / {np.mean(k_scores <= score.threshold):.0%} / "
                             f"{np.mean(u_scores > score.threshold):.0%}")
        print(f"| {known} ← {unknown} | " + " | ".join(cells) + " |", flush=True)
    print("(each cell: AUROC / unknowns rejected where 95% of the known held-out images are accepted; at its own "
          "threshold, set on the training images: known images accepted, of those held out of the training folder "
          "/ of the held-out folder (another source) / unknowns rejected)")
    best = max(results, key=lambda n: (min(results[n]), np.mean(results[n])))
    untied = [(b, s) for b, s in zip(results[best], results["softmax"]) if min(b, s) < 1]
    print(f"best={best.replace(' ', '').replace(',', '+')} worst_auroc={min(results[best]):.3f} "
          f"softmax_worst_auroc={min(results['softmax']):.3f} "
          f"beats_softmax_on={sum(b > s for b, s in untied)}/{len(untied)} tied_at_1={len(results[best]) - len(untied)} "
          f"shipped_accepted_min={min(accepted['same folder']):.3f} "
          f"shipped_accepted_max={max(accepted['same folder']):.3f} "
          f"another_source_accepted_min={min(accepted['another source']):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
