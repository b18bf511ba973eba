"""Results and Try pages: clickable confusion matrix, top losses, Grad-CAM, ROC threshold, export, report,
heatmaps on the Try page and a folder predicted to CSV."""

import csv

import pytest
from PySide6.QtCore import Qt

from app.pages.results_view import ResultsPage
from app.pages.try_view import TryPage
from app.state import WizardState
from core.data.dataset import scan_dataset
from core.training.settings import TrainSettings
from core.training.trainer import train
from tests.datagen import make_class_folder, make_image


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    data = make_class_folder(root / "data", ["circles", "squares"], per_class=12, size=64)
    result = train(scan_dataset(data), TrainSettings(image_size=64, epochs=2, batch_size=8), root / "run")
    return data, result


@pytest.fixture
def results_page(qtbot, trained):
    data, result = trained
    page = ResultsPage(WizardState(scan=scan_dataset(data), result=result))
    qtbot.addWidget(page)
    page.resize(1000, 800)
    page.show()
    with qtbot.waitSignal(page.task.stopped, timeout=60000):
        page.on_enter()
        # while it measures: said so (not "No results yet"), and no tab that may vanish again
        assert "Measuring" in page.accuracy_label.text() and not page.left_tabs.isTabVisible(1)
    yield page
    page.shutdown()


def test_the_action_buttons_stay_in_view_in_a_short_window(qtbot, results_page):
    """A walkthrough at 1100x760 found Save, Export and Test cut in half until the page was scrolled."""
    page = results_page
    page.resize(1000, 520)
    qtbot.wait(50)
    for button in (page.save_button, page.export_button, page.test_button):
        assert button.visibleRegion().boundingRect().height() == button.height()


def test_clicking_a_cell_shows_its_images_and_an_explanation(qtbot, results_page):
    page = results_page
    report = page.state.evaluation
    assert page.confusion.rowCount() == 2 and page.left_tabs.isTabVisible(1)  # the ROC curve, for two classes
    page.show_cell(0, 0)
    expected = [i for i in report.images if i["true"] == 0 and i["predicted"] == 0]
    assert page.gallery.list.count() == len(expected) > 0
    confidences = [i["confidence"] for i in page.gallery.items]
    assert confidences == sorted(confidences, reverse=True)
    expected = page.gallery.items[0]["path"]
    qtbot.waitUntil(lambda: page.gallery.list.item(0).icon().availableSizes() != [], timeout=20000)
    # the first picture's heatmap appears without a click (a walkthrough saw an empty preview until one)
    qtbot.waitUntil(lambda: page.gallery.preview.pixmap() is not None and not page.gallery.preview.pixmap().isNull(),
                    timeout=30000)
    assert page.gallery.current_path() == expected and "Warm colours" in page.gallery.preview_caption.text()
    assert "Grad-CAM" not in page.gallery.preview_caption.text()  # the method's name on hover, not in the text
    assert "Grad-CAM" in page.gallery.preview_caption.toolTip()


def test_the_confusion_matrix_works_from_the_keyboard(qtbot, results_page):
    """A walkthrough found Tab trapped in the matrix and Enter on a cell leaving the page."""
    page = results_page
    page.confusion.setFocus()
    page.confusion.setCurrentCell(1, 0)
    qtbot.keyClick(page.confusion, Qt.Key.Key_Return)
    report = page.state.evaluation
    assert page.gallery.list.count() == sum(1 for i in report.images if i["true"] == 1 and i["predicted"] == 0)
    assert page.confusion.property("ownsEnter") and not page.confusion.tabKeyNavigation()  # Tab moves on


def test_top_losses_show_the_wrong_answers_first_then_the_least_sure_right_ones(results_page):
    page = results_page
    images = page.state.evaluation.images
    surest = min(range(len(images)), key=lambda i: images[i]["loss"])
    page._predicted = [i["true"] if n != surest else 1 - i["true"] for n, i in enumerate(images)]  # e.g. a moved threshold
    page.show_top_losses()
    shown = page.gallery.items
    assert shown[0]["path"] == images[surest]["path"] and shown[0]["predicted"] != shown[0]["true"]
    losses = [i["loss"] for i in shown[1:]]
    assert losses and losses == sorted(losses, reverse=True) and all(i["predicted"] == i["true"] for i in shown[1:])
    assert page.gallery.title.text().startswith("Top losses: the 1 image the model got wrong, worst first, then the")
    page._predicted = [i["true"] for i in images]  # every answer right: no "the 0 images the model got wrong"
    page.show_top_losses()
    assert page.gallery.title.text().startswith("Top losses: the model got every validation image right; these are the")
    assert all(i["predicted"] == i["true"] for i in page.gallery.items) and "0 images" not in page.gallery.title.text()


