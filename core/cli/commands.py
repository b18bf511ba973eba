"""The commands that look at data and trained models: models, scan, advise, predict, evaluate, explain,
export and report."""

import sys
from pathlib import Path

from core.base.errors import TransferLabError
from core.cli.common import EXIT_BAD_INPUT, Bar, base_settings, emit, scan_folder


def cmd_models(args) -> int:
    from core.models.catalog import CATALOG
    from core.models.weights_status import offline_status
    rows = [{**m.to_dict(), "weights": offline_status(m.name)} for m in CATALOG]
    lines = [f"{'model':26} {'params':>7} {'size':>5} {'top-1':>6}  weights"]
    lines += [f"{r['name']:26} {r['params_m']:6.1f}M {r['input_size']:5d} {r['imagenet_top1']:5.1f}%  {r['weights']}"
              for r in rows]
    emit(args, rows, "\n".join(lines))
    return 0


def _scan_text(scan) -> str:
    s = scan.summary()
    lines = [f"{scan.root}: {s['num_images']} images, {len(scan.classes)} classes ({scan.layout})"]
    for name, count in scan.class_counts().items():
        lines.append(f"  {name:30} {count:6d}")
    if scan.label_sheet:
        lines.append(f"Label sheet {scan.label_sheet['path']}: {scan.label_sheet['changed']} image(s) relabelled or "
                     "left out")
    if scan.skipped:
        lines.append(f"Skipped {len(scan.skipped)} files:")
        lines += [f"  {f.path}: {f.reason}" for f in scan.skipped]
    from core.data.health import conflict_lines, health_lines
    health = scan.health()
    lines += health_lines(health, s["skipped"]) + conflict_lines(health)
    lines += [f"Problem: {p}" for p in scan.problems()]
    return "\n".join(lines)


def cmd_scan(args) -> int:
    scan = scan_folder(args.data, args.quiet, args.labels)
    summary, text = scan.summary(), _scan_text(scan)
    if getattr(args, "check_labels", False) and not scan.problems():
        from core.methods.label_issues import find_label_issues
        from core.models.catalog import DEFAULT_MODEL
        with Bar(args.quiet, "Checking labels") as bar:
            found = find_label_issues(scan, DEFAULT_MODEL, args.image_size, progress=bar)
        summary["label_issues"] = {"possible_mistakes": len(found.issues), "images": found.images}
        text += (f"\nPossible label mistakes: {len(found.issues)} of {found.images} images look like another class "
                 f"than their folder says (transferlab label-issues {args.data} lists them, worst first).")
    emit(args, summary, text)
    return EXIT_BAD_INPUT if scan.problems() else 0


def cmd_advise(args) -> int:
    from core.methods.advisor import advise
    scan = scan_folder(args.data, args.quiet)
    with Bar(args.quiet, "Measuring") as bar:
        suggestion = advise(scan, base_settings(args), progress=bar)
    d = suggestion.to_dict()
    groups = suggestion.extra.get("layer_groups", [])
    depth = suggestion.freeze_depth
    lines = [d["title"], *(f"- {line}" for line in suggestion.rationale), "Layer groups (input to output):"]
    lines += [f"  {'train ' if i >= len(groups) - depth else 'frozen'} {g['name']:32} {g['params']:>11,}"
              for i, g in enumerate(groups)]
    emit(args, d, "\n".join(lines))
    return 0


def cmd_predict(args) -> int:
    from core.evaluation.predict import predict, write_predictions_csv
    from core.models.bundle import load_bundle
    from core.models.unknown_score import UNKNOWN_LABEL
    bundle = load_bundle(Path(args.run))
    if args.threshold is not None and not args.reject:
        raise TransferLabError("--threshold goes with --reject")
    if args.reject and "unknown" not in bundle.meta:
        raise TransferLabError(f"The model in {args.run} cannot say \"I don't know\": it was trained before "
                               "TransferLab could; train it again to use --reject")
    with Bar(args.quiet, "Predicting") as bar:
        results = predict(bundle, [Path(p) for p in args.paths], args.device, progress=bar, threshold=args.threshold)
    if args.reject:
        for r in results:
            if r.get("is_unknown"):
                r["label"] = UNKNOWN_LABEL
    if args.csv:
        write_predictions_csv(Path(args.csv), results, bundle.classes)

    def line(r: dict) -> str:
        if not r["label"]:
            return f"{r['path']}\terror: {r['error']}"
        unlike = "\t(looks unlike your training images)" if r.get("is_unknown") and r["label"] != UNKNOWN_LABEL else ""
        return f"{r['path']}\t{r['label']}\t{r['confidence']:.1%}{unlike}"
    text = "\n".join(line(r) for r in results)
    emit(args, results, text or "No images found")
    return 0


