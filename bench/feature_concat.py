"""Does Auto gain from features concatenated: of several offline models, or of two levels of one? (issue 13)

    .venv/bin/python -m bench.feature_concat           # bench.quality's seven sets (about 5 minutes)
    .venv/bin/python -m bench.feature_concat --quick   # seconds: one tiny set, a smoke test

For each set of bench.quality (same training and held-out folders, 128 px), the converged classifier
(core.training.linear_head, its strength cross-validated on the training images) is fitted on the pooled
final features of tf_efficientnet_lite0, lite1 and lite2 (all three ship inside PyPI wheels), alone and
concatenated, and scored on the held-out images; and on lite0's earlier level (where Auto cuts it) alone
and beside its final features (one pass gives both: core.training.engines.LevelsEncoder), with the
classifier's cross-validated accuracy on the training images in brackets. The seconds are each model's
frozen pass over both folders. The last line: ``concat_gain_best=+X.X points concat_gain_worst=±Y.Y
points levels_gain_best=... levels_gain_worst=...`` (all three models, then lite0's two levels, against
lite0's final features alone, on the sets where that gains most and least).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.scratch import scratch_dir

MODELS = ("tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2")


def main() -> int:
    from bench.quality import datasets
    from core.data.dataset import scan_dataset
    from core.methods.pooled_features import extract, labelled_items
    from core.models.accel import configure_threads
    from core.models.network import default_cut_index
    from core.models.preprocess import preprocessing_for
    from core.models.weights import create_backbone
    from core.training.linear_head import fit_linear
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one tiny set at 32 px: a smoke test")
    args = parser.parse_args()
    configure_threads()
    size = 32 if args.quick else 128
    models = {name: create_backbone(name).model for name in MODELS}
    cut = default_cut_index(models[MODELS[0]])
    print(f"| set | lite0 | lite1 | lite2 | lite0+1 | lite0+1+2 | lite0 level {cut} | lite0 final + level {cut} | "
          "pass s (0 / 1 / 2) |")
    print("|---|---|---|---|---|---|---|---|---|")
    gains, level_gains = [], []
    for set_name, (train_dir, test_dir) in datasets(scratch_dir("transferlab-concat-"),
                                                    args.quick).items():
        features, seconds = {}, {}
        for name, model in models.items():
            pp = preprocessing_for(model, size)
            started = time.perf_counter()
            levels = [cut] if name == MODELS[0] and cut is not None else []
            features[name] = [extract(model, labelled_items(scan_dataset(d)), pp, levels=levels)
                              for d in (train_dir, test_dir)]
            seconds[name] = time.perf_counter() - started

        def fitted(arrays, labels) -> tuple[float, float]:  # (held-out accuracy, cross-validated accuracy)
            fit = fit_linear(arrays[0], labels[0])
            return float(np.mean(fit.logits(arrays[1]).argmax(1) == labels[1])), float(fit.cv_accuracy or 0.0)

        labels = [features[MODELS[0]][i].labels for i in (0, 1)]
        scores = [fitted([np.concatenate([features[n][i].final for n in names], 1) for i in (0, 1)], labels)[0]
                  for names in (MODELS[:1], MODELS[1:2], MODELS[2:], MODELS[:2], MODELS)]
        gains.append(100 * (scores[-1] - scores[0]))
        cells = [f"{100 * s:.1f}%" for s in scores]
        if cut is not None:
            lite0 = features[MODELS[0]]
            level = fitted([lite0[i].levels[0] for i in (0, 1)], labels)
            both = fitted([np.concatenate([lite0[i].final, lite0[i].levels[0]], 1) for i in (0, 1)], labels)
            level_gains.append(100 * (both[0] - scores[0]))
            cells += [f"{100 * a:.1f}% (cv {100 * cv:.1f}%)" for a, cv in (level, both)]
        print(f"| {set_name} | " + " | ".join(cells) + " | " + " / ".join(f"{seconds[n]:.1f}" for n in MODELS) + " |",
              flush=True)
    print(f"concat_gain_best={max(gains):+.1f} points concat_gain_worst={min(gains):+.1f} points"
          + (f" levels_gain_best={max(level_gains):+.1f} points levels_gain_worst={min(level_gains):+.1f} points"
             if level_gains else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
