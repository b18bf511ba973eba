"""TransferLab's trainer against a plain PyTorch tutorial loop, in one process, on the same data and model.

    .venv/bin/python -m bench.compare            # full run (about 12 minutes on a 2-core CPU)
    .venv/bin/python -m bench.compare --quick    # seconds: a smoke test of the same code (make test runs it)

Data: crops of real photos that ship with scikit-image (bench.photo_patches), validated on regions of
each photo never seen in training. Model: tf_efficientnet_lite0 with its offline ImageNet weights.
For each scenario TransferLab runs first (so any memory the allocator keeps helps the baseline), then
the baseline (bench.baseline). Both use the same split, batch size, optimiser, learning rates,
schedule and epochs; TransferLab uses its strategy defaults otherwise. Reported per arm: end-to-end
time (model loading, decoding, caching, training, validation each epoch, saving), time to reach the
target accuracy (the baseline's best minus one point), best validation accuracy, training images per
second end to end, and peak memory growth (resident set, sampled every 5 ms, above the arm's start).

The last line is ``feature_extraction_speedup=X fine_tune_speedup=Y accuracy_delta=Z``: the end-to-end
speed-up of feature extraction; the per-epoch speed-up of fine-tuning the top layers (large + similar
quadrant, no augmentation so the freeze-boundary cache applies; the one-off caching pass is in the
end-to-end column); and TransferLab's feature-extraction accuracy minus the baseline's, in points.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench.memory import PeakMemory
from bench.scratch import scratch_dir


@dataclass
class Arm:
    name: str
    epochs: list[dict] = field(default_factory=list)  # {epoch, seconds (since start), epoch_seconds, val_accuracy}
    total_s: float = 0.0
    peak_mib: float = 0.0
    train_images: int = 0

    @property
    def best(self) -> float:
        return max(e["val_accuracy"] for e in self.epochs)

    def time_to(self, target: float) -> float:
        return next((e["seconds"] for e in self.epochs if e["val_accuracy"] >= target - 1e-9), math.inf)

    @property
    def mean_epoch_s(self) -> float:
        """Seconds per epoch once training runs (one-off preparation and model loading excluded)."""
        return sum(e["epoch_seconds"] for e in self.epochs) / len(self.epochs)

    @property
    def images_per_s(self) -> float:
        return self.train_images * len(self.epochs) / self.total_s


def _ours(name: str, scan, settings, out: Path) -> Arm:
    from core.training.events import TrainCallback
    from core.training.trainer import train
    arm = Arm(name)
    start = time.perf_counter()

    class Timer(TrainCallback):
        def on_fit_start(self, e):
            arm.train_images = e.train_images

        def on_epoch_end(self, e):
            arm.epochs.append({"epoch": e.epoch, "seconds": time.perf_counter() - start,
                               "epoch_seconds": e.seconds, "val_accuracy": e.val_accuracy})

    with PeakMemory() as memory:
        train(scan, settings, out, Timer(), overwrite=True)
    arm.total_s, arm.peak_mib = time.perf_counter() - start, memory.peak_growth / 2**20
    return arm


def _baseline(name: str, scan, settings) -> Arm:
    from bench import baseline
    from core.data.dataset import make_split
    split = make_split(scan, settings.val_fraction, settings.seed)
    files = lambda items: [(i.path, i.label) for i in items]  # noqa: E731
    arm = Arm(name, train_images=len(split.train))
    start = time.perf_counter()
    with PeakMemory() as memory:
        baseline.run(files(split.train), files(split.val), len(scan.classes), settings, arm.epochs.append)
    arm.total_s, arm.peak_mib = time.perf_counter() - start, memory.peak_growth / 2**20
    return arm


def _seconds(value: float) -> str:
    return "not reached" if math.isinf(value) else f"{value:.1f} s"


def _ratio(a: float, b: float) -> str:
    return "n/a" if math.isinf(a) or math.isinf(b) else f"{a / b:.1f}x"


def _row(arm: Arm, target: float) -> str:
    return (f"| {arm.name} | {arm.total_s:.1f} s | {arm.mean_epoch_s:.1f} s | {_seconds(arm.time_to(target))} | "
            f"{100 * arm.best:.1f}% | {arm.images_per_s:.1f} | {arm.peak_mib:.0f} MiB |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (seconds): a smoke test, numbers meaningless")
    parser.add_argument("--data", help="use this dataset folder instead of generating one")
    args = parser.parse_args()
    work = scratch_dir("transferlab-bench-")
    os.environ["TRANSFERLAB_CACHE_DIR"] = str(work / "cache")  # cold caches: the first run pays for them

    import torch

    from bench.photo_patches import write
    from core.data.dataset import scan_dataset
    from core.models.accel import configure_threads, cpu_has_native_bf16
    from core.training.settings import TrainSettings, with_strategy

    if args.data:
        data = Path(args.data)
    elif args.quick:
        data = write(work / "data", per_class=6, val_per_class=3, classes=3)
    else:
        data = write(work / "data", per_class=50, val_per_class=15, classes=8)
    scan = scan_dataset(data)
    threads = configure_threads()
    quick = args.quick
    base = TrainSettings(image_size=64 if quick else None, batch_size=8 if quick else 32)
    # The tutorial loop trains its classifier in epochs: so does TransferLab here, for a like-for-like
    # comparison of the engines (its default fits the classifier to convergence; bench.quality measures that).
    fe = with_strategy(base, "feature-extraction", 8, None)
    fe = replace(fe, classifier_fit="epochs", epochs=2 if quick else 10)
    # The tutorial loop does one stage without L2-SP: so does TransferLab here (two-stage and L2-SP,
    # its defaults for fine-tuning, would make the two arms train different recipes).
    ft = with_strategy(base, "fine-tune-top", 8, None, small=False)
    ft = replace(ft, augmentation="none", epochs=2 if quick else ft.epochs, two_stage=False, l2sp_alpha=0.0)
    scenarios = [("Feature extraction", fe, replace(fe, augmentation="light")),
                 ("Fine-tune top 3 of 8 groups, no augmentation", ft, ft)]
    if not quick:
        fa = with_strategy(base, "fine-tune-all", 8, None, small=True)
        fa = replace(fa, epochs=2, two_stage=False, l2sp_alpha=0.0)
        scenarios.append(("Fine-tune all layers, light augmentation", fa, fa))

    print(f"data: {data} ({sum(scan.class_counts().values())} images, {len(scan.classes)} classes); "
          f"torch {torch.__version__}, {threads} threads; CPU bf16: "
          f"{'native, used' if cpu_has_native_bf16() else 'not native on this CPU, fp32 used'}", flush=True)
    results = []
    for title, ours_settings, baseline_settings in scenarios:
        print(f"\n{title}: TransferLab ({ours_settings.augmentation} augmentation, {ours_settings.epochs} epochs) …",
              flush=True)
        ours = _ours("TransferLab", scan, ours_settings, work / "run")
        extra = []
        if ours_settings.strategy == "feature-extraction":
            extra.append(_ours("TransferLab, cache reused", scan, ours_settings, work / "run"))
        print(f"{title}: baseline ({baseline_settings.augmentation} augmentation, {baseline_settings.epochs} epochs) …",
              flush=True)
        plain = _baseline("plain PyTorch loop", scan, baseline_settings)
        target = plain.best - 0.01
        print(f"\n### {title}\n")
        print("| run | end to end | per epoch | time to target | best val. accuracy | train images/s | peak memory |")
        print("|---|---|---|---|---|---|---|")
        for arm in (ours, *extra, plain):
            print(_row(arm, target))
        print(f"\nspeed-up end to end {plain.total_s / ours.total_s:.1f}x, per epoch "
              f"{plain.mean_epoch_s / ours.mean_epoch_s:.1f}x, to target accuracy "
              f"{_ratio(plain.time_to(target), ours.time_to(target))}; accuracy "
              f"{100 * (ours.best - plain.best):+.1f} points; memory {ours.peak_mib:.0f} vs {plain.peak_mib:.0f} MiB",
              flush=True)
        results.append((ours, plain))
    if cpu_has_native_bf16():  # bf16 stays on only if it costs no more than half a point of accuracy
        for (ours, _), (title, settings, _) in zip(results, scenarios):
            fp32 = _ours("TransferLab, fp32", scan, replace(settings, precision="fp32"), work / "run")
            print(f"{title}: bf16 {100 * ours.best:.1f}% vs fp32 {100 * fp32.best:.1f}% "
                  f"(bf16_accuracy_delta={100 * (ours.best - fp32.best):+.1f}), {fp32.total_s / ours.total_s:.1f}x faster")
    (fe_ours, fe_plain), (ft_ours, ft_plain) = results[0], results[1]
    print(f"feature_extraction_speedup={fe_plain.total_s / fe_ours.total_s:.1f} "
          f"fine_tune_speedup={ft_plain.mean_epoch_s / ft_ours.mean_epoch_s:.1f} "
          f"accuracy_delta={100 * (fe_ours.best - fe_plain.best):+.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
