"""The experiment commands: rank, probe, lr-find, and train's fine-tuning and adaptation options."""

import json

import pytest

from core.cli.main import main
from tests.datagen import make_class_folder, make_image


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_class_folder(tmp_path_factory.mktemp("cli") / "shapes", ["circles", "squares"], per_class=8, size=48)


def run_json(capsys, argv):
    code = main([*argv, "--json", "--quiet"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def test_rank_scores_the_offline_models_and_skips_the_rest(capsys, data):
    rows = run_json(capsys, ["rank", str(data), "--models", "tf_efficientnet_lite0", "resnet50",
                             "--image-size", "64", "--max-images", "12"])
    assert [r["model_name"] for r in rows] == ["tf_efficientnet_lite0", "resnet50"]
    assert rows[0]["logme"] is not None and rows[0]["images"] == 12 and rows[1]["skipped_reason"]
    assert main(["rank", str(data), "--models", "tf_efficientnet_lite0", "--image-size", "64",
                 "--max-images", "12", "--quiet"]) == 0
    assert "LogME measures" in capsys.readouterr().out


def test_probe_names_the_best_cut_and_how_to_use_it(capsys, data):
    probe = run_json(capsys, ["probe", str(data), "--image-size", "64", "--max-images", "16"])
    assert len(probe["levels"]) >= 3 and probe["best_index"] is not None
    main(["probe", str(data), "--image-size", "64", "--max-images", "16", "--quiet"])
    assert f"--cut-index {probe['best_index']}" in capsys.readouterr().out
    # the images a run with a larger validation share holds out are not probed on: fewer are left
    wide = run_json(capsys, ["probe", str(data), "--image-size", "64", "--val-fraction", "0.5"])
    narrow = run_json(capsys, ["probe", str(data), "--image-size", "64"])
    assert wide["images"] < narrow["images"]


def test_lr_find_suggests_a_learning_rate(capsys, data):
    result = run_json(capsys, ["lr-find", str(data), "--image-size", "48"])
    assert result["lrs"] == sorted(result["lrs"]) and result["lrs"][0] < result["suggestion"] < result["lrs"][-1]


def test_train_two_stage_with_l2sp(capsys, data, tmp_path):
    result = run_json(capsys, ["train", str(data), "--out", str(tmp_path / "run"), "--strategy", "fine-tune-top",
                               "--epochs", "3", "--two-stage", "--head-epochs", "1", "--l2sp", "0.01",
                               "--image-size", "48", "--batch-size", "8"])
    meta = json.loads((tmp_path / "run" / "transferlab.json").read_text())
    assert meta["settings"]["two_stage"] and meta["settings"]["l2sp_alpha"] == 0.01
    assert len(result["history"]) == 3
    assert main(["train", str(data), "--out", str(tmp_path / "bad"), "--strategy", "feature-extraction",
                 "--two-stage", "--quiet"]) == 2
    assert "Two-stage" in capsys.readouterr().err


def test_train_with_unlabeled_target_images(capsys, data, tmp_path):
    target = tmp_path / "new-camera"
    target.mkdir()
    for i in range(6):
        make_image(i % 2, 48, seed=700 + i).convert("L").convert("RGB").save(target / f"{i}.png")
    result = run_json(capsys, ["train", str(data), "--out", str(tmp_path / "run"), "--strategy", "fine-tune-top",
                               "--epochs", "2", "--target-images", str(target), "--target-test", str(data),
                               "--image-size", "48", "--batch-size", "8"])
    assert len(result["domain_accuracy"]) == 2 and 0 <= result["target_test_accuracy"] <= 1
    meta = json.loads((tmp_path / "run" / "transferlab.json").read_text())
    assert meta["adaptation"]["method"] == "DANN" and meta["adaptation"]["target_images"] == 6