def cmd_evaluate(args) -> int:
    from core.evaluation.predict import evaluate
    from core.models.bundle import load_bundle
    bundle = load_bundle(Path(args.run))
    scan = scan_folder(args.data, args.quiet, args.labels)
    with Bar(args.quiet, "Evaluating") as bar:
        report = evaluate(bundle, scan, args.device, progress=bar,
                          unknown_folder=Path(args.unknown_folder) if args.unknown_folder else None)
    from core.evaluation.metrics import accuracy_words, baseline_words
    from core.evaluation.result_words import scored_where
    lines = [f"accuracy {accuracy_words(report)}, balanced accuracy {report.balanced_accuracy:.1%} "
             f"on {report.num_images} images ({scored_where(report)}); {baseline_words(report)}",
             f"{'class':24} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>7}"]
    for name, m in report.per_class.items():
        lines.append(f"{name:24} {m['precision']:9.3f} {m['recall']:7.3f} {m['f1']:6.3f} {m['support']:7d}")
    lines.append("confusion matrix (rows: true, columns: predicted):")
    lines += ["  " + " ".join(f"{v:5d}" for v in row) for row in report.confusion_matrix]
    if report.roc is not None:
        lines.append(f"ROC AUC {report.roc['auc']:.3f} ('{report.roc['positive']}' is positive)")
    calibration = report.calibration
    if calibration:
        from core.evaluation.calibration import calibration_sentence
        lines.append(calibration_sentence(calibration) + (f" Expected calibration error on these images: "
                                                          f"{calibration['ece']:.1%}." if "ece" in calibration else ""))
    if report.unknown is not None:
        from core.evaluation.result_words import unknown_sentence
        lines.append(unknown_sentence(report.unknown))
    emit(args, report.to_dict(), "\n".join(lines))
    return 0


def cmd_explain(args) -> int:
    from PIL import Image

    from core.evaluation.explain import explain
    from core.models.bundle import load_bundle
    bundle = load_bundle(Path(args.run))
    target = None
    if args.class_name is not None:
        if args.class_name not in bundle.classes:
            raise TransferLabError(f"Unknown class '{args.class_name}'; the model knows: {', '.join(bundle.classes)}")
        target = bundle.classes.index(args.class_name)
    e = explain(bundle.net, bundle.preprocessing, Path(args.image), target, bundle.temperature)
    out = Path(args.out)
    from core.base.atomic import atomic_write
    try:
        atomic_write(out, lambda tmp: Image.fromarray(e.overlay_in_context()).save(tmp, format="PNG"))
    except OSError as exc:
        raise TransferLabError(f"Cannot write {out}: {exc.strerror or exc}") from exc
    probs = dict(zip(bundle.classes, e.probabilities))
    emit(args, {"image": args.image, "out": str(out), "class": bundle.classes[e.class_index], "method": e.method,
                 "probabilities": probs},
          f"{out}: {e.method} for '{bundle.classes[e.class_index]}' ({probs[bundle.classes[e.class_index]]:.1%})")
    return 0


def cmd_export(args) -> int:
    from core.evaluation.export import export_model
    from core.models.bundle import load_bundle
    with Bar(args.quiet, "Exporting") as bar:  # its steps have no count: each is a line of its own
        result = export_model(load_bundle(Path(args.run)), Path(args.out), args.format, progress=bar)
    emit(args, result.to_dict(), f"Exported to {result.path} (checked on {result.images}: largest difference "
                                 f"{result.max_abs_difference:.1e}); description in {result.sidecar}")
    return 0


def cmd_report(args) -> int:
    from core.evaluation.predict import evaluate
    from core.evaluation.report import build_report
    from core.models.bundle import load_bundle
    bundle = load_bundle(Path(args.run))
    data = args.data or bundle.meta.get("dataset", {}).get("root")
    evaluation = None
    if data and Path(data).is_dir():
        from core.data.label_sheet import sheet_path
        sheet = (bundle.meta.get("dataset", {}).get("label_sheet") or {}).get("path")  # the run's own dataset: the
        given = not args.data and sheet and Path(sheet) != sheet_path(data)  # sheet given to train (--labels) again
        scan = scan_folder(data, args.quiet, sheet if given else None)
        with Bar(args.quiet, "Evaluating") as bar:
            evaluation = evaluate(bundle, scan, progress=bar)
    elif not args.quiet:
        print(f"The dataset folder {data} is not here; the report has no evaluation.", file=sys.stderr)
    with Bar(args.quiet, "Writing the report") as bar:
        out = build_report(bundle, evaluation, Path(args.out), progress=bar)
    emit(args, {"report": str(out), "evaluated": evaluation is not None}, f"Report written to {out}")
    return 0