def test_moving_the_threshold_changes_the_predictions(results_page):
    page = results_page
    page.roc.slider.setValue(99)  # 'squares' only when nearly certain
    strict = [[int(page.confusion.item(r, c).text()) for c in range(2)] for r in range(2)]
    page.roc.slider.setValue(1)  # 'squares' almost always
    lenient = [[int(page.confusion.item(r, c).text()) for c in range(2)] for r in range(2)]
    assert strict[0][1] + strict[1][1] <= lenient[0][1] + lenient[1][1]  # more predicted positive when lenient
    assert lenient[0][1] + lenient[1][1] == page.state.evaluation.num_images or lenient != strict
    assert "AUC" in page.roc.title.text()


def test_testing_on_another_labelled_folder(qtbot, results_page, tmp_path):
    page = results_page
    test = make_class_folder(tmp_path / "later", ["circles", "squares"], per_class=4, size=64, seed=77)
    page.choose_test_folder = lambda: str(test)
    qtbot.waitUntil(page.test_button.isEnabled, timeout=10000)
    with qtbot.waitSignal(page.task.stopped, timeout=60000):
        qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
    report = page.state.evaluation
    assert report.num_images == 8 and report.folder == str(test)
    assert all(i["path"].startswith(str(test)) for i in report.images)
    assert f"8 images in {test}" in page.accuracy_label.text()
    unknown = make_class_folder(tmp_path / "other", ["circles", "triangles"], per_class=2, size=64)
    page.choose_test_folder = lambda: str(unknown)
    with qtbot.waitSignal(page.task.stopped, timeout=60000):
        page._test_folder()
    assert "triangles" in page.banner.text() and page.state.evaluation is report  # the shown results stay


def test_export_and_report_from_the_page(qtbot, results_page, tmp_path):
    page = results_page
    page.choose_export_file = lambda fmt: str(tmp_path / f"model.{fmt}")
    with qtbot.waitSignal(page.task.stopped, timeout=60000):
        page._export("onnx")
    assert "Exported to" in page.banner.text() and (tmp_path / "model.onnx.json").is_file()
    page.choose_report_file = lambda: str(tmp_path / "report.html")
    qtbot.waitUntil(page.report_button.isEnabled, timeout=10000)
    with qtbot.waitSignal(page.task.stopped, timeout=60000):
        qtbot.mouseClick(page.report_button, Qt.MouseButton.LeftButton)
    assert "Report saved" in page.banner.text() and "<svg" in (tmp_path / "report.html").read_text()


def test_try_page_heatmaps_and_a_folder_to_csv(qtbot, trained, tmp_path):
    data, result = trained
    page = TryPage(WizardState(scan=scan_dataset(data), result=result))
    qtbot.addWidget(page)
    page.on_enter()
    folder = tmp_path / "new"
    (folder / "sub").mkdir(parents=True)
    make_image(0, size=64, seed=901).save(folder / "one.png")
    make_image(1, size=64, seed=902).save(folder / "sub" / "two.png")
    (folder / "broken.png").write_bytes(b"not an image")
    page.heat_check.setChecked(True)
    with qtbot.waitSignal(page.task.stopped, timeout=60000):
        page.predict_paths([str(folder / "one.png")])
    assert page.result_count() == 1
    with qtbot.waitSignal(page.task.stopped, timeout=60000):
        page.predict_folder_to_csv(str(folder), str(tmp_path / "out.csv"))
    rows = list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8")))
    assert list(rows[0]) == ["path", "label", "confidence", "unknown_score", "is_unknown", "p_circles", "p_squares",
                             "error"]
    assert len(rows) == 3 and sum(1 for r in rows if r["error"]) == 1
    assert "3 images" in page.banner.text() and "1 could not be read" in page.banner.text()
    # Another model chosen (e.g. a second run): the pictures tried with the first are not left beside new ones.
    from dataclasses import replace
    with qtbot.waitSignal(page.task.stopped, timeout=60000):
        page.predict_paths([str(folder / "one.png")])
    assert page.result_count() >= 1
    page.state.result = replace(result, run_dir=tmp_path / "another-run")
    page.on_enter()
    assert page.result_count() == 0 and "belonged to the model in" in page.banner.text()


