"""The headless command line: the same core functions the GUI calls.

Every command takes ``--json`` and then prints one JSON document on stdout.
Progress goes to stderr. Bad input: a one-line error and exit code 2.
"""

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from core.cancel import ctrl_c_cancels
from core.errors import Cancelled, TransferLabError
from core.events import TrainCallback

EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 130


class _Bar:
    """A tqdm progress bar on stderr, created lazily; silent when quiet."""

    def __init__(self, quiet: bool, desc: str) -> None:
        self.quiet, self.desc, self.bar = quiet, desc, None

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if self.quiet:
            return
        from tqdm import tqdm
        desc = message or self.desc
        if self.bar is None or self.bar.total != total or self.bar.desc != desc:
            self.close()
            self.bar = tqdm(total=total, desc=desc, file=sys.stderr, leave=False)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> "_Bar":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def _emit(args, data, text: str) -> None:
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        print(text)


def _scan(path: str, quiet: bool):
    from core.dataset import scan_dataset
    with _Bar(quiet, "Scanning") as bar:
        return scan_dataset(Path(path), progress=bar)


def _settings(args):
    from core.settings import TrainSettings
    s = TrainSettings()
    for name in ("model_name", "weights_file", "seed", "device", "image_size", "val_fraction"):
        value = getattr(args, name, None)
        if value is not None:
            s = replace(s, **{name: value})
    if getattr(args, "no_pretrained", False):
        s = replace(s, weights="none")
    return s


def cmd_models(args) -> int:
    from core.catalog import CATALOG
    from core.weights_status import offline_status
    rows = [{**m.to_dict(), "weights": offline_status(m.name)} for m in CATALOG]
    lines = [f"{'model':26} {'params':>7} {'size':>5} {'top-1':>6}  weights"]
    lines += [f"{r['name']:26} {r['params_m']:6.1f}M {r['input_size']:5d} {r['imagenet_top1']:5.1f}%  {r['weights']}"
              for r in rows]
    _emit(args, rows, "\n".join(lines))
    return 0


def _scan_text(scan) -> str:
    s = scan.summary()
    lines = [f"{scan.root}: {s['num_images']} images, {len(scan.classes)} classes ({scan.layout})"]
    for name, count in scan.class_counts().items():
        lines.append(f"  {name:30} {count:6d}")
    if scan.skipped:
        lines.append(f"Skipped {len(scan.skipped)} files:")
        lines += [f"  {f.path}: {f.reason}" for f in scan.skipped]
    from core.health import conflict_lines, health_lines
    health = scan.health()
    lines += health_lines(health, s["skipped"]) + conflict_lines(health)
    lines += [f"Problem: {p}" for p in scan.problems()]
    return "\n".join(lines)


def cmd_scan(args) -> int:
    scan = _scan(args.data, args.quiet)
    _emit(args, scan.summary(), _scan_text(scan))
    return EXIT_BAD_INPUT if scan.problems() else 0


def cmd_advise(args) -> int:
    from core.advisor import advise
    scan = _scan(args.data, args.quiet)
    with _Bar(args.quiet, "Measuring") as bar:
        suggestion = advise(scan, _settings(args), progress=bar)
    d = suggestion.to_dict()
    groups = suggestion.extra.get("layer_groups", [])
    depth = suggestion.freeze_depth
    lines = [d["title"], *(f"- {line}" for line in suggestion.rationale), "Layer groups (input to output):"]
    lines += [f"  {'train ' if i >= len(groups) - depth else 'frozen'} {g['name']:32} {g['params']:>11,}"
              for i, g in enumerate(groups)]
    _emit(args, d, "\n".join(lines))
    return 0


