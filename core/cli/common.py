"""What every command shares: exit codes, the stderr progress bar, printing text or JSON, scanning the
dataset folder, the settings the common flags give, and the training callback that draws progress."""

import json
import sys
from dataclasses import replace
from pathlib import Path

from core.training.events import TrainCallback

EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 130


class Bar:
    """A tqdm progress bar on stderr, created lazily; silent when quiet."""

    def __init__(self, quiet: bool, desc: str) -> None:
        self.quiet, self.desc, self.bar, self.said = quiet, desc, None, ""

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if self.quiet:
            return
        if total <= 0:  # a step of unknown length: its words on a line of their own
            if message and message != self.said:
                self.close()
                print(message, file=sys.stderr)
                self.said = message
            return
        from tqdm import tqdm
        desc = message or self.desc
        if self.bar is None or self.bar.total != total or self.bar.desc != desc:
            self.close()
            # no rate: a step read from a cache jumps to its end at once ("9151208 it/s" says nothing to a user)
            self.bar = tqdm(total=total, desc=desc, file=sys.stderr, leave=False,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]")
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> "Bar":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def emit(args, data, text: str) -> None:
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        print(text)


def scan_folder(path: str, quiet: bool, labels: str | None = None):
    """Scan ``path``; ``labels``: a label sheet to apply instead of the folder's own (``--labels SHEET``)."""
    from core.data.dataset import scan_dataset
    with Bar(quiet, "Scanning") as bar:
        return scan_dataset(Path(path), progress=bar, labels=Path(labels) if labels else None)


def add_labels_flag(c) -> None:
    """``--labels SHEET`` on a command that scans a dataset folder."""
    c.add_argument("--labels", metavar="SHEET", help="apply this label sheet (CSV: path,label,source,time; paths "
                                                     "relative to the folder) instead of the folder's own")


def base_settings(args):
    from core.training.settings import TrainSettings
    s = TrainSettings()
    for name in ("model_name", "weights_file", "seed", "device", "image_size", "val_fraction"):
        value = getattr(args, name, None)
        if value is not None:
            s = replace(s, **{name: value})
    if getattr(args, "no_pretrained", False):
        s = replace(s, weights="none")
    return s


class CliCallback(TrainCallback):
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = None
        self.prepare = Bar(quiet, "Preparing")
        self.eta = None  # core.training.eta.RunEta of the running fit

    def on_status(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr)

    def on_prepare(self, e) -> None:
        self.prepare(e.done, e.total, e.stage if e.total else e.words())  # a step without a count: one line
        if self.eta is not None:
            self.eta.prepared()  # (between a two-stage run's stages) not counted as the next epoch's pace

    def on_fit_start(self, e) -> None:
        self.prepare.close()
        if not self.quiet:
            print(f"Training on {e.device}: {e.train_images} train / {e.val_images} validation images, "
                  f"{e.trainable_params:,} of {e.total_params:,} parameters trainable; weights: {e.weights_source}",
                  file=sys.stderr)
            print(f"Speed: {e.engine}; {e.precision}", file=sys.stderr)
        from core.training.eta import RunEta
        self.eta = RunEta(e.epochs, first_epoch=e.first_epoch, head_epochs=e.head_epochs)  # the window's rule

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

    def on_candidate_start(self, index: int, total: int, label: str) -> None:  # Auto's search (core.methods.auto_search)
        self.close()
        self.bar, self.prepare = None, Bar(self.quiet, "Preparing")
        self.on_status(f"Candidate {index + 1} of {total}: {label}")

    def on_candidate_end(self, row: dict) -> None:
        if "val_accuracy" in row:
            self.on_status(f"  {row['title']}: validation accuracy {row['val_accuracy']:.1%} in {row['seconds']:.0f} s")