def test_a_long_class_name_does_not_widen_the_roc_curve(qtbot):
    """At 200% a walkthrough saw Results widen the window to the screen's width: the ROC lines did not wrap."""
    from app.widgets.roc import RocPanel
    view = RocPanel()
    qtbot.addWidget(view)
    view.set_roc({"positive": "functional with minor scratches on the left edge " * 2, "auc": 0.9,
                  "fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.9, 1.0], "thresholds": [1.0, 0.5, 0.0]})
    assert view.minimumSizeHint().width() < 400


def test_try_page_says_unknown_for_an_image_unlike_the_training_ones(qtbot, trained, tmp_path):
    import numpy as np
    from PIL import Image
    data, result = trained
    page = TryPage(WizardState(scan=scan_dataset(data), result=result))
    qtbot.addWidget(page)
    page.on_enter()
    page.heat_check.setChecked(False)
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(noise)
    with qtbot.waitSignal(page.task.stopped, timeout=60000):
        page.predict_paths([str(noise)])
    assert page.last_label() == "unknown"
    row = page.results.itemWidget(page.results.item(0))
    from PySide6.QtWidgets import QLabel
    assert any("looks unlike your training images" in label.text() for label in row.findChildren(QLabel))
    words = next(label.text() for label in row.findChildren(QLabel) if "looks unlike" in label.text())
    assert "above the limit of" in words and "Nearest class:" in words  # the score has a scale, the guess a name


def test_the_unknown_threshold_moves_on_its_curve_and_is_kept_with_the_model(qtbot, trained, tmp_path):
    """Results draws what each "I don't know" threshold lets through of known images (those that set it) and,
    given a folder of images of no class, catches of them; Keep saves the moved threshold with the model, and
    "Back to the trained one" restores it."""
    import dataclasses
    import shutil

    import numpy as np
    from PIL import Image

    from core.evaluation.predict import predict
    from core.models.bundle import load_bundle
    data, result = trained
    run = tmp_path / "run"
    shutil.copytree(result.run_dir, run)  # the module's model keeps its threshold for the other tests
    page = ResultsPage(WizardState(scan=scan_dataset(data), result=dataclasses.replace(result, run_dir=run)))
    qtbot.addWidget(page)
    page.resize(1000, 900)
    page.show()
    with qtbot.waitSignal(page.task.stopped, timeout=60000):
        page.on_enter()
    panel = page.unknown_panel
    assert page.left_tabs.isTabVisible(2) and page.left_tabs.isTabVisible(1)  # two classes: the ROC curve too
    page.left_tabs.setCurrentWidget(panel)
    first = load_bundle(run).meta["unknown"]["threshold"]
    assert panel.isVisible() and "24 labelled images" in panel.value.toolTip() and "of your 24" in panel.value.text()
    assert panel.threshold() == first and not panel.keep_button.isEnabled()
    assert panel.curve.at(first)[0] >= 0.95 and panel.curve.at(first)[1] is None
    noise = tmp_path / "noise"
    noise.mkdir()
    for i in range(5):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(noise / f"{i}.png")
    panel.choose_other_folder = lambda: str(noise)
    assert not panel.extra_button.isEnabled()  # nothing to add as a class yet
    with qtbot.waitSignal(panel.task.stopped, timeout=60000):
        qtbot.mouseClick(panel.other_button, Qt.MouseButton.LeftButton)
    assert panel.extra_button.isEnabled()
    assert panel.curve.other_images == 5 and f"the 5 images in {noise}" in panel.value.toolTip()
    assert "catches 100%</b> of 5 of no class (AUROC 1.000" in panel.value.text()
    panel.slider.setFocus()
    qtbot.keyClick(panel.slider, Qt.Key.Key_End)  # above every score: nothing is called unknown
    assert "catches 0%" in panel.value.text() and panel.keep_button.isEnabled()
    qtbot.mouseClick(panel.keep_button, Qt.MouseButton.LeftButton)
    assert "Kept the “I don't know” threshold" in page.banner.text() and not panel.keep_button.isEnabled()
    kept = load_bundle(run)
    assert kept.meta["unknown"]["threshold"] == panel.threshold() > first
    assert kept.meta["unknown"]["trained_threshold"] == first
    assert not any(r["is_unknown"] for r in predict(kept, [noise]))
    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    assert load_bundle(run).meta["unknown"]["threshold"] == first == panel.threshold()
    page.shutdown()


def test_ticking_heatmaps_after_trying_draws_the_same_pictures_again_with_them(qtbot, trained):
    import numpy as np
    data, result = trained
    page = TryPage(WizardState(scan=scan_dataset(data), result=result))
    qtbot.addWidget(page)
    page.on_enter()
    page.heat_check.setChecked(False)
    paths = [str(p) for p in sorted((data / "circles").iterdir())[:2]]
    with qtbot.waitSignal(page.task.stopped, timeout=60000):
        page.predict_paths(paths)
    plain = [page.results.itemWidget(page.results.item(i)).thumb for i in range(2)]
    with qtbot.waitSignal(page.task.stopped, timeout=60000):
        page.heat_check.setChecked(True)
    assert page.result_count() == 2  # drawn again, not added
    drawn = [page.results.itemWidget(page.results.item(i)).thumb for i in range(2)]
    assert all(not np.array_equal(a, b) for a, b in zip(plain, drawn))
    page.heat_check.setChecked(False)
    page.heat_check.setChecked(True)  # already drawn with heatmaps: nothing runs
    assert not page.task.is_running() and page.result_count() == 2


def test_a_long_class_name_is_shortened_with_an_ellipsis_and_whole_in_its_tooltip(qtbot):
    from app.widgets.confusion import ConfusionMatrixWidget
    matrix = ConfusionMatrixWidget()
    qtbot.addWidget(matrix)
    names = ["scratched surface near the weld seam", "dented housing", "fine"]
    matrix.set_matrix([[3, 1, 0], [0, 4, 0], [1, 0, 5]], names)
    matrix.resize(300, 200)
    assert matrix.horizontalHeader().textElideMode() == Qt.TextElideMode.ElideRight
    assert matrix.horizontalHeaderItem(0).toolTip() == f"Predicted as {names[0]}"
    assert matrix.verticalHeaderItem(1).toolTip() == f"Really {names[1]}"


def test_the_unknown_curve_labels_its_log_axis_at_round_numbers_only():
    from app.widgets.unknown_panel import _LogAxis
    axis = _LogAxis("bottom")
    values = [-1.5228787, -1.39794, -1.30103, -1.0, -0.69897, 0.0]  # 0.03, 0.04, 0.05, 0.1, 0.2, 1
    assert axis.logTickStrings(values, 1.0, 1.0) == ["", "", "0.05", "0.1", "0.2", "1"]


def test_a_message_below_the_buttons_is_scrolled_into_view(qtbot, results_page):
    page = results_page
    page.resize(1000, 420)  # short: the page scrolls, the banner below its buttons is out of sight
    qtbot.wait(50)
    page.banner.show_message("Report saved to somewhere.", "ok")
    qtbot.waitUntil(lambda: not page.banner.visibleRegion().isEmpty(), timeout=2000)


def test_show_what_the_model_looks_at_is_one_choice_for_results_and_try(qtbot, trained):
    from app.widgets.gallery import Gallery
    data, result = trained
    gallery = Gallery()
    qtbot.addWidget(gallery)
    page = TryPage(WizardState(scan=scan_dataset(data), result=result))
    qtbot.addWidget(page)
    assert gallery.heat_check.isChecked() and page.heat_check.isChecked()  # the same default on both
    gallery.heat_check.setChecked(False)  # unticked on Results
    page.on_enter()
    assert not page.heat_check.isChecked() and not page.task.is_running()
    page.heat_check.setChecked(True)  # ticked on Try: Results opens ticked next time
    later = Gallery()
    qtbot.addWidget(later)
    assert later.heat_check.isChecked()
