"""Command-line experiments beyond a single run: rank models before training, probe the layers, find a
learning rate, compare models and strategies side by side."""

import sys
from dataclasses import replace
from pathlib import Path

from core.cli.common import Bar, CliCallback, base_settings, emit, scan_folder
from core.methods.compare import CompareCallback


class _CompareCli(CliCallback, CompareCallback):
    def on_candidate_start(self, index: int, total: int, label: str) -> None:
        self.close()
        self.bar = None
        if not self.quiet:
            print(f"[{index + 1}/{total}] {label}", file=sys.stderr)


def leaderboard_text(result) -> str:  # core.methods.compare.Comparison
    lines = [f"{'#':>2} {'candidate':48} {'acc':>6} {'bal.acc':>7} {'s/epoch':>8} {'params':>7} {'size':>8}"]
    for i, r in enumerate(result.rows, 1):
        if "error" in r:
            lines.append(f"{i:>2} {r['label'][:48]:48} failed: {r['error']}")
            continue
        lines.append(f"{i:>2} {r['label'][:48]:48} {r['accuracy']:6.1%} {r['balanced_accuracy']:7.1%} "
                     f"{r['seconds_per_epoch']:8.1f} {r['params_m']:6.1f}M {r['size_mb']:6.1f}MB")
    lines.append(f"Same {result.epochs} epochs and the same held-out images (seed {result.seed}) for all; "
                 "accuracy is measured on the held-out images.")
    return "\n".join(lines)


def cmd_compare(args) -> int:
    from core.methods.compare import compare, make_candidates, small_dataset
    scan = scan_folder(args.data, args.quiet)
    scan.require_trainable()
    base = base_settings(args)
    overrides = {"epochs": args.epochs, "batch_size": args.batch_size}
    base = replace(base, **{k: v for k, v in overrides.items() if v is not None})
    candidates = make_candidates(base, args.models, args.strategies, small_dataset(scan, base))
    callback = _CompareCli(args.quiet)
    try:
        result = compare(scan, candidates, Path(args.out), callback, overwrite=args.overwrite)
    finally:
        callback.close()
    emit(args, result.to_dict(), leaderboard_text(result))
    return 0


def cmd_rank(args) -> int:
    from core.methods.ranking import explain, rank_models
    scan = scan_folder(args.data, args.quiet)
    with Bar(args.quiet, "Scoring") as bar:
        scores = rank_models(scan, args.models, max_images=args.max_images, image_size=args.image_size,
                             progress=bar, seed=args.seed, device=args.device)
    lines = [f"{'#':>2} {'model':26} {'LogME':>7} {'probe':>6} {'img/s':>6}"]
    rank = 0
    for s in scores:
        if not s.scored:
            lines.append(f"   {s.model_name:26} not scored: {s.skipped_reason}")
            continue
        rank += 1
        probe = f"{s.probe_accuracy:6.1%}" if s.probe_accuracy is not None else "     -"
        lines.append(f"{rank:>2} {s.model_name:26} {s.logme:7.3f} {probe} {s.images_per_second:6.0f}")
    lines.append(explain(scores)[0])
    emit(args, [s.to_dict() for s in scores], "\n".join(lines))
    return 0


def cmd_probe(args) -> int:
    from core.methods.probe import probe_layers
    scan = scan_folder(args.data, args.quiet)
    with Bar(args.quiet, "Probing") as bar:
        probe = probe_layers(scan, args.model_name, max_images=args.max_images, image_size=args.image_size,
                             progress=bar, seed=args.seed, device=args.device, val_fraction=args.val_fraction)
    lines = [f"{'level':>5} {'module':24} {'channels':>8} {'probe':>6} {'LogME':>7}"]
    for level in probe.levels:
        mark = "  <- best cut" if level["index"] == probe.best_index else ""
        lines.append(f"{level['index']:>5} {level['module']:24} {level['channels']:>8} {level['accuracy']:6.1%} "
                     f"{level['logme']:7.3f}{mark}")
    lines.append(f"{'final':>5} {'(whole backbone)':24} {'':>8} {probe.final_accuracy:6.1%} {probe.final_logme:7.3f}")
    lines.append(probe.sentence())
    if probe.best_index is not None:
        lines.append(f"Train with: --strategy truncated --cut-index {probe.best_index}")
    emit(args, probe.to_dict(), "\n".join(lines))
    return 0


def cmd_lr_find(args) -> int:
    from core.methods.lr_finder import find_learning_rate
    from core.models.network import default_cut_index, layer_groups
    from core.models.weights import create_backbone
    from core.training.settings import with_strategy
    scan = scan_folder(args.data, args.quiet)
    settings = base_settings(args)
    model = create_backbone(settings.model_name, weights="none").model
    settings = with_strategy(settings, args.strategy, len(layer_groups(model)), default_cut_index(model))
    if args.freeze_depth is not None:
        settings = replace(settings, freeze_depth=args.freeze_depth)
    with Bar(args.quiet, "Sweeping") as bar:
        result = find_learning_rate(scan, settings, progress=bar)
    emit(args, result.to_dict(), f"Suggested learning rate: {result.suggestion:.1e} for the new classifier, "
                                  f"{result.backbone_suggestion:.1e} for pretrained layers. {result.reason}\n"
                                  f"Train with: --lr {result.suggestion:.1e} --backbone-lr "
                                  f"{result.backbone_suggestion:.1e}")
    return 0


def register(command) -> None:
    """Add the experiment commands; ``command(name, help)`` makes a sub-parser with --json/--quiet."""
    from core.methods.compare import SCRATCH
    from core.models.catalog import DEFAULT_MODEL
    from core.models.devices import DEVICE_CHOICES
    from core.training.settings import STRATEGIES
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

    c = command("rank", "rank pretrained models for a dataset before training (LogME and a linear probe)")
    c.add_argument("data")
    c.add_argument("--models", nargs="+", metavar="MODEL", help="default: the catalog (offline ones are scored)")
    c.add_argument("--max-images", type=int, default=200, help="images sampled per run (default 200)")
    c = _common(c, DEVICE_CHOICES)
    c.set_defaults(func=cmd_rank)

    c = command("probe", "probe each layer of a model: where to cut the network for your data")
    c.add_argument("data")
    c.add_argument("--model", dest="model_name", default=DEFAULT_MODEL)
    c.add_argument("--max-images", type=int, default=200)
    c.add_argument("--val-fraction", type=float, default=0.2,
                   help="the validation share a run would hold out (those images are never probed on; 0.2)")
    c = _common(c, DEVICE_CHOICES)
    c.set_defaults(func=cmd_probe)

    c = command("lr-find", "learning-rate range test: sweep the learning rate and suggest one")
    c.add_argument("data")
    c.add_argument("--model", dest="model_name", default=DEFAULT_MODEL)
    c.add_argument("--strategy", choices=STRATEGIES, default="feature-extraction")
    c.add_argument("--freeze-depth", type=int)
    c = _common(c, DEVICE_CHOICES)
    c.set_defaults(func=cmd_lr_find)


def _common(c, devices):
    c.add_argument("--image-size", type=int, help="default: the model's own input size")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--device", choices=devices, default="auto")
    return c
