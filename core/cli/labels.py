"""Command-line label checks and corrections: ``transferlab label-issues DATA`` lists the images whose given
class the model finds unlikely (core.methods.label_issues), worst first; ``transferlab relabel DATA PATH...
--as CLASS | --exclude`` records corrections in the dataset's label sheet (core.data.label_sheet), which every
scan, training and evaluation then applies; ``transferlab labels DATA`` shows the sheet, imports or exports it.
The dataset folder is only ever read."""

from pathlib import Path

from core.cli.common import Bar, emit, scan_folder

SHOWN = 30  # lines of text by default (--json gives them all)


def register(command) -> None:
    """Add the label commands to the parser (``command`` as in core.cli.main.build_parser)."""
    from core.models.catalog import DEFAULT_MODEL
    c = command("label-issues", "list images that are likely in the wrong class folder, worst first")
    c.add_argument("data", help="folder with one subfolder per class (or train/ and val/)")
    c.add_argument("--model", dest="model_name", default=DEFAULT_MODEL, help=f"timm model (default {DEFAULT_MODEL})")
    c.add_argument("--image-size", type=int, help="override the model's input size (pixels)")
    c.add_argument("--top", type=int, default=SHOWN, help=f"how many to print as text (default {SHOWN})")
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
    c.set_defaults(func=cmd_labels)


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
        lines.append(f"  … and {len(found.issues) - args.top} more (--top N, or --json for all)")
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
    emit(args, {"sheet": str(sheet), "labels": labels}, "\n".join(lines))
    return 0
