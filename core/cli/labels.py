"""Command-line label checks and corrections: ``transferlab label-issues DATA`` lists the images whose given
class the model finds unlikely (core.methods.label_issues), worst first; ``transferlab relabel DATA PATH...
--as CLASS | --exclude`` records corrections in the dataset's label sheet (core.data.label_sheet), which every
scan, training and evaluation then applies; ``transferlab labels DATA`` shows the sheet, imports or exports it, or
writes a corrected copy of the dataset elsewhere (``--export-copy DEST``: core.data.corrected_copy); ``transferlab
suggest RUN UNLABELLED`` lists which unlabelled images to label next (core.methods.suggest). The dataset folder is
only ever read."""

from pathlib import Path

from core.cli.common import Bar, emit, scan_folder

SHOWN = 30  # lines of text by default (--json gives them all)
SUGGESTED = 50  # images suggested by default


def register(command) -> None:
    """Add the label commands to the parser (``command`` as in core.cli.main.build_parser)."""
    from core.models.catalog import DEFAULT_MODEL
    c = command("label-issues", "list images that are likely in the wrong class folder, worst first")
    c.add_argument("data", help="folder with one subfolder per class (or train/ and val/)")
    c.add_argument("--model", dest="model_name", default=DEFAULT_MODEL, help=f"timm model (default {DEFAULT_MODEL})")
    c.add_argument("--image-size", type=int, help="override the model's input size (pixels)")
    c.add_argument("--top", type=int, default=SHOWN, help=f"how many to print as text (default {SHOWN})")
    c.add_argument("--csv", metavar="FILE", help="also write every one, worst first, to this CSV file")
    c.set_defaults(func=cmd_label_issues)
    c = command("relabel", "record corrections in the dataset's label sheet (the folder itself is not changed)")
    c.add_argument("data", help="the dataset folder")
    c.add_argument("paths", nargs="+", help="images in it")
    what = c.add_mutually_exclusive_group(required=True)
    what.add_argument("--as", dest="label", help="the class these images really are (a new name adds a class)")
    what.add_argument("--exclude", action="store_true", help="leave these images out")
    c.set_defaults(func=cmd_relabel)
    c = command("labels", "show the dataset's label sheet (corrections kept beside the folder), import or export it")
    c.add_argument("data", help="the dataset folder")
    c.add_argument("--import", dest="import_from", metavar="CSV", help="add the rows of a sheet (path,label,...)")
    c.add_argument("--export", metavar="CSV", help="write a copy of the sheet")
    c.add_argument("--export-copy", metavar="DEST", help="write a corrected copy of the dataset to DEST (a new or "
                   "empty folder outside it): one folder per class, the sheet applied, every image copied")
    c.set_defaults(func=cmd_labels)
    c = command("suggest", "which unlabelled images to label next for a trained model, most useful first")
    c.add_argument("run", help="run folder of a trained model")
    c.add_argument("unlabelled", help="folder of unlabelled images (searched recursively)")
    c.add_argument("--n", type=int, default=SUGGESTED, help=f"how many to suggest (default {SUGGESTED})")
    c.add_argument("--csv", metavar="FILE", help="also write the order to this CSV file")
    c.set_defaults(func=cmd_suggest)


def cmd_label_issues(args) -> int:
    from core.methods.label_issues import find_label_issues
    scan = scan_folder(args.data, args.quiet)
    with Bar(args.quiet, "Checking labels") as bar:
        found = find_label_issues(scan, args.model_name, args.image_size, progress=bar)
    lines = [f"{len(found.issues)} of {found.images} images look like another class than their folder says "
             f"(each judged by a classifier that did not see it, {found.folds}-fold); worst first:"]
    lines += [f"  {i.given} → {i.suggested}  ({i.given_probability:.0%} vs {i.suggested_probability:.0%})  {i.path}"
              for i in found.issues[:max(0, args.top)]]
    if len(found.issues) > args.top:
        lines.append(f"  … and {len(found.issues) - args.top} more (--top N, or --json / --csv for all)")
    if args.csv:
        _write_rows(Path(args.csv), ["rank", "path", "given", "suggested", "given_probability",
                                     "suggested_probability", "action"],
                    [[k, i.path, i.given, i.suggested, f"{i.given_probability:.6f}", f"{i.suggested_probability:.6f}",
                      i.action] for k, i in enumerate(found.issues, 1)])
    emit(args, found.to_dict(), "\n".join(lines))
    return 0


