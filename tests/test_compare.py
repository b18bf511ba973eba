"""Side-by-side comparison: same split and budget for every candidate, a ranked leaderboard, rows kept
when a comparison is cancelled, and a candidate that cannot run reported without stopping the rest."""

import json
from dataclasses import replace

import pytest

from core.base.cancel import CancelToken
from core.base.errors import Cancelled, TransferLabError
from core.data.dataset import scan_dataset
from core.methods.compare import COMPARISON_FILE, Candidate, CompareCallback, compare, make_candidates, read_comparison
from core.training import runs
from core.training.settings import TrainSettings
from tests.datagen import make_class_folder

BASE = TrainSettings(image_size=48, epochs=2, batch_size=8, seed=3)


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    return scan_dataset(make_class_folder(tmp_path_factory.mktemp("cmp") / "data", ["a", "b"], per_class=10))


class Recorder(CompareCallback):
    def __init__(self, cancel_after: int | None = None, token: CancelToken | None = None):
        self.started, self.ended, self.epochs = [], [], 0
        self.cancel_after, self.token = cancel_after, token

    def on_candidate_start(self, index, total, label):
        self.started.append((index, total, label))

    def on_epoch_end(self, event):
        self.epochs += 1

    def on_candidate_end(self, row):
        self.ended.append(row)
        if self.cancel_after is not None and len(self.ended) >= self.cancel_after:
            self.token.cancel()


def test_candidates_share_the_budget_and_take_each_strategy_defaults():
    cands = make_candidates(BASE, ["tf_efficientnet_lite0"], ["feature-extraction", "fine-tune-top", "scratch"])
    assert [c.settings.strategy for c in cands] == ["feature-extraction", "fine-tune-top", "fine-tune-all"]
    assert [c.settings.epochs for c in cands] == [1, 2, 2] and {c.settings.image_size for c in cands} == {48}
    assert cands[0].settings.classifier_fit == "converged"  # a frozen backbone's classifier: one converged fit
    assert [c.settings.weights for c in cands] == ["pretrained", "pretrained", "none"]
    assert cands[1].settings.freeze_depth > 0 and "scratch" in cands[2].label
    with pytest.raises(TransferLabError, match="Unknown strategy"):
        make_candidates(BASE, ["tf_efficientnet_lite0"], ["guesswork"])


def test_a_leaderboard_on_one_split(scan, tmp_path):
    cands = make_candidates(BASE, ["tf_efficientnet_lite0"], ["feature-extraction", "scratch"])
    cands.append(Candidate("scratch again", replace(cands[1].settings, seed=99, epochs=5)))
    rec = Recorder()
    result = compare(scan, cands, tmp_path / "cmp", rec)
    rows = result.rows
    assert [s[0] for s in rec.started] == [0, 1, 2] and len(rec.ended) == 3
    # one fit for the converged classifier; the first epoch budget (2) for the others
    assert rec.epochs == 1 + 2 + 2 and result.epochs == 2
    keys = [(r["balanced_accuracy"], -r["seconds_per_epoch"]) for r in rows]
    assert keys == sorted(keys, reverse=True)
    for row in rows:
        assert 0 <= row["accuracy"] <= 1 and row["val_images"] == 4 and row["size_mb"] > 0
        assert len(row["curves"]["val_loss"]) == (1 if row["strategy"] == "feature-extraction" else 2)
        assert row["params_m"] > 1
    splits = [runs.read_record(tmp_path / "cmp" / _folder(r))["split"] for r in rows]
    assert splits[0] == splits[1]  # same images held out for both, despite the candidate's own seed
    assert {r["weights"] for r in rows} == {"pretrained", "none"}
    assert json.loads((tmp_path / "cmp" / COMPARISON_FILE).read_text()) == read_comparison(tmp_path / "cmp").to_dict()
    assert read_comparison(tmp_path / "cmp") == result


def test_cancel_keeps_the_finished_rows_and_a_failing_candidate_does_not_stop_the_rest(scan, tmp_path):
    good = make_candidates(BASE, ["tf_efficientnet_lite0"], ["feature-extraction", "fine-tune-top"])
    broken = Candidate("imported weights that went missing",
                       replace(good[0].settings, weights_file=str(tmp_path / "gone.safetensors")))
    cands = [broken, *good]
    token = CancelToken()
    rec = Recorder(cancel_after=2, token=token)
    with pytest.raises(Cancelled):
        compare(scan, cands, tmp_path / "cmp", rec, token)
    rows = read_comparison(tmp_path / "cmp").rows
    assert [r["label"] for r in rows] == [cands[1].label, cands[0].label]  # the failed one ranks last
    assert "error" in rows[1] and "accuracy" in rows[0]


def _folder(row):
    from pathlib import Path
    return Path(row["run_dir"]).name


def test_compare_from_the_command_line(scan, tmp_path, capsys):
    from core.cli.main import main
    code = main(["compare", str(scan.root), "--out", str(tmp_path / "cmp"), "--strategies", "feature-extraction",
                 "scratch", "--epochs", "1", "--image-size", "48", "--batch-size", "8", "--quiet", "--json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert {r["weights"] for r in rows} == {"pretrained", "none"} and all("balanced_accuracy" in r for r in rows)
    assert main(["compare", str(scan.root), "--out", str(tmp_path / "cmp"), "--epochs", "1", "--quiet"]) == 2
    assert "already holds a trained model" in capsys.readouterr().err  # nothing replaced without --overwrite
