"""The headless CLI, run in-process (core.cli.main) and once through the real entry point."""

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli.main import main
from tests.datagen import make_class_folder, make_image

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--image-size", "64", "--epochs", "2", "--batch-size", "8", "--quiet"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_class_folder(tmp_path_factory.mktemp("cli") / "photos", ["red", "blue"], per_class=8, size=64)


def run_json(capsys, *argv):
    code = main([*argv, "--json"])
    out = capsys.readouterr()
    return code, json.loads(out.out), out.err


def test_models_lists_the_catalog_with_offline_status(capsys):
    code, rows, _ = run_json(capsys, "models")
    assert code == 0
    names = {r["name"]: r for r in rows}
    assert {"tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2", "mobilenetv3_large_100",
            "resnet18", "resnet50", "efficientnet_b0", "convnext_tiny", "vit_small_patch16_224"} <= set(names)
    assert names["tf_efficientnet_lite0"]["weights"] == "bundled"
    assert all(r["params_m"] > 0 and r["input_size"] >= 224 and r["imagenet_top1"] > 50 for r in rows)


def test_scan_reports_classes_and_counts(capsys, data):
    code, summary, _ = run_json(capsys, "scan", str(data), "--quiet")
    assert code == 0 and summary["classes"] == ["blue", "red"] and summary["num_images"] == 16