def cmd_relabel(args) -> int:
    from core.base.errors import TransferLabError
    from core.data.label_sheet import EXCLUDED, record
    root = Path(args.data).resolve()
    if not root.is_dir():
        raise TransferLabError(f"Not a folder: {args.data}")
    paths = [Path(p).resolve() for p in args.paths]
    outside = [str(p) for p in paths if root not in p.parents or not p.is_file()]
    if outside:
        raise TransferLabError(f"Not an image in {root}: {', '.join(outside[:3])}")
    sheet = record(root, {p: EXCLUDED if args.exclude else args.label for p in paths})
    what = "left out" if args.exclude else f"labelled “{args.label}”"
    emit(args, {"sheet": str(sheet), "changed": len(paths)},
         f"{len(paths)} image(s) {what} in the label sheet {sheet}; the folder is unchanged.")
    return 0


def cmd_labels(args) -> int:
    import csv
    import shutil

    from core.base.errors import TransferLabError
    from core.data.label_sheet import read_sheet, record, sheet_path
    root = Path(args.data).resolve()
    if args.import_from:
        try:
            rows = read_sheet(root, Path(args.import_from).resolve(strict=True))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise TransferLabError(f"Cannot read the sheet {args.import_from}: {exc}") from exc
        record(root, rows, source=f"imported from {Path(args.import_from).name}")
    sheet, labels = sheet_path(root), read_sheet(root)
    if args.export:
        if not labels:
            raise TransferLabError(f"{root} has no label sheet yet")
        shutil.copyfile(sheet, args.export)
    lines = [f"Label sheet of {root}: {sheet}" + ("" if labels else " (none yet)")]
    lines += [f"  {path} → {label}" for path, label in sorted(labels.items())]
    data = {"sheet": str(sheet), "labels": labels}
    if args.export_copy:
        from core.data.corrected_copy import check_destination, export_corrected_copy
        check_destination(root, args.export_copy)  # before the scan: a wrong destination is said at once
        scan = scan_folder(str(root), args.quiet)
        with Bar(args.quiet, "Copying") as bar:
            copied = export_corrected_copy(scan, Path(args.export_copy), progress=bar)
        data["copy"] = copied.to_dict()
        lines.append(f"Corrected copy written to {copied.dest}: {copied.images} images ({copied.relabelled} in "
                     f"another class's folder, {copied.added} new ones from outside it, {copied.renamed} renamed as "
                     f"their name was taken there), {copied.excluded} left out; {root} is unchanged.")
    emit(args, data, "\n".join(lines))
    return 0


def cmd_suggest(args) -> int:
    from core.methods.suggest import suggest_labels
    from core.models.bundle import load_bundle
    bundle = load_bundle(Path(args.run))
    with Bar(args.quiet, "Looking at the images") as bar:
        found = suggest_labels(bundle, Path(args.unlabelled), args.n, progress=bar)
    if args.csv:  # one row per suggestion, in order
        _write_rows(Path(args.csv), ["rank", "path", "guess", "probability", "margin",
                                     *[f"p_{c}" for c in found.classes]],
                    [[k, s.path, s.guess, f"{s.probability:.6f}", f"{s.margin:.6f}",
                      *[f"{s.probabilities[c]:.6f}" for c in found.classes]]
                     for k, s in enumerate(found.suggestions, 1)])
    lines = [f"Label these {len(found.suggestions)} of {found.images} unlabelled images first, in this order "
             "(the model's guess and how sure it is):" if found.suggestions else
             f"No unlabelled images to suggest in {args.unlabelled}."]
    lines += [f"  {k:3d}. {s.path}\t{s.guess}\t{s.probability:.0%}" for k, s in enumerate(found.suggestions, 1)]
    if found.already_labelled:
        lines.append(f"{found.already_labelled} image(s) of the folder are labelled already and were left out.")
    if found.unreadable:
        lines.append(f"{len(found.unreadable)} file(s) could not be read: " + ", ".join(found.unreadable[:3])
                     + (" …" if len(found.unreadable) > 3 else ""))
    emit(args, found.to_dict(), "\n".join(lines))
    return 0


def _write_rows(path: Path, header: list[str], rows: list[list]) -> None:
    """A CSV file of ``header`` and ``rows``, written whole or not at all."""
    import csv

    from core.base.atomic import atomic_write
    from core.base.errors import TransferLabError

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
    try:
        atomic_write(path, write)
    except OSError as exc:
        raise TransferLabError(f"Cannot write {path}: {exc.strerror or exc}") from exc
