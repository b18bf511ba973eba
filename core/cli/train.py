"""``transferlab train``: one run, Auto's search, a domain-adapted run, a distributed rank, or a resume."""

import sys
from pathlib import Path

from core.base.cancel import ctrl_c_cancels
from core.base.errors import TransferLabError
from core.cli.common import EXIT_CANCELLED, Bar, CliCallback, emit, scan_folder


def cmd_train(args) -> int:
    if not args.distributed:
        return _train_one(args)
    import contextlib
    import io

    from core.training import distributed
    device = args.device or _config_settings(args).get("device", "auto")
    with distributed.session(device, args.dist_timeout) as session:
        if not session.main:  # rank 0 reports; the other processes only train
            args.quiet = True
            with contextlib.redirect_stdout(io.StringIO()):
                return _train_one(args)
        return _train_one(args)


def _config_settings(args) -> dict:
    from core.training.distributed import load_config
    return load_config(Path(args.config)).settings if args.config else {}


def _train_one(args) -> int:
    """cmd_train in this process (one rank of a distributed run under --distributed)."""
    if args.resume:
        if args.labels:
            raise TransferLabError("A resumed run goes on with the labels it started with; leave out --labels (or "
                                   "start a new run with them)")
        return _resume(args)
    from core.training.distributed import from_main, load_config
    config = load_config(Path(args.config)) if args.config else None
    data = args.data or (config.data if config else None)
    if not data or not args.out:
        raise TransferLabError("train needs a dataset folder and --out RUN (or --resume RUN)")
    from core.training.settings import TrainSettings
    from core.training.trainer import train
    scan = scan_folder(data, args.quiet, args.labels)
    scan.require_trainable()
    if _auto_search(args, config):
        return _train_auto(args, scan)
    # In a distributed run rank 0 decides the settings (the advisor measures) and every rank uses them.
    settings = TrainSettings.from_dict(from_main(lambda: _train_settings(args, config, scan).to_dict()))
    target_images = args.target_images or (config.target_images if config else None)
    target_test = args.target_test or (config.target_test if config else None)
    domain_weight = args.domain_weight if args.domain_weight is not None else (config.domain_weight if config
                                                                                  else None)
    callback = CliCallback(args.quiet)
    try:
        if target_images:
            if args.distributed:
                raise TransferLabError("Domain adaptation (--target-images) runs in a single process; "
                                       "leave out --distributed")
            from core.data.dataset import scan_dataset
            from core.methods.domain_adaptation import train_adapted
            test = scan_dataset(Path(target_test)) if target_test else None
            with ctrl_c_cancels(callback.on_status) as cancel:  # Ctrl-C keeps the last finished epoch
                result = train_adapted(scan, Path(target_images), settings, Path(args.out), callback, cancel,
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
    from core.methods.auto_search import parse_budget
    from core.training.settings import TrainSettings
    s = _model_and_split(args, TrainSettings())
    budget = parse_budget(args.budget)
    callback = CliCallback(args.quiet)
    try:
        with Bar(args.quiet, "Measuring") as bar:
            from core.methods.advisor import advise
            suggestion = advise(scan, s, progress=bar, probe=False)
        from core.methods.auto_search import prepare_plan, run_auto, trained
        from core.methods.plan_words import about, duration
        auto_plan = prepare_plan(scan, s, suggestion, budget)
        callback.on_status("Strategy: " + "\n  ".join(suggestion.rationale))
        early, count = auto_plan.early_s, len(auto_plan.candidates)
        callback.on_status(f"Budget {budget}: {count} candidate{'s' if count != 1 else ''}, "
                           f"{about(auto_plan.predicted_s)} (stops by {duration(auto_plan.limit_s)})"
                           + (f"; {duration(early)} if the first classifier scores 100% on the validation images"
                              if early is not None else ""))
        with ctrl_c_cancels(callback.on_status) as cancel:
            result = run_auto(scan, auto_plan, Path(args.out), callback, cancel, overwrite=args.overwrite)
    finally:
        callback.close()
    data = {"run_dir": str(result.run_dir), "best_epoch": result.best_epoch, "val_accuracy": result.best_val_accuracy,
            "val_loss": result.best_val_loss, "winner": result.winner, "candidates": result.rows,
            "plan": auto_plan.to_dict(), "quadrant": f"{suggestion.size} + {suggestion.similarity}"}
    from core.methods.plan_words import passed_over
    winner = next((r for r in result.rows if r.get("winner")), {})
    lines = [f"  {'*' if r.get('winner') else ' '} {r['title']}: " + (
        f"{r['val_accuracy']:.1%} validation accuracy, {r['seconds']:.0f} s{passed_over(r, winner)}"
        if "val_accuracy" in r else r.get("reason", r["status"])) for r in result.rows]
    if result.cancelled:
        data["cancelled"] = True
        lines.append("Cancelled: the best candidate finished so far is the saved model.")
    count = len(trained(result.rows))
    kept = f"chosen among {count} candidates" if count > 1 else "the one candidate trained"
    emit(args, data, "\n".join([f"Saved model to {result.run_dir} ({kept}, "
                                  f"validation accuracy {result.best_val_accuracy:.1%})", *lines]))
    return EXIT_CANCELLED if result.cancelled else 0


def _model_and_split(args, s):
    """``s`` with the model, weights, seed, device, image size and validation share the flags give."""
    from core.training.distributed import override
    s = override(s, {name: getattr(args, name) for name in ("model_name", "weights_file", "seed", "device",
                                                          "image_size", "val_fraction")})
    return override(s, {"weights": "none"}) if args.no_pretrained else s


def _train_settings(args, config, scan):
    """The run's settings: the config file's (else the defaults and the strategy advice), then the flags given."""
    from core.models.network import default_cut_index, layer_groups
    from core.models.weights import create_backbone
    from core.training.distributed import override
    from core.training.settings import TrainSettings, consistent, with_strategy
    s = _model_and_split(args, TrainSettings.from_dict(config.settings) if config else TrainSettings())
    strategy = args.strategy or (None if config else "auto")
    if strategy == "auto":
        from core.methods.advisor import advise
        with Bar(args.quiet, "Measuring") as bar:
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
    cancelled = result.cancelled
    if cancelled:
        data["cancelled"] = True
        text += (f"\nCancelled after epoch {len(result.history)} of {settings.epochs}: the best epoch so far is the "
                 f"saved model. Continue to epoch {settings.epochs} with: transferlab train --resume {result.run_dir}")
    emit(args, data, text)
    return EXIT_CANCELLED if cancelled else 0


def _resume(args) -> int:
    from core.methods.resume import resume_run
    from core.training.runs import read_record
    from core.training.settings import TrainSettings
    callback = CliCallback(args.quiet)
    try:
        with ctrl_c_cancels(callback.on_status) as cancel:
            result = resume_run(Path(args.resume), callback, cancel)
    finally:
        callback.close()
    return _report_training(args, result, TrainSettings.from_dict(read_record(Path(args.resume))["settings"]))
