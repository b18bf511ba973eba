"""Render every wizard page to PNG, driving the real app offscreen with the bundled sample data.

    .venv/bin/python tools/screenshots.py [--dark] [--scale 2] [--epochs 2] [--out tools/screenshots]

Training really runs (a couple of epochs on the sample data), so the curves and results are real.
"""

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.scratch import scratch_dir  # noqa: E402  (removed when the script exits)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dark", action="store_true")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "tools" / "screenshots"))
    parser.add_argument("--size", default="1100x780", help="window size, WIDTHxHEIGHT (try a short one: 1000x640)")
    parser.add_argument("--experiments", action="store_true", help="also the Compare window (trains 3 candidates)")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["QT_SCALE_FACTOR"] = str(args.scale)
    os.environ.setdefault("TRANSFERLAB_DATA_DIR", str(scratch_dir("transferlab-shots-")))

    from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from app import app_settings
    app_settings.init_identity()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    settings_dir = str(scratch_dir("transferlab-shots-settings-"))
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, settings_dir)
    app = QApplication([])
    from app.theme import apply_theme
    apply_theme(app, dark=args.dark)
    from app.main_window import MainWindow
    from tests.datagen import make_image

    def wait_until(condition, timeout_s=300.0):
        loop = QEventLoop()
        timer = QTimer()
        timer.setInterval(50)
        deadline = [timeout_s * 20]

        def check():
            deadline[0] -= 1
            if condition() or deadline[0] <= 0:
                loop.quit()
        timer.timeout.connect(check)
        timer.start()
        loop.exec()
        timer.stop()
        if not condition():
            raise SystemExit("timed out waiting for the app")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = ("-dark" if args.dark else "") + (f"-{args.scale:g}x" if args.scale != 1 else "") + \
        ("" if args.size == "1100x780" else f"-{args.size}")
    window = MainWindow()
    window.resize(*(int(v) for v in args.size.lower().split("x")))
    window.show()

    def shot(name, widget=None):
        for _ in range(5):
            app.processEvents()
        path = out / f"{name}{suffix}.png"
        (widget or window).grab().save(str(path))
        print(path)

    data = window.pages[0]
    data.sample_button.click()
    wait_until(data.is_complete)
    shot("1-data")
    window.go_next()
    shot("2-model")
    window.go_next()
    wait_until(lambda: window.state.suggestion is not None and not window.current_page.is_busy())
    shot("3-strategy")
    strategy = window.pages[2]
    strategy.auto_box.setChecked(False)
    shot("3b-strategy-auto-off")
    strategy.auto_box.setChecked(True)
    window.go_next()
    if window.state.settings.classifier_fit == "epochs":  # a converged classifier is one fit
        window.state.settings = replace(window.state.settings, epochs=args.epochs)
    freeze = window.pages[3]
    freeze.on_enter()
    wait_until(lambda: len(freeze.preview_pixmaps()) == len(freeze.preview_labels)
               and not freeze.task.is_running() and not freeze.preview_status.text())
    shot("4-freeze-depth")
    window.go_next()
    train = window.pages[4]
    train.start_training()
    wait_until(lambda: window.state.result is not None and not train.is_busy())
    shot("5-train")
    window.go_next()
    wait_until(lambda: window.state.evaluation is not None and not window.current_page.is_busy())
    results = window.pages[5]
    results.show_cell(1, 1)
    results.gallery.list.setCurrentRow(0)
    wait_until(lambda: results.gallery.preview.pixmap() is not None and not results.gallery.preview.pixmap().isNull()
               and all(not results.gallery.list.item(i).icon().isNull() for i in range(results.gallery.list.count())))
    shot("6-results")
    tmp = scratch_dir("transferlab-shots-data-")
    (tmp / "no-class").mkdir()
    for i in range(12):  # drawn shapes: none of the sample's textures
        make_image(i % 3, 96, seed=40 + i).save(tmp / "no-class" / f"shape{i}.png")
    from core.evaluation.predict import score_folder
    results.unknown_panel.set_other(score_folder(results._bundle, tmp / "no-class"), str(tmp / "no-class"))
    results.left_tabs.setCurrentWidget(results.unknown_panel)
    shot("6b-results-unknown")
    results.left_tabs.setCurrentIndex(0)
    window.go_next()
    samples = sorted((ROOT / "resources" / "sample_data" / "gravel").glob("*.jpg"))[:1] + \
        sorted((ROOT / "resources" / "sample_data" / "brick").glob("*.jpg"))[:1]
    make_image(0, 96, seed=1).save(tmp / "something-else.png")
    window.pages[6].heat_check.setChecked(True)
    window.pages[6].predict_paths([str(p) for p in samples] + [str(tmp / "something-else.png")])
    wait_until(lambda: not window.current_page.is_busy() and window.pages[6].result_count() >= 3)
    shot("7-try-it")
    label_dialogs(window, shot, wait_until, tmp)
    words = window.show_words()
    words.filter.setText("accuracy")
    shot("10-words-explained", words)
    words.close()
    if args.experiments:
        dialog = window.open_comparison()
        checks = {"tf_efficientnet_lite0", "feature-extraction", "fine-tune-top", "scratch"}
        for widget in (dialog.models, dialog.strategies):
            for i in range(widget.count()):
                item = widget.item(i)
                item.setCheckState(Qt.CheckState.Checked if item.data(Qt.ItemDataRole.UserRole) in checks
                                   else Qt.CheckState.Unchecked)
        dialog.epochs.setValue(args.epochs)
        dialog.start()
        wait_until(lambda: not dialog.task.is_running(), timeout_s=1800)
        shot("8-compare", dialog)
        dialog.reject()
        window.show_page(1)
        window.pages[1].rank()
        wait_until(lambda: not window.pages[1].rank_task.is_running(), timeout_s=900)
        shot("9-rank")
    window.confirm_quit_while_busy = lambda: True
    window.close()
    return 0


def label_dialogs(window, shot, wait_until, tmp: Path) -> None:
    """Possible label mistakes (on a copy of the sample with three pictures filed under the wrong class) and
    Label new images (a folder of sample pictures without labels), as a user sees them."""
    import shutil

    from app.label_mistakes_dialog import LabelMistakesDialog
    from core.data.dataset import scan_dataset
    from tests.datagen import misfile_one_per_class
    copy = tmp / "textures"
    shutil.copytree(ROOT / "resources" / "sample_data", copy)
    misfile_one_per_class(copy, ["brick", "grass", "gravel"])
    mistakes = LabelMistakesDialog(scan_dataset(copy), "tf_efficientnet_lite0", None, window)
    mistakes.show()
    mistakes.find()
    wait_until(lambda: not mistakes.task.is_running())
    mistakes.relabel_as_suggested()
    shot("11-label-mistakes", mistakes)
    mistakes.reject()
    new = tmp / "new photos"
    new.mkdir()
    for i, path in enumerate(sorted((ROOT / "resources" / "sample_data").rglob("*.jpg"))[::6]):
        shutil.copy(path, new / f"photo {i}.jpg")
    labelling = window.pages[6].label_folder(str(new))
    wait_until(lambda: labelling.session is not None and not labelling.task.is_running())
    labelling.take_guess()
    wait_until(lambda: not labelling.task.is_running())
    shot("12-label-new-images", labelling)
    labelling.reject()


if __name__ == "__main__":
    sys.exit(main())
