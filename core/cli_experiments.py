"""Command-line experiments beyond a single run: compare models and strategies side by side."""

import sys
from dataclasses import replace
from pathlib import Path

from core.cli import _Bar, _CliCallback, _emit, _scan, _settings  # noqa: F401 (shared helpers)
from core.compare import CompareCallback


class _CompareCli(_CliCallback, CompareCallback):
    def on_candidate_start(self, index: int, total: int, label: str) -> None:
        self.close()
        self.bar = None
        if not self.quiet:
            print(f"[{index + 1}/{total}] {label}", file=sys.stderr)


def leaderboard_text(result: dict) -> str:
    lines = [f"{'#':>2} {'candidate':48} {'acc':>6} {'bal.acc':>7} {'s/epoch':>8} {'params':>7} {'size':>8}"]
    for i, r in enumerate(result["rows"], 1):
        if "error" in r:
            lines.append(f"{i:>2} {r['label'][:48]:48} failed: {r['error']}")
            continue
        lines.append(f"{i:>2} {r['label'][:48]:48} {r['accuracy']:6.1%} {r['balanced_accuracy']:7.1%} "
                     f"{r['seconds_per_epoch']:8.1f} {r['params_m']:6.1f}M {r['size_mb']:6.1f}MB")
    lines.append(f"Same {result['epochs']} epochs and the same held-out images (seed {result['seed']}) for all; "
                 "accuracy is measured on the held-out images.")
    return "\n".join(lines)


def cmd_compare(args) -> int:
    from core.compare import compare, make_candidates
    scan = _scan(args.data, args.quiet)
    scan.require_trainable()
    base = _settings(args)
    overrides = {"epochs": args.epochs, "batch_size": args.batch_size}
    base = replace(base, **{k: v for k, v in overrides.items() if v is not None})
    small = scan.summary()["num_images"] < 1000
    candidates = make_candidates(base, args.models, args.strategies, small)
    callback = _CompareCli(args.quiet)
    try:
        result = compare(scan, candidates, Path(args.out), callback, overwrite=args.overwrite)
    finally:
        callback.close()
    _emit(args, result, leaderboard_text(result))
    return 0


def register(command) -> None:
    """Add the experiment commands; ``command(name, help)`` makes a sub-parser with --json/--quiet."""
    from core.catalog import DEFAULT_MODEL
    from core.compare import SCRATCH
    from core.devices import DEVICE_CHOICES
    from core.settings import STRATEGIES
    c = command("compare", "train several models or strategies on the same split and budget; print a leaderboard")
    c.add_argument("data", help="folder with one subfolder per class (or train/ and val/)")
    c.add_argument("--out", required=True, help="folder for the comparison: one run folder per candidate")
    c.add_argument("--models", nargs="+", default=[DEFAULT_MODEL], metavar="MODEL")
    c.add_argument("--strategies", nargs="+", default=["feature-extraction"], choices=[*STRATEGIES, SCRATCH],
                   metavar="STRATEGY", help=f"any of {', '.join([*STRATEGIES, SCRATCH])}")
    c.add_argument("--epochs", type=int, default=5, help="the same for every candidate (default 5)")
    c.add_argument("--batch-size", type=int)
    c.add_argument("--image-size", type=int, help="the same input size for all (default: each model's own)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--val-fraction", type=float)
    c.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    c.add_argument("--overwrite", action="store_true", help="replace runs already in --out")
    c.set_defaults(func=cmd_compare)
