"""Domain-adversarial training (DANN) against plain fine-tuning on a constructed shift, over several seeds.

    .venv/bin/python -m bench.dann              # 5 seeds, about 2 minutes per seed on a 2-core CPU
    .venv/bin/python -m bench.dann --quick      # seconds: 1 seed, 1 epoch, few images (make test runs it)

Data (tests.shifted_data, a new draw per seed): 4 shapes; source = filled light shapes on dark
backgrounds (30 per class, 20% for validation), target = the same shapes as thin outlines on
saturated, noisy backgrounds (120 unlabeled images for DANN; 25 labelled per class for testing),
plus 25 held-out source images per class. Model: tf_efficientnet_lite0 (offline ImageNet weights)
at 64 px, top 3 of 8 layer groups fine-tuned, head and backbone learning rate 1e-3, batch 16,
no augmentation. Arms, all with the same settings and seed:

* plain: core.training.trainer.train on the source images;
* DANN: core.methods.domain_adaptation.train_adapted, domain weight 1;
* no reversal: the same with domain weight 0: target images still pass through the network (so
  BatchNorm layers that train see them, and their running statistics average both domains), but
  no reversed gradient reaches the backbone. Shows what the adversarial part itself adds.

Reported per arm: accuracy on held-out source images and on the labelled target images, the
domain classifier's accuracy on the last epoch's batches (DANN arms), and how well a nearest-centroid
classifier on the pooled features tells held-out source from target images (0.5 = indistinguishable).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

ARMS = ("plain", "DANN", "no reversal")


def _one_seed(seed: int, epochs: int, work: Path, quick: bool = False) -> dict[str, dict]:
    from core.data.dataset import scan_dataset
    from core.evaluation.predict import evaluate
    from core.methods.domain_adaptation import train_adapted
    from core.models.bundle import load_bundle
    from core.training.settings import TrainSettings
    from core.training.trainer import train
    from tests.shifted_data import bundle_features, centroid_domain_accuracy, make_shifted_domains

    sizes = dict(per_class=4, unlabeled=12, test_per_class=3, size=48) if quick else {}
    d = make_shifted_domains(work / f"data{seed}", seed=seed, **sizes)
    settings = TrainSettings(image_size=48 if quick else 64, batch_size=8 if quick else 16,
                             epochs=epochs, augmentation="none",
                             strategy="fine-tune-top", freeze_depth=3, head_lr=1e-3, backbone_lr=1e-3, seed=seed)
    scan = scan_dataset(d.source)
    out: dict[str, dict] = {}
    for arm in ARMS:
        run_dir, started = work / f"seed{seed}" / arm.replace(" ", "_"), time.monotonic()
        if arm == "plain":
            train(scan, settings, run_dir)
            domain = float("nan")
        else:
            result = train_adapted(scan, d.target_unlabeled, settings, run_dir,
                                   domain_weight=1.0 if arm == "DANN" else 0.0)
            domain = result.domain_accuracy[-1]
        bundle = load_bundle(run_dir)
        out[arm] = {"source": evaluate(bundle, scan_dataset(d.source_test)).accuracy,
                    "target": evaluate(bundle, scan_dataset(d.target_test)).accuracy, "domain_clf": domain,
                    "centroid": centroid_domain_accuracy(bundle_features(run_dir, d.source_test),
                                                         bundle_features(run_dir, d.target_test)),
                    "seconds": time.monotonic() - started}
        print(f"seed {seed} {arm:>13}: " + "  ".join(f"{k} {v:.3f}" if k != "seconds" else f"{v:.0f}s"
                                                     for k, v in out[arm].items()), flush=True)
    return out


def _mean_sd(values: list[float]) -> str:
    values = [v for v in values if v == v]
    if not values:
        return "   -"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="1 seed, 1 epoch, few images: a smoke test")
    args = parser.parse_args()
    seeds, epochs = (1, 1) if args.quick else (args.seeds, args.epochs)
    results = []
    with tempfile.TemporaryDirectory(prefix="transferlab-dann-") as tmp:
        os.environ.setdefault("TRANSFERLAB_CACHE_DIR", str(Path(tmp) / "cache"))  # cached features stay here
        for seed in range(seeds):
            results.append(_one_seed(seed, epochs, Path(tmp), args.quick))
    print(f"\n{seeds} seed(s), {epochs} epochs; mean ± sd")
    print(f"{'arm':>13}  {'source acc':>13}  {'target acc':>13}  {'domain clf':>13}  {'centroid sep':>13}")
    for arm in ARMS:
        cols = [_mean_sd([r[arm][k] for r in results]) for k in ("source", "target", "domain_clf", "centroid")]
        print(f"{arm:>13}  " + "  ".join(f"{c:>13}" for c in cols))
    gains = [r["DANN"]["target"] - r["plain"]["target"] for r in results]
    print(f"target accuracy DANN - plain: {_mean_sd(gains)} (per seed: {', '.join(f'{g:+.2f}' for g in gains)}); "
          f"DANN better on {sum(g > 0 for g in gains)} of {len(gains)} seeds")
    print(f"dann_target_gain={statistics.mean(gains):+.3f} seeds_better={sum(g > 0 for g in gains)}/{len(gains)}")


if __name__ == "__main__":
    main()
