"""Words a walkthrough found unexplained: each named in plain words on screen, the technical name in the
glossary (F1) and in a tooltip where the word stays."""

import re
from types import SimpleNamespace

from app.glossary import WORDS, explain
from core.methods.advisor import Measurements, decide, use_probe
from core.methods.probe import LayerProbe
from core.training.settings_words import methods_words, precision_words
from core.training.settings import TrainSettings

TERMS = ("Balanced accuracy", "Top losses", "Random seed", "Balance the classes in the loss", "Learning rate",
         "Epoch", "Batch size", "L2-SP", "Freeze depth (layer groups)", "Precision (of a class)", "Recall", "F1",
         "Grad-CAM (heatmap)", "Calibration (temperature)", "Expected calibration error (ECE)",
         "Simple classifier (linear)", "Fit in one go (to convergence)", "Regularisation", "Layer (feature level)",
         "Similarity to ImageNet (statistics shift)", "Quick check (nearest class)",
         "Test every layer (layer-wise probe)", "Fast arithmetic (bf16, fp16, fp32, channels-last)",
         "Convolutional network (CNN)", "Vision transformer", "Unknown score (and its limit)", "Classifier",
         "Megapixels (MP)", "Centre crop", "Median", "Log scale", "Images per second (images/s)",
         "Softening factor (temperature)", "Wilson interval", "Run on a server\u2026", "Device: Auto (best available)")
TECHNICAL = ("head", "bf16", "fp16", "fp32", "channels-last", "pooled", "linear", "convergence", "feature level",
             "nearest-class", "16-bit", "32-bit")


def bare(text: str) -> set[str]:
    """The technical words in ``text`` outside brackets (a name in brackets is the allowed aside)."""
    outside = re.sub(r"\([^()]*\)", "", text).lower()
    return {w for w in TECHNICAL if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", outside)}


def test_the_glossary_holds_every_word_the_walkthrough_named():
    missing = [t for t in TERMS if t not in WORDS]
    assert not missing
    assert "95%" in WORDS["Unknown score (and its limit)"] and "About 1" in WORDS["Unknown score (and its limit)"]
    assert "head" in WORDS["Classifier"] and "bf16" in explain("Fast arithmetic (bf16, fp16, fp32, channels-last)")
    from app.pages.train_page import DEVICE_NAMES
    assert f"Device: {DEVICE_NAMES['auto']}" in WORDS  # the words as the Train page shows them


def test_the_train_log_says_classifier_and_plain_arithmetic():
    from core.training.trainer import _stage_message
    from core.training.schedule import HEAD
    run = SimpleNamespace(stage=SimpleNamespace(name=HEAD, first_epoch=1, last_epoch=2),
                          freeze=SimpleNamespace(freeze_depth=8, trainable_params=1234),
                          engine=SimpleNamespace(description="images decoded once (3 MiB in memory)"))
    first = _stage_message(run, 1)
    run.stage.name = "fine-tune"
    later = _stage_message(run, 3)
    assert "new classifier" in first and "the top 8 layer groups and the new classifier" in later
    for plan in ("bf16, channels-last", "fp32", "fp16, channels-last", "channels-last",
                 "bf16, channels-last for fine-tuning steps; features, validation and predictions in fp32"):
        words = precision_words(plan)
        assert not bare(words), (plan, words)
    for text in (first, later, *methods_words(TrainSettings(strategy="feature-extraction", classifier_fit="converged",
                                                             l2sp_alpha=0.0))):
        assert not bare(text), text


def _measurements(chance: float = 0.38) -> Measurements:
    return Measurements(num_classes=3, train_images=60, median_per_class=19, sample_size=60, final_separability=0.9,
                        early_separability=0.8, early_level=1, early_level_name="blocks.1", imagenet_confidence=0.42,
                        chance=chance, imagenet_shift=0.25)


def test_the_strategy_rationale_is_in_plain_words():
    for strategy_m in (_measurements(), Measurements(**{**_measurements().__dict__, "imagenet_confidence": 0.5,
                                                        "imagenet_shift": 0.1})):
        s = decide(strategy_m, num_groups=8, default_cut=1)
        probe = LayerProbe("m", 60, 0.38, [{"index": i, "module": f"blocks.{i}", "channels": 8, "accuracy": 0.9,
                                             "logme": 0.0} for i in range(5)], 0, 0.95, 0.0)
        use_probe(s, probe)
        text = " ".join(s.rationale)
        assert not bare(text), bare(text)
        assert "38% of the training images" in text  # which images the majority figure counts (Results: validation)
        assert ("Testing every layer" in text) == (s.strategy == "truncated")
    assert "layer 1 of 6" in probe.sentence() and not bare(probe.sentence())


def test_strategy_page_words_tooltips_and_auto_caption(qtbot):
    from app.state import WizardState
    from app.pages.strategy_page import StrategyPage
    state = WizardState()
    page = StrategyPage(state)
    qtbot.addWidget(page)
    assert page.probe_button.text() == "Test every layer" and "layer-wise probe" in page.probe_button.toolTip()
    assert "nearest class" in page.rationale_label.toolTip()
    assert page.probe_chart.plot.getPlotItem().buttonsHidden  # no riddle "A" (auto-range) button
    page.quadrant.set_point(19, -0.1, "truncated")
    page.quadrant.set_auto(True)
    assert page.quadrant.auto and "Auto is on" in page.quadrant.toolTip()
    page.quadrant.set_auto(False)
    assert "Auto is on" not in page.quadrant.toolTip()


def test_freeze_and_model_pages_explain_their_words(qtbot):
    from app.state import WizardState
    from app.pages.freeze_page import FreezePage
    from app.pages.model_page import ModelPage
    page = FreezePage(WizardState())
    qtbot.addWidget(page)
    assert "convergence" in page.converged_check.toolTip() and "convergence" not in page.converged_check.text()
    form = page.settings_box.layout()
    for field, word in ((page.head_lr_spin, "Learning rate"), (page.epochs_spin, "Epoch"),
                        (page.batch_spin, "Batch size")):
        assert word in field.toolTip() and word in form.labelForField(field).toolTip()
    model = ModelPage(WizardState())
    qtbot.addWidget(model)
    about = {model.table.item(r, 0).text(): model.table.item(r, model.table.columnCount() - 1) for r in
             range(model.table.rowCount())}
    assert "Vision transformer" in about["vit_small_patch16_224"].toolTip()
    assert "CNN" in about["convnext_tiny"].toolTip() and "CNN" not in about["convnext_tiny"].text()
