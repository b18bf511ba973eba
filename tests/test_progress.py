"""The one progress interface of core (core.base.progress): (done, total, message), sub-tasks mapped onto
their parent's range, and no second shape anywhere in core."""

import ast
from pathlib import Path

from core.base.progress import report, saying, within
from core.data.dataset import scan_dataset
from tests.datagen import make_class_folder

ROOT = Path(__file__).resolve().parents[1]


def test_a_sub_task_moves_over_its_share_of_the_parent_and_keeps_its_own_words():
    calls = []
    child = within(lambda *a: calls.append(a), 40, 60, 100, "Scoring model 2 of 5")
    child(0, 0, "Loading its weights")  # a step of unknown length: the start of the share, its own words
    child(5, 10)  # half of the sub-task: half of the share, the parent's words
    child(10, 10, "")
    assert calls == [(40, 100, "Loading its weights"), (50, 100, "Scoring model 2 of 5"),
                     (60, 100, "Scoring model 2 of 5")]
    assert within(None, 0, 1, 1) is None and saying(None, "x") is None
    report(None, 1, 2, "nothing to call")  # no callback: nothing happens


def test_saying_fills_in_words_only_where_the_sub_task_says_nothing():
    calls = []
    say = saying(lambda *a: calls.append(a), "Decoding the training images (once)")
    say(3, 9, "")
    say(4, 9, "Converting weights")
    assert calls == [(3, 9, "Decoding the training images (once)"), (4, 9, "Converting weights")]


def test_core_functions_report_done_total_and_words(tmp_path):
    calls = []
    scan_dataset(make_class_folder(tmp_path / "d", ["a", "b"], per_class=3, size=32),
                 progress=lambda done, total, message: calls.append((done, total, message)))
    assert calls[-1] == (6, 6, "Checking images") and all(isinstance(c[2], str) for c in calls)


def test_core_has_one_progress_type():
    """Every module takes ``Progress`` from core.base.progress; none defines a shape of its own."""
    own = []
    for path in (ROOT / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "Progress"
                                                    for t in node.targets):
                own.append(str(path.relative_to(ROOT)))
    assert own == ["core/base/progress.py"]