def test_train_auto_then_predict_and_evaluate(capsys, data, tmp_path):
    run = tmp_path / "run"
    code, result, _ = run_json(capsys, "train", str(data), "--out", str(run), *FAST)
    assert code == 0 and result["strategy"] in ("feature-extraction", "truncated")
    assert result["val_accuracy"] >= 0.75 and len(result["history"]) == 2
    new = tmp_path / "new images"
    new.mkdir()
    make_image(0, size=64, seed=77).save(new / "a red one.png")
    make_image(1, size=64, seed=78).save(new / "a blue one.png")
    (new / "notes.txt").write_text("not an image")
    csv_path = tmp_path / "out.csv"
    code, predictions, _ = run_json(capsys, "predict", str(run), str(new), "--csv", str(csv_path), "--quiet")
    assert code == 0
    labels = {Path(p["path"]).name: p["label"] for p in predictions}
    assert labels == {"a red one.png": "red", "a blue one.png": "blue"}
    with csv_path.open(encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert header == ["path", "label", "confidence", "unknown_score", "is_unknown", "p_blue", "p_red", "error"]
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    assert {r["label"] for r in rows} == {"red", "blue"}
    for r in rows:
        assert float(r["confidence"]) == pytest.approx(max(float(r["p_red"]), float(r["p_blue"])), abs=1e-6)
        assert float(r["p_red"]) + float(r["p_blue"]) == pytest.approx(1.0, abs=1e-5)
    code, report, _ = run_json(capsys, "evaluate", str(run), str(data), "--quiet")
    assert code == 0 and report["accuracy"] >= 0.75
    assert set(report["per_class"]) == {"red", "blue"} and report["confusion_matrix"]
    assert 0 <= report["roc"]["auc"] <= 1 and report["roc"]["positive"] == "red"
    assert len(report["images"]) == report["num_images"] and {"loss", "confidence"} <= set(report["images"][0])
    # explain, export and report on the same run
    code, explained, _ = run_json(capsys, "explain", str(run), str(new / "a red one.png"), "--out",
                                  str(tmp_path / "why.png"), "--quiet")
    from PIL import Image
    assert code == 0 and explained["class"] == "red"
    assert Image.open(tmp_path / "why.png").size == (73, 73)  # the whole picture; the model saw its centre 64x64
    code, exported, _ = run_json(capsys, "export", str(run), "--format", "onnx", "--out", str(tmp_path / "m.onnx"),
                                 "--quiet")
    assert code == 0 and exported["max_abs_difference"] <= 1e-4 and (tmp_path / "m.onnx.json").is_file()
    code, written, _ = run_json(capsys, "report", str(run), "--out", str(tmp_path / "report.html"), "--quiet")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert code == 0 and written["evaluated"]
    assert all(part in page for part in ("Confusion matrix", "<svg", "data:image/png;base64", "ROC", "Strategy"))
    assert f", in {data})" in page  # which folder the scored images came from
    assert "; 0 files skipped; " in page  # in the Data step's words (core.data.dataset.skipped_words)


def test_explicit_strategy_and_freeze_depth(capsys, data, tmp_path):
    code, result, _ = run_json(capsys, "train", str(data), "--out", str(tmp_path / "r"), "--strategy",
                               "fine-tune-top", "--freeze-depth", "2", "--epochs", "1", "--image-size", "64",
                               "--quiet")
    assert code == 0 and result["strategy"] == "fine-tune-top" and result["freeze_depth"] == 2


@pytest.mark.parametrize("argv, message", [
    (["scan", "/no/such/folder"], "/no/such/folder"),
    (["predict", "/no/such/run", "x.png"], "not found"),
    (["train", "DATA", "--out", "OUT", "--freeze-depth", "99", "--strategy", "fine-tune-top"], "Freeze depth"),
])
def test_bad_input_is_one_line_and_exit_code_2(capsys, data, tmp_path, argv, message):
    argv = [a.replace("DATA", str(data)).replace("OUT", str(tmp_path / "o")) for a in argv]
    code = main(argv + ["--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error:") and len(err.splitlines()) == 1 and message in err


def test_single_class_folder_is_refused_naming_the_class(capsys, tmp_path):
    root = make_class_folder(tmp_path / "one", ["lonely"], per_class=3, size=32)
    code = main(["train", str(root), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "lonely" in err and "Traceback" not in err


def test_console_entry_point_runs_headless(data):
    out = subprocess.run([sys.executable, "-m", "app.entry", "scan", str(data), "--json", "--quiet"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0 and json.loads(out.stdout)["num_images"] == 16


def test_scan_of_the_torture_set_reports_skipped_files_duplicates_and_balance(capsys, tmp_path):
    from tests.torture import expected_skipped, make_torture_dataset
    root = make_torture_dataset(tmp_path / "torture")
    code, summary, _ = run_json(capsys, "scan", str(root), "--quiet")
    assert code == 0 and len(summary["skipped"]) == len(expected_skipped())
    assert summary["health"]["cross_class_groups"] == 1 and summary["health"]["imbalance"]["ratio"] == 3.0
    assert main(["scan", str(root), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "Same picture in different classes" in text and "cats/empty.jpg: empty file (0 bytes)" in text


def test_train_auto_with_a_budget_tries_candidates_and_keeps_the_best(capsys, data, tmp_path):
    code, result, err = run_json(capsys, "train", str(data), "--out", str(tmp_path / "run"), "--budget", "fast",
                                 "--image-size", "48")
    assert code == 0 and result["plan"]["budget"] == "fast"
    assert [r["name"] for r in result["candidates"]][0] == "both" and result["winner"] in ("both", "earlier")
    assert sum(r["winner"] for r in result["candidates"]) == 1 and "Candidate 1 of" in err
    assert re.search(r"Budget fast: 1 candidate, (about \d+ s|under a second) \(stops by [^)]+\)", err), err
    code = main(["train", str(data), "--out", str(tmp_path / "o"), "--budget", "fast", "--epochs", "2", "--quiet"])
    assert code == 2 and "--budget" in capsys.readouterr().err


def test_progress_bars_show_no_rate_for_a_step_read_from_a_cache(capsys):
    """Features read from a cache jump from 0 to all at once: a walkthrough saw '9151208 it/s'."""
    from core.cli.common import Bar
    with Bar(False, "Computing the features") as bar:
        bar(0, 160, "Computing the features of the training images")
        bar(160, 160, "Computing the features of the training images")
    err = capsys.readouterr().err
    assert "160/160" in err and "it/s" not in err and "s/it" not in err


def test_the_report_says_when_the_strategy_was_chosen_by_hand(data, tmp_path):
    from core.data.dataset import scan_dataset
    from core.evaluation.report import build_report
    from core.models.bundle import load_bundle
    from core.training.settings import TrainSettings
    from core.training.trainer import train
    extra = {"suggested": "truncated", "rationale": ["Your images look unlike ImageNet's."]}
    train(scan_dataset(data), TrainSettings(image_size=64, epochs=1, extra=extra), tmp_path / "run")
    page = build_report(load_bundle(tmp_path / "run"), None, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Chosen by hand:</b> the advisor suggested “truncated”; this model was trained with “feature-extraction”" \
        in page and "look unlike ImageNet" in page
