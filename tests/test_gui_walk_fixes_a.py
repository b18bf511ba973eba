"""A new user's walkthrough: duplicate counts in the words of what is seen, a visible check box in dark
mode, no invisible Tab stop on the Data step, tests that keep out of the user's settings, and runs that
can be told apart in Open a run…."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QAbstractScrollArea, QCheckBox, QPlainTextEdit, QStyle,
                               QStyleOptionButton, QTextEdit)

from tests.test_health_words import _messy

ROOT = Path(__file__).resolve().parent.parent


def test_the_duplicates_window_counts_pictures_and_where_their_copies_are(qtbot, tmp_path):
    from app.duplicates_dialog import DuplicatesDialog
    from core.data.dataset import scan_dataset
    root = _messy(tmp_path)
    groups = scan_dataset(root).health()["duplicates"]
    dialog = DuplicatesDialog(root, groups)
    qtbot.addWidget(dialog)
    intro = dialog.intro.text()
    assert intro.startswith("<b>1</b> picture appears under different classes (3 copies in grass, 1 in brick)")
    assert "0 of copies" not in intro and "within a class" not in intro
    assert dialog.list.item(0).text() == "1. Different classes: 3 copies in grass, 1 in brick · exact"
    assert len(dialog.shown_paths()) == 4


def _indicator_brightest(dark: bool, qtbot) -> tuple[int, int]:
    """(lightness of the window, of the brightest pixel of an unticked check box's box)."""
    from app.theme import VisibleFocusStyle, dark_palette
    style = VisibleFocusStyle()
    box = QCheckBox("Allow very large images")
    qtbot.addWidget(box)
    box.setStyle(style)
    palette = dark_palette() if dark else style.standardPalette()
    box.setPalette(palette)
    box.resize(box.sizeHint())
    image = box.grab().toImage()
    option = QStyleOptionButton()
    option.initFrom(box)
    rect = style.subElementRect(QStyle.SubElement.SE_CheckBoxIndicator, option, box)
    ratio = image.devicePixelRatio()
    lightness = [QColor(image.pixel(int(x * ratio), int(y * ratio))).lightness()
                 for x in range(rect.left(), rect.right() + 1) for y in range(rect.top(), rect.bottom() + 1)]
    return palette.color(palette.ColorRole.Window).lightness(), max(lightness)


def test_an_unticked_check_box_stands_out_in_dark_mode_and_light_mode(qtbot):
    window, brightest = _indicator_brightest(True, qtbot)
    assert brightest - window > 80, (window, brightest)  # Fusion's own edge is darker than the window
    window, brightest = _indicator_brightest(False, qtbot)
    assert window > 200 and brightest > 200  # light mode: Fusion's white box, as before


def test_tab_on_the_data_step_stops_only_where_focus_can_be_seen(qtbot, tmp_path, monkeypatch):
    from app.main_window import MainWindow
    from tests.datagen import make_class_folder
    monkeypatch.setenv("TRANSFERLAB_DATA_DIR", str(tmp_path / "appdata"))
    window = MainWindow()
    qtbot.addWidget(window)
    window.confirm_quit_while_busy = lambda: True
    root = make_class_folder(tmp_path / "shapes", ["a", "b"], per_class=6, size=32)
    window.show()
    window.activateWindow()
    data = window.pages[0]
    data.scan_folder(str(root))
    qtbot.waitUntil(data.is_complete, timeout=30000)
    assert data.health_box.isVisible()
    seen = []
    for _ in range(40):
        window.focusNextChild()
        seen.append(window.focusWidget())
    bare = [w for w in seen if isinstance(w, QAbstractScrollArea)
            and not isinstance(w, (QAbstractItemView, QTextEdit, QPlainTextEdit))]
    assert not bare, bare
    window.close()


def _under_temp(name: str) -> bool:
    real = Path(os.path.expanduser("~")) / ".config"
    path = Path(name).resolve()
    return path.is_relative_to(Path(tempfile.gettempdir()).resolve()) and not path.is_relative_to(real.resolve())


def test_settings_in_a_gui_test_are_a_temporary_file(qtbot):
    from app import app_settings
    assert _under_temp(app_settings.store().fileName()), app_settings.store().fileName()


def test_settings_in_a_test_without_qtbot_are_a_temporary_file():
    from app import app_settings
    name = app_settings.store().fileName()  # only looked at: were it the real file, nothing is written
    assert _under_temp(name), name
    assert QSettings.defaultFormat() == QSettings.Format.IniFormat


def test_an_app_that_a_test_starts_keeps_its_settings_in_a_temporary_folder():
    """The self-test and display checks start the app in a process of its own; it must not write the
    user's real settings either (data/last_folder pointed at a pytest folder after a test run)."""
    code = ("from PySide6.QtCore import QCoreApplication, QSettings\n"
            "QCoreApplication.setOrganizationName('TransferLab'); QCoreApplication.setApplicationName('TransferLab')\n"
            "print(QSettings().fileName())")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert _under_temp(out.stdout.strip()), out.stdout


def _fake_run(runs_dir: Path, name: str, settings: dict, auto: dict | None = None) -> Path:
    run = runs_dir / name
    run.mkdir(parents=True)
    record = {"settings": {"model_name": "tf_efficientnet_lite0", "epochs": 5, **settings}, "status": "finished",
              "dataset_root": "/data/walk2/messy", "updated": f"2026-12-06T1{len(name) % 10}:00:00", "history": [{}]}
    (run / "run.json").write_text(json.dumps(record), encoding="utf-8")
    meta = {"settings": record["settings"], "metrics": {"val_accuracy": 0.87}, **({"auto": auto} if auto else {})}
    (run / "transferlab.json").write_text(json.dumps(meta), encoding="utf-8")
    return run


def test_open_a_run_says_what_each_run_trained(qtbot, tmp_path):
    """Two rows read "tf_efficientnet_lite0 | walk2/messy | finished | 87.0%", apart from the time."""
    from app.run_picker import COLUMNS, RunPicker, trained_words
    runs_dir = tmp_path / "runs"
    auto = _fake_run(runs_dir, "2026-12-06_100000_a", {"strategy": "feature-extraction"}, auto={
        "budget": "fast", "winner": "final",
        "rows": [{"name": "final", "title": "Classifier on the final features", "winner": True},
                 {"name": "earlier", "title": "Classifier on earlier-layer features", "winner": False}]})
    by_hand = _fake_run(runs_dir, "2026-12-06_110000_b", {"strategy": "fine-tune-top", "freeze_depth": 2,
                                                          "augmentation": "light"})
    minutes = _fake_run(runs_dir, "2026-12-06_120000_c", {"strategy": "fine-tune-all"}, auto={
        "budget": "2.5", "rows": [{"title": "Fine-tuning the top 3 layer groups (2 epochs after one for the "
                                            "classifier)", "winner": True}]})
    assert trained_words(auto) == "Auto (fast): kept classifier on the final features"
    assert trained_words(by_hand) == "Fine-tuning the top 2 layer groups, light augmentation"
    assert trained_words(minutes).startswith("Auto (2.5 min): kept fine-tuning the top 3 layer groups")
    picker = RunPicker(runs_dir, str(tmp_path))
    qtbot.addWidget(picker)
    column = COLUMNS.index("What was trained")
    rows = {r["run_dir"]: i for i, r in enumerate(picker.rows)}
    assert picker.table.item(rows[str(auto)], column).text() == trained_words(auto)
    lines = [" | ".join(picker.table.item(r, c).text() for c in range(1, len(COLUMNS))) for r in rows.values()]
    assert len(set(lines)) == 3, lines  # the rows differ beyond their time


@pytest.mark.parametrize("strategy, words", [("feature-extraction", "Classifier on the final features"),
                                             ("truncated", "Classifier on earlier-layer features"),
                                             ("fine-tune-all", "Fine-tuning all layers")])
def test_each_strategy_by_hand_in_plain_words(tmp_path, strategy, words):
    from app.run_picker import trained_words
    assert trained_words(_fake_run(tmp_path, "r", {"strategy": strategy})) == words
