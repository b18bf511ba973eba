"""Command-line label checks: ``transferlab label-issues DATA`` lists the images whose given class the model
finds unlikely (core.methods.label_issues), worst first. The folder is only read."""

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
