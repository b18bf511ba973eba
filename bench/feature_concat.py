"""Does Auto gain from the features of several offline models, concatenated? (issue 13's candidate list)

    .venv/bin/python -m bench.feature_concat           # bench.quality's seven sets (about 5 minutes)
    .venv/bin/python -m bench.feature_concat --quick   # seconds: one tiny set, a smoke test

For each set of bench.quality (same training and held-out folders, 128 px), the converged classifier
(core.training.linear_head, its strength cross-validated on the training images) is fitted on the pooled
final features of tf_efficientnet_lite0, lite1 and lite2 (all three ship inside PyPI wheels), alone and
concatenated, and scored on the held-out images. The seconds are each model's frozen pass over both
folders. The last line: ``concat_gain_best=+X.X points concat_gain_worst=±Y.Y points`` (all three
models against lite0 alone, on the sets where that gains most and least).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

MODELS = ("tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2")


def main() -> int:
    from bench.quality import datasets
    from core.data.dataset import scan_dataset
    from core.methods.pooled_features import extract, labelled_items
    from core.models.accel import configure_threads
    from core.models.preprocess import preprocessing_for
    from core.models.weights import create_backbone
    from core.training.linear_head import fit_linear
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one tiny set at 32 px: a smoke test")
    args = parser.parse_args()
    configure_threads()
    size = 32 if args.quick else 128
    models = {name: create_backbone(name).model for name in MODELS}
    print("| set | lite0 | lite1 | lite2 | lite0+1 | lite0+1+2 | pass s (0 / 1 / 2) |")
    print("|---|---|---|---|---|---|---|")
    gains = []
    for set_name, (train_dir, test_dir) in datasets(Path(tempfile.mkdtemp(prefix="transferlab-concat-")),
                                                    args.quick).items():
        features, seconds = {}, {}
        for name, model in models.items():
            pp = preprocessing_for(model, size)
            started = time.perf_counter()
            features[name] = [extract(model, labelled_items(scan_dataset(d)), pp) for d in (train_dir, test_dir)]
            seconds[name] = time.perf_counter() - started

        def accuracy(names) -> float:
            train, test = ([np.concatenate([features[n][i].final for n in names], 1) for i in (0, 1)])
            fit = fit_linear(train, features[names[0]][0].labels)
            return float(np.mean(fit.logits(test).argmax(1) == features[names[0]][1].labels))

        scores = [accuracy(names) for names in (MODELS[:1], MODELS[1:2], MODELS[2:], MODELS[:2], MODELS)]
        gains.append(100 * (scores[-1] - scores[0]))
        print(f"| {set_name} | " + " | ".join(f"{100 * s:.1f}%" for s in scores) + " | "
              + " / ".join(f"{seconds[n]:.1f}" for n in MODELS) + " |", flush=True)
    print(f"concat_gain_best={max(gains):+.1f} points concat_gain_worst={min(gains):+.1f} points")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
