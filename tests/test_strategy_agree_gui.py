"""Issue 14 on the Strategy and Freeze pages, driven offscreen with qtbot (real advisor, real images): the chart's
words say why its bars and the quick check differ and why the cut is where it is; the Freeze step names the cut
Strategy chose, in Strategy's words, with the right groups; the measuring bar says "estimating" until it has a time
left, and has one from the first image once this computer has measured the model before."""

from dataclasses import replace

from app.pages.freeze_page import FreezePage
from app.pages.strategy_page import ESTIMATING, StrategyPage
from tests.test_gui_strategy_freeze import _private_data_dir, make_state, pages  # noqa: F401 (fixtures)


def measured(qtbot, pages, state) -> StrategyPage:
    page = pages(StrategyPage(state))
    page.resize(900, 650)
    page.show()
    page.on_enter()
    qtbot.waitUntil(lambda: state.suggestion is not None and page.is_complete(), timeout=90000)
    return page


def test_a_layer_test_asked_for_later_moves_strategy_and_freeze_together(qtbot, pages, tmp_path):
    """The cut was fixed before measuring (no layer test then); "Test every layer" moved it. Strategy's chart
    words named the new cut, and the Freeze step showed the old cut's groups (or all of them)."""
    state = make_state(tmp_path)
    state.settings = replace(state.settings, cut_index=3)
    state.auto_budget = None
    page = measured(qtbot, pages, state)
    s = state.suggestion
    assert state.settings.strategy == "truncated" and state.settings.cut_index == 3 and "probe" not in s.extra
    with qtbot.waitSignal(page.probe_task.stopped, timeout=90000):
        page.probe_button.click()
    probe = s.extra["probe"]
    cut = state.settings.cut_index
    assert cut == probe["best_index"]
    levels = len(probe["levels"])
    layer = f"layer {cut + 1} of {levels + 1}"
    notes = page.probe_notes.text()
    assert page.probe_notes.isVisibleTo(page) and f"cut at {layer}" in notes and "highest bar" in notes
    bars = [level["accuracy"] for level in probe["levels"]] + [probe["final_accuracy"]]
    assert bars[cut] == max(bars) or "margin of error" in notes  # the highest bar, or why not
    # the quick check and the bars: the same numbers, or the words say why they differ
    assert "agree with the quick check" in notes or "two ways" in notes

    freeze = pages(FreezePage(state))
    freeze.show()
    freeze.on_enter()
    from core.models.network import groups_up_to, layer_groups
    from core.models.weights import create_backbone
    kept = groups_up_to(layer_groups(create_backbone(state.settings.model_name, "none").model),
                        probe["levels"][cut]["module"])
    assert freeze.kept_groups() == kept and freeze.slider.maximum() == kept
    assert freeze.cut_label.isVisibleTo(freeze) and f"after {layer}" in freeze.cut_label.text()
    assert f"layer group {kept} of {s.num_groups}" in freeze.cut_label.text()
    assert freeze.table.item(kept, 2).text().startswith("unused") and not freeze.table.item(
        kept - 1, 2).text().startswith("unused")
    strategy_words = next(line for line in s.rationale if line.startswith("Testing every layer"))
    word = strategy_words.split(f"{layer} (", 1)[1].split(" features")[0]  # "early", "mid-level" or "late"
    assert freeze.table.item(kept - 1, 0).text().split(" · ")[1].startswith(word)
    qtbot.waitUntil(lambda: not freeze.task.is_running(), timeout=20000)


def _highlighted(page) -> list[int]:
    """The bars drawn in the chart's "where the network is cut" colour."""
    import pyqtgraph as pg

    from app.widgets.probe_chart import BEST
    bars = next(i for i in page.probe_chart.plot.getPlotItem().items if isinstance(i, pg.BarGraphItem))
    return [i for i, brush in enumerate(bars.opts["brushes"]) if brush == BEST]


def test_the_chart_highlights_no_cut_for_a_strategy_that_does_not_cut(qtbot, pages, tmp_path):
    """The chart's blue bar ("where the network is cut") stayed on the layer test's best level after choosing a
    strategy that does not cut the network."""
    state = make_state(tmp_path)
    state.auto_budget = None
    page = measured(qtbot, pages, state)
    assert state.settings.strategy == "truncated" and "probe" in state.suggestion.extra
    assert _highlighted(page) == [state.settings.cut_index] and "cut at layer" in page.probe_notes.text()
    # the picture's height (the similarity margin) is traced to the two numbers the sentence gives
    m = state.suggestion.measurements
    sentence = next(line for line in state.suggestion.rationale if line.startswith("Your images look"))
    for number in (f"{100 * m.imagenet_confidence:.0f}%", f"{m.imagenet_shift:.2f}"):
        assert number in sentence and number in page.quadrant.toolTip()
    assert f"margin {m.similarity:+.2f}, the smaller of" in page.quadrant.toolTip()
    page.radios["feature-extraction"].click()
    assert _highlighted(page) == [] and "Not cut" in page.probe_notes.text()
    assert "cut at layer" not in page.probe_notes.text()
    page.radios["truncated"].click()
    assert _highlighted(page) == [state.settings.cut_index]
    assert f"cut at layer {state.settings.cut_index + 1} of" in page.probe_notes.text()


def test_measuring_says_estimating_until_it_has_a_time_left_and_predicts_it_the_next_time(qtbot, pages, tmp_path):
    state = make_state(tmp_path)
    page = pages(StrategyPage(state))
    formats: list[str] = []
    page.task.progress.connect(lambda *_: formats.append(page.progress.format()))
    page.on_enter()
    assert ESTIMATING in page.progress.format()  # from the start: not an empty bar
    qtbot.waitUntil(lambda: state.suggestion is not None and page.is_complete(), timeout=90000)
    counted = [f for f in formats if " images" in f]
    assert counted and all(" left" in f for f in counted), counted  # "estimating the time left…" or "about …"
    assert any(ESTIMATING in f for f in formats[:2]), formats  # before a pace: said, not left blank

    formats.clear()
    with qtbot.waitSignal(page.task.stopped, timeout=90000):
        page.measure_button.click()
    counted = [f for f in formats if " images" in f]
    assert counted and ("about" in counted[0] or "under a second" in counted[0]), formats  # from the first image
    import json

    from app import app_settings
    assert json.loads(app_settings.get_str(page._pace_key(), "{}")).get("", 0) > 0  # kept for the next session


def test_the_quadrant_highlights_what_its_tooltip_says(qtbot, pages, tmp_path):
    """With Auto on, the tooltip says the highlight is the suggestion; a strategy ticked by hand before Auto was
    switched on stayed highlighted."""
    state = make_state(tmp_path)
    state.auto_budget = None
    page = measured(qtbot, pages, state)
    s = state.suggestion
    other = next(name for name in page.radios if name != s.strategy)
    page.radios[other].click()
    assert page.quadrant.strategy == other
    page.auto_box.setChecked(True)
    assert state.auto_budget is not None and "the suggested strategy" in page.quadrant.toolTip()
    assert page.quadrant.strategy == s.strategy
    page.auto_box.setChecked(False)
    assert page.quadrant.strategy == page.selected_strategy()