class _CliCallback(TrainCallback):
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = None
        self.prepare = _Bar(quiet, "Preparing")
        self.eta = None  # core.eta.RunEta of the running fit

    def on_status(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr)

    def on_prepare(self, e) -> None:
        self.prepare(e.done, e.total, e.stage)

    def on_fit_start(self, e) -> None:
        self.prepare.close()
        if not self.quiet:
            print(f"Training on {e.device}: {e.train_images} train / {e.val_images} validation images, "
                  f"{e.trainable_params:,} of {e.total_params:,} parameters trainable; weights: {e.weights_source}",
                  file=sys.stderr)
            print(f"Speed: {e.engine}; {e.precision}", file=sys.stderr)
        from core.eta import RunEta
        self.eta = RunEta(e.epochs)  # the window's rule: epochs of every stage, not the first stage's batches

    def on_batch_end(self, e) -> None:
        if self.quiet:
            return
        from tqdm import tqdm
        self.eta.batch(e.epoch, e.batch, e.batches)
        if self.bar is None:
            self.bar = tqdm(total=self.eta.maximum(), file=sys.stderr, leave=False,
                            bar_format="{l_bar}{bar}|{postfix}")
        self.bar.n = self.eta.value()
        self.bar.set_postfix(epoch=e.epoch, loss=f"{e.loss:.3f}", img_s=f"{e.images_per_s:.0f}")

    def on_epoch_end(self, e) -> None:
        if self.eta is not None:
            self.eta.epoch_end(e.epoch, e.seconds)
        if not self.quiet:
            left = self.eta.seconds_left() if self.eta is not None else None
            msg = (f"epoch {e.epoch}/{e.epochs}: train loss {e.train_loss:.3f} acc {e.train_accuracy:.1%}, "
                   f"val loss {e.val_loss:.3f} acc {e.val_accuracy:.1%}{'  (best)' if e.is_best else ''}"
                   + (f", ETA {left:.0f}s" if left is not None else ""))
            (self.bar.write(msg, file=sys.stderr) if self.bar else print(msg, file=sys.stderr))

    def close(self) -> None:
        self.prepare.close()
        if self.bar is not None:
            self.bar.close()

    def on_candidate_start(self, index: int, total: int, label: str) -> None:  # Auto's search (core.auto_search)
        self.close()
        self.bar, self.prepare = None, _Bar(self.quiet, "Preparing")
        self.on_status(f"Candidate {index + 1} of {total}: {label}")

    def on_candidate_end(self, row: dict) -> None:
        if "val_accuracy" in row:
            self.on_status(f"  {row['title']}: validation accuracy {row['val_accuracy']:.1%} in {row['seconds']:.0f} s")


def cmd_train(args) -> int:
    if not args.distributed:
        return _train_one(args)
    import contextlib
    import io

    from core import distributed
    device = args.device or _config_settings(args).get("device", "auto")
    with distributed.session(device, args.dist_timeout) as session:
        if not session.main:  # rank 0 reports; the other processes only train
            args.quiet = True
            with contextlib.redirect_stdout(io.StringIO()):
                return _train_one(args)
        return _train_one(args)


def _config_settings(args) -> dict:
    from core.distributed import load_config
    return load_config(Path(args.config)).settings if args.config else {}


def _train_one(args) -> int:
    """cmd_train in this process (one rank of a distributed run under --distributed)."""
    if args.resume:
        return _resume(args)
    from core.distributed import from_main, load_config
    config = load_config(Path(args.config)) if args.config else None
    data = args.data or (config.data if config else None)
    if not data or not args.out:
        raise TransferLabError("train needs a dataset folder and --out RUN (or --resume RUN)")
    from core.settings import TrainSettings
    from core.trainer import train
    scan = _scan(data, args.quiet)
    scan.require_trainable()
    if _auto_search(args, config):
        return _train_auto(args, scan)
    # In a distributed run rank 0 decides the settings (the advisor measures) and every rank uses them.
    settings = TrainSettings.from_dict(from_main(lambda: _train_settings(args, config, scan).to_dict()))
    target_images = args.target_images or (config.target_images if config else None)
    target_test = args.target_test or (config.target_test if config else None)
    domain_weight = args.domain_weight if args.domain_weight is not None else (config.domain_weight if config
                                                                                  else None)
    callback = _CliCallback(args.quiet)
    try:
        if target_images:
            if args.distributed:
                raise TransferLabError("Domain adaptation (--target-images) runs in a single process; "
                                       "leave out --distributed")
            from core.dataset import scan_dataset
            from core.domain_adaptation import train_adapted
            test = scan_dataset(Path(target_test)) if target_test else None
            result = train_adapted(scan, Path(target_images), settings, Path(args.out), callback,
                                   target_test_scan=test, overwrite=args.overwrite, domain_weight=domain_weight)
        else:
            with ctrl_c_cancels(callback.on_status) as cancel:
                result = train(scan, settings, Path(args.out), callback, cancel, overwrite=args.overwrite)
    finally:
        callback.close()
    return _report_training(args, result, settings)


