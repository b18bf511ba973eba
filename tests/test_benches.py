"""Every benchmark's quick mode runs to its summary line, so none can silently rot. Only that it
finishes and reports is checked here; what the numbers say is the benchmark's business (bench/)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the last line: key=value pairs, a unit word may follow a value ("auto_vs_best_reference=-0.4 points ...")
SUMMARY = re.compile(r"^\w+=\S+( [a-z]+)?( \w+=\S+( [a-z]+)?)*$")

# module -> (extra arguments, a key its summary line must have). Every bench/ script with a
# ``__main__`` block must be listed (test_every_bench_script_has_a_smoke_test).
BENCHES = {
    "bench.compare": ([], "feature_extraction_speedup"),
    "bench.dann": ([], "dann_target_gain"),
    "bench.feature_concat": ([], "concat_gain_best"),
    "bench.rank": (["--out", "rank.json"], "kendall_tau_heldout_textures"),
    "bench.model_speed": ([], "fastest_images_per_second"),
    "bench.quality": ([], "auto_vs_best_reference"),
    "bench.startup": ([], "startup_seconds"),
    "bench.tta_ensemble": ([], "tta_gain_best"),
    "bench.unknown": ([], "beats_softmax_on"),
    "bench.label_noise": ([], "recall_min"),
    "bench.photo_patches": (["patches"], "images_written"),
    "bench.real_photos": (["photos"], "images_written"),
    "bench.glyphs": (["glyphs"], "images_written"),
}


def test_every_bench_script_has_a_smoke_test():
    scripts = {f"bench.{p.stem}" for p in (ROOT / "bench").glob("*.py")
               if "__name__ == \"__main__\"" in p.read_text(encoding="utf-8")}
    assert scripts == set(BENCHES)


@pytest.mark.slow
@pytest.mark.parametrize("module", sorted(BENCHES))
def test_bench_quick_mode_finishes_with_its_summary_line(module, tmp_path):
    args, key = BENCHES[module]
    scratch = tmp_path / "tmp"  # the bench's own temporary folders go here, and must be gone when it exits
    scratch.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TRANSFERLAB_CACHE_DIR": str(tmp_path / "cache"),
           "QT_QPA_PLATFORM": "offscreen", "TMPDIR": str(scratch)}
    done = subprocess.run([sys.executable, "-m", module, *args, "--quick"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [p.name for p in scratch.iterdir() if p.name.startswith("transferlab-")] == []  # a CI disk filled up once
    last = done.stdout.strip().splitlines()[-1]
    assert SUMMARY.match(last) and (last.startswith(f"{key}=") or f" {key}=" in last), last
