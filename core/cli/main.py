"""The headless command line: the same core functions the GUI calls.

Every command takes ``--json`` and then prints one JSON document on stdout.
Progress goes to stderr. Bad input: a one-line error and exit code 2.
"""

import argparse
import os
import sys

from core.base.errors import Cancelled, TransferLabError
from core.cli.commands import (cmd_advise, cmd_evaluate, cmd_explain, cmd_export, cmd_models, cmd_predict, cmd_report,
                               cmd_scan)
from core.cli.common import EXIT_BAD_INPUT, EXIT_CANCELLED, add_labels_flag
from core.cli.train import cmd_train


def build_parser() -> argparse.ArgumentParser:
    from core.models.catalog import DEFAULT_MODEL
    from core.models.devices import DEVICE_CHOICES
    from core.models.preprocess import PRESETS
    from core.training.settings import STRATEGIES
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
    add_labels_flag(c)
    c.add_argument("--check-labels", action="store_true",
                   help=f"also count the possible label mistakes (as label-issues finds them, on {DEFAULT_MODEL})")
    c.add_argument("--image-size", type=int, help="with --check-labels: the images' size in pixels (the model's own)")
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
            add_labels_flag(c)
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
                                "see core/training/distributed.py)")
            c.add_argument("--dist-timeout", type=float, default=1800.0, metavar="SECONDS",
                           help="with --distributed: give up when another process does not answer for this long")
            c.set_defaults(model_name=None, device=None, seed=None, strategy=None)  # so --config is not overridden
    c = command("predict", "label images with a trained model")
    c.add_argument("run", help="run folder of a trained model")
    c.add_argument("paths", nargs="+", help="image files or folders (searched recursively)")
    c.add_argument("--csv", help="also write the predictions to this CSV file")
    c.add_argument("--reject", action="store_true",
                   help="label images that look unlike every training image 'unknown' instead of their nearest class")
    c.add_argument("--threshold", type=float,
                   help="with --reject: the unknown score above which an image is 'unknown' (default: the model's "
                        "own, set from its training images)")
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
    c.add_argument("--unknown-folder", help="images of none of the classes: how many the model calls unknown, and "
                                            "how well its unknown score tells them apart (AUROC)")
    c.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    add_labels_flag(c)
    c.set_defaults(func=cmd_evaluate)
    from core.cli import experiments, labels
    experiments.register(command)
    labels.register(command)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "allow_large_images", False):
        from core.data.images import allow_large_images
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