MANUAL_FLAGS = ("freeze_depth", "cut_index", "epochs", "classifier_fit", "batch_size", "lr", "backbone_lr",
                "augmentation", "label_smoothing", "class_weights", "patience", "head_epochs", "l2sp", "target_images")


def _auto_search(args, config) -> bool:
    """Auto searches candidates within --budget unless a strategy, a config or a training detail was given."""
    manual = [f for f in MANUAL_FLAGS if getattr(args, f, None) is not None] + \
        [f for f in ("two_stage", "gradual_unfreeze", "no_flips", "no_rotation", "distributed") if getattr(args, f)]
    searches = (args.strategy or "auto") == "auto" and not config and not manual
    if args.budget and not searches:
        raise TransferLabError("--budget plans Auto's search; it cannot be combined with --strategy, --config or "
                               f"--{(manual or ['strategy'])[0].replace('_', '-')} (leave those out, or --budget)")
    return searches


def _train_auto(args, scan) -> int:
    from core.auto_search import parse_budget
    from core.settings import TrainSettings
    s = _model_and_split(args, TrainSettings())
    budget = parse_budget(args.budget)
    callback = _CliCallback(args.quiet)
    try:
        with _Bar(args.quiet, "Measuring") as bar:
            from core.advisor import advise
            suggestion = advise(scan, s, progress=bar, probe=False)
        from core.auto_search import prepare_plan, run_auto
        auto_plan = prepare_plan(scan, s, suggestion, budget)
        callback.on_status("Strategy: " + "\n  ".join(suggestion.rationale))
        callback.on_status(f"Budget {budget}: {len(auto_plan.candidates)} candidates, about "
                           f"{auto_plan.predicted_s / 60:.1f} minutes (stops by {auto_plan.limit_s / 60:.1f})")
        with ctrl_c_cancels(callback.on_status) as cancel:
            result = run_auto(scan, auto_plan, Path(args.out), callback, cancel, overwrite=args.overwrite)
    finally:
        callback.close()
    data = {"run_dir": str(result.run_dir), "best_epoch": result.best_epoch, "val_accuracy": result.best_val_accuracy,
            "val_loss": result.best_val_loss, "winner": result.winner, "candidates": result.rows,
            "plan": auto_plan.to_dict(), "quadrant": f"{suggestion.size} + {suggestion.similarity}"}
    lines = [f"  {'*' if r.get('winner') else ' '} {r['title']}: " + (
        f"{r['val_accuracy']:.1%} validation accuracy, {r['seconds']:.0f} s" if "val_accuracy" in r
        else r.get("reason", r["status"])) for r in result.rows]
    if result.cancelled:
        data["cancelled"] = True
        lines.append("Cancelled: the best candidate finished so far is the saved model.")
    _emit(args, data, "\n".join([f"Saved model to {result.run_dir} (kept the best of {len(result.rows)} candidates, "
                                  f"validation accuracy {result.best_val_accuracy:.1%})", *lines]))
    return EXIT_CANCELLED if result.cancelled else 0


def _model_and_split(args, s):
    """``s`` with the model, weights, seed, device, image size and validation share the flags give."""
    from core.distributed import override
    s = override(s, {name: getattr(args, name) for name in ("model_name", "weights_file", "seed", "device",
                                                          "image_size", "val_fraction")})
    return override(s, {"weights": "none"}) if args.no_pretrained else s


def _train_settings(args, config, scan):
    """The run's settings: the config file's (else the defaults and the strategy advice), then the flags given."""
    from core.distributed import override
    from core.network import default_cut_index, layer_groups
    from core.settings import TrainSettings, consistent, with_strategy
    from core.weights import create_backbone
    s = _model_and_split(args, TrainSettings.from_dict(config.settings) if config else TrainSettings())
    strategy = args.strategy or (None if config else "auto")
    if strategy == "auto":
        from core.advisor import advise
        with _Bar(args.quiet, "Measuring") as bar:
            suggestion = advise(scan, s, progress=bar)
        s = suggestion.apply(s)
        if not args.quiet:
            print("Strategy: " + "\n  ".join(suggestion.rationale), file=sys.stderr)
    elif strategy is not None:
        model = create_backbone(s.model_name, weights="none").model
        s = with_strategy(s, strategy, len(layer_groups(model)), default_cut_index(model))
    s = override(s, {"freeze_depth": args.freeze_depth, "epochs": args.epochs, "augmentation": args.augmentation,
                     "batch_size": args.batch_size, "head_lr": args.lr, "cut_index": args.cut_index,
                     "early_stopping_patience": args.patience, "label_smoothing": args.label_smoothing,
                     "class_weighting": args.class_weights, "backbone_lr": args.backbone_lr,
                     "allow_flips": False if args.no_flips else None,
                     "allow_rotation": False if args.no_rotation else None})
    if args.classifier_fit:
        s = override(s, {"classifier_fit": args.classifier_fit})
    elif s.classifier_fit == "converged" and (args.epochs or args.lr or args.batch_size):
        s = override(s, {"classifier_fit": "epochs"})  # epochs, a learning rate: training in epochs was asked for
    if not config or strategy is not None or args.epochs is not None or args.freeze_depth is not None:
        s = consistent(s)  # e.g. --epochs 1 leaves no room for the default two-stage start
    return override(s, {"two_stage": args.two_stage or None, "head_epochs": args.head_epochs,
                        "gradual_unfreeze": args.gradual_unfreeze or None, "l2sp_alpha": args.l2sp})


def _report_training(args, result, settings) -> int:
    data = {"run_dir": str(result.run_dir), "best_epoch": result.best_epoch,
            "val_accuracy": result.best_val_accuracy, "val_loss": result.best_val_loss,
            "strategy": settings.strategy, "freeze_depth": settings.freeze_depth, "history": result.history}
    text = (f"Saved model to {result.run_dir} (best epoch {result.best_epoch}, "
            f"validation accuracy {result.best_val_accuracy:.1%})")
    if getattr(result, "domain_accuracy", None):
        data.update(domain_accuracy=result.domain_accuracy, target_test_accuracy=result.target_test_accuracy)
        text += (f"; domain classifier accuracy {result.domain_accuracy[0]:.0%} (first epoch) → "
                 f"{result.domain_accuracy[-1]:.0%} (last; 50% = the settings look alike)")
        if result.target_test_accuracy is not None:
            text += f"; accuracy on the new setting's labelled images {result.target_test_accuracy:.1%}"
    cancelled = getattr(result, "cancelled", False)  # a domain-adapted run stops without a model
    if cancelled:
        data["cancelled"] = True
        text += (f"\nCancelled after epoch {len(result.history)} of {settings.epochs}: the best epoch so far is the "
                 f"saved model. Continue to epoch {settings.epochs} with: transferlab train --resume {result.run_dir}")
    _emit(args, data, text)
    return EXIT_CANCELLED if cancelled else 0


def _resume(args) -> int:
    from core.runs import read_record
    from core.settings import TrainSettings
    from core.trainer import resume_training
    callback = _CliCallback(args.quiet)
    try:
        with ctrl_c_cancels(callback.on_status) as cancel:
            result = resume_training(Path(args.resume), callback, cancel)
    finally:
        callback.close()
    return _report_training(args, result, TrainSettings.from_dict(read_record(Path(args.resume))["settings"]))


def cmd_predict(args) -> int:
    from core.bundle import load_bundle
    from core.predict import predict, write_predictions_csv
    bundle = load_bundle(Path(args.run))
    with _Bar(args.quiet, "Predicting") as bar:
        results = predict(bundle, [Path(p) for p in args.paths], args.device, progress=bar)
    if args.csv:
        write_predictions_csv(Path(args.csv), results, bundle.classes)
    text = "\n".join(f"{r['path']}\t{r['label']}\t{max(r['probabilities'].values()):.1%}" if r["label"]
                     else f"{r['path']}\terror: {r['error']}" for r in results)
    _emit(args, results, text or "No images found")
    return 0


def cmd_evaluate(args) -> int:
    from core.bundle import load_bundle
    from core.predict import evaluate
    bundle = load_bundle(Path(args.run))
    scan = _scan(args.data, args.quiet)
    with _Bar(args.quiet, "Evaluating") as bar:
        report = evaluate(bundle, scan, args.device, progress=bar)
    from core.metrics import accuracy_words, baseline_words
    lines = [f"accuracy {accuracy_words(report)}, balanced accuracy {report['balanced_accuracy']:.1%} "
             f"on {report['num_images']} images ({report['split']}); {baseline_words(report)}",
             f"{'class':24} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>7}"]
    for name, m in report["per_class"].items():
        lines.append(f"{name:24} {m['precision']:9.3f} {m['recall']:7.3f} {m['f1']:6.3f} {m['support']:7d}")
    lines.append("confusion matrix (rows: true, columns: predicted):")
    lines += ["  " + " ".join(f"{v:5d}" for v in row) for row in report["confusion_matrix"]]
    if "roc" in report:
        lines.append(f"ROC AUC {report['roc']['auc']:.3f} ('{report['roc']['positive']}' is positive)")
    calibration = report.get("calibration", {})
    if calibration:
        from core.calibration import calibration_sentence
        lines.append(calibration_sentence(calibration) + (f" Expected calibration error on these images: "
                                                          f"{calibration['ece']:.1%}." if "ece" in calibration else ""))
    _emit(args, report, "\n".join(lines))
    return 0


def cmd_explain(args) -> int:
    from PIL import Image

    from core.bundle import load_bundle
    from core.explain import explain
    bundle = load_bundle(Path(args.run))
    target = None
    if args.class_name is not None:
        if args.class_name not in bundle.classes:
            raise TransferLabError(f"Unknown class '{args.class_name}'; the model knows: {', '.join(bundle.classes)}")
        target = bundle.classes.index(args.class_name)
    e = explain(bundle.net, bundle.preprocessing, Path(args.image), target, bundle.temperature)
    out = Path(args.out)
    from core.atomic import atomic_write
    try:
        atomic_write(out, lambda tmp: Image.fromarray(e.overlay_in_context()).save(tmp, format="PNG"))
    except OSError as exc:
        raise TransferLabError(f"Cannot write {out}: {exc.strerror or exc}") from exc
    probs = dict(zip(bundle.classes, e.probabilities))
    _emit(args, {"image": args.image, "out": str(out), "class": bundle.classes[e.class_index], "method": e.method,
                 "probabilities": probs},
          f"{out}: {e.method} for '{bundle.classes[e.class_index]}' ({probs[bundle.classes[e.class_index]]:.1%})")
    return 0


def cmd_export(args) -> int:
    from core.bundle import load_bundle
    from core.export import export_model
    result = export_model(load_bundle(Path(args.run)), Path(args.out), args.format,
                          progress=None if args.quiet else lambda m: print(m, file=sys.stderr))
    _emit(args, result, f"Exported to {result['path']} (checked on {result['images']}: largest difference "
                        f"{result['max_abs_difference']:.1e}); description in {result['sidecar']}")
    return 0


def cmd_report(args) -> int:
    from core.bundle import load_bundle
    from core.predict import evaluate
    from core.report import build_report
    bundle = load_bundle(Path(args.run))
    data = args.data or bundle.meta.get("dataset", {}).get("root")
    evaluation = None
    if data and Path(data).is_dir():
        scan = _scan(data, args.quiet)
        with _Bar(args.quiet, "Evaluating") as bar:
            evaluation = evaluate(bundle, scan, progress=bar)
    elif not args.quiet:
        print(f"The dataset folder {data} is not here; the report has no evaluation.", file=sys.stderr)
    out = build_report(bundle, evaluation, Path(args.out),
                       progress=None if args.quiet else lambda m: print(m, file=sys.stderr))
    _emit(args, {"report": str(out), "evaluated": evaluation is not None}, f"Report written to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from core.catalog import DEFAULT_MODEL
    from core.devices import DEVICE_CHOICES
    from core.preprocess import PRESETS
    from core.settings import STRATEGIES
    p = argparse.ArgumentParser(prog="transferlab", description="Train an image classifier by transfer learning. "
                                "Run with no arguments to open the app.")
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, help: str):
        c = sub.add_parser(name, help=help, description=help)
        c.add_argument("--json", action="store_true", help="print one JSON document on stdout")
        c.add_argument("--quiet", action="store_true", help="no progress on stderr")
        c.add_argument("--allow-large-images", action="store_true",
                       help="read images over Pillow's 89-megapixel safety limit (trusted files only)")
        return c

    command("models", "list the curated pretrained models").set_defaults(func=cmd_models)
    c = command("scan", "check a dataset folder and report what can be used")
    c.add_argument("data")
    c.set_defaults(func=cmd_scan)
    for name, help, func in (("advise", "suggest a strategy for a dataset (four-quadrant rule)", cmd_advise),
                             ("train", "train a classifier and save it", cmd_train)):
        c = command(name, help)
        c.add_argument("data", nargs="?" if name == "train" else None,
                       help="folder with one subfolder per class (or train/ and val/)")
        c.add_argument("--model", dest="model_name", default=DEFAULT_MODEL, help=f"timm model (default {DEFAULT_MODEL})")
        c.add_argument("--weights-file", help="import pretrained weights (safetensors or torch state dict)")
        c.add_argument("--no-pretrained", action="store_true", help="random initialisation (not recommended)")
        c.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
        c.add_argument("--seed", type=int, default=0)
        c.add_argument("--image-size", type=int, help="override the model's input size (pixels)")
        c.add_argument("--val-fraction", type=float, help="validation share when the folder is not split (0.2)")
        c.set_defaults(func=func)
        if name == "train":
            c.add_argument("--out", help="run folder to create (never inside the dataset)")
            c.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last checkpoint")
            c.add_argument("--strategy", choices=("auto", *STRATEGIES), default="auto")
            c.add_argument("--budget", help="Auto's time budget: fast, balanced (default), best or a number of "
                                            "minutes; candidates are tried in order of cost and the best kept")
            c.add_argument("--freeze-depth", type=int, help="layer groups trained, counted from the head")
            c.add_argument("--cut-index", type=int, help="level to cut at for the truncated strategy")
            c.add_argument("--epochs", type=int,
                           help="passes over the images; with a frozen backbone, giving it trains the classifier "
                                "in epochs instead of fitting it to convergence")
            c.add_argument("--classifier-fit", choices=["converged", "epochs"],
                           help="classifier on a frozen backbone: fitted to convergence with a cross-validated "
                                "L2 strength (the default), or trained in epochs")
            c.add_argument("--batch-size", type=int)
            c.add_argument("--lr", type=float, help="learning rate of the new head")
            c.add_argument("--backbone-lr", type=float, help="learning rate of pretrained layers")
            c.add_argument("--augmentation", choices=list(PRESETS))
            c.add_argument("--no-flips", action="store_true", help="orientation matters: never flip")
            c.add_argument("--no-rotation", action="store_true", help="orientation matters: never rotate")
            c.add_argument("--label-smoothing", type=float)
            c.add_argument("--class-weights", choices=["auto", "on", "off"],
                           help="weight the loss by inverse class frequency (auto: when the largest class has "
                                "3x the images of the smallest)")
            c.add_argument("--patience", type=int, help="early stopping after N epochs without improvement")
            c.add_argument("--overwrite", action="store_true", help="replace a model already in --out")
            c.add_argument("--two-stage", action="store_true",
                           help="train the new classifier alone first, then fine-tune (fine-tune strategies)")
            c.add_argument("--head-epochs", type=int, help="epochs of the classifier alone with --two-stage (2)")
            c.add_argument("--gradual-unfreeze", action="store_true",
                           help="with --two-stage: unfreeze one more layer group each epoch")
            c.add_argument("--l2sp", type=float, metavar="ALPHA",
                           help="keep fine-tuned layers near their pretrained weights (L2-SP strength, e.g. 0.01)")
            c.add_argument("--target-images", metavar="FOLDER",
                           help="unlabeled images of the setting the model will be used in: domain adaptation "
                                "(DANN)")
            c.add_argument("--target-test", metavar="FOLDER",
                           help="labelled images of that setting, to report accuracy there")
            c.add_argument("--domain-weight", type=float, help="strength of the adaptation (default 1)")
            c.add_argument("--config", metavar="FILE",
                           help="run configuration exported by the app (JSON: data, settings); flags given "
                                "override it")
            c.add_argument("--distributed", action="store_true",
                           help="one process of a multi-process run started by torchrun (DistributedDataParallel; "
                                "see core/distributed.py)")
            c.add_argument("--dist-timeout", type=float, default=1800.0, metavar="SECONDS",
                           help="with --distributed: give up when another process does not answer for this long")
            c.set_defaults(model_name=None, device=None, seed=None, strategy=None)  # so --config is not overridden
    c = command("predict", "label images with a trained model")
    c.add_argument("run", help="run folder of a trained model")
    c.add_argument("paths", nargs="+", help="image files or folders (searched recursively)")
    c.add_argument("--csv", help="also write the predictions to this CSV file")
    c.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    c.set_defaults(func=cmd_predict)
    c = command("explain", "show what a trained model looks at in an image (Grad-CAM heatmap)")
    c.add_argument("run")
    c.add_argument("image")
    c.add_argument("--out", required=True, help="PNG file to write")
    c.add_argument("--class", dest="class_name", help="explain this class (default: the predicted one)")
    c.set_defaults(func=cmd_explain)
    c = command("export", "export a trained model to ONNX or TorchScript, verified against PyTorch")
    c.add_argument("run")
    c.add_argument("--format", choices=["onnx", "torchscript"], required=True)
    c.add_argument("--out", required=True, help="file (or folder) to write; a .json description goes beside it")
    c.set_defaults(func=cmd_export)
    c = command("report", "write an HTML report of a run (data, strategy, curves, metrics, Grad-CAM examples)")
    c.add_argument("run")
    c.add_argument("data", nargs="?", help="labelled folder to evaluate on (default: the run's own dataset)")
    c.add_argument("--out", required=True, help="HTML file to write")
    c.set_defaults(func=cmd_report)
    c = command("evaluate", "measure a trained model on a labelled folder")
    c.add_argument("run")
    c.add_argument("data")
    c.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    c.set_defaults(func=cmd_evaluate)
    from core import cli_experiments
    cli_experiments.register(command)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "allow_large_images", False):
        from core.images import allow_large_images
        allow_large_images(True)
    try:
        return args.func(args)
    except TransferLabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (Cancelled, KeyboardInterrupt):
        print("cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # never a bare traceback for the user
        if os.environ.get("TRANSFERLAB_DEBUG"):
            raise
        print(f"error: unexpected failure ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
              "set TRANSFERLAB_DEBUG=1 for details", file=sys.stderr)
        return 1


if __name__ == "__main__":  # python -m core.cli …, as torchrun starts it
    sys.exit(main())
