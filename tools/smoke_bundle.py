"""Smoke test of the packaged app: run ``dist/TransferLab/TransferLab --self-test`` offscreen and check it.

    .venv/bin/python tools/smoke_bundle.py [--bundle dist/TransferLab] [--timeout 900]

Passes when the bundle exits 0 and says it trained with the bundled offline weights and predicted an
image. Prints the self-test's report, how long it took, and the bundle's size split into torch, the
NVIDIA CUDA libraries, Qt and the rest (a CPU-only torch build makes the bundle much smaller). On
failure, the end of the app's logs is printed too.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = ("weights: ImageNet weights bundled with TransferLab (offline)", "predict: ", "self-test OK")
CUDA_LIBRARY = re.compile(r"^(lib)?(cuda|cudart|cublas|cudnn|cufft|cufile|cupti|curand|cusolver|cusparse|nccl|nvrtc|"
                          r"nvjitlink|nvshmem|nvtoolsext|nvtx)", re.IGNORECASE)


def executable(bundle: Path) -> Path:
    names = ("TransferLab.exe", "TransferLab", "Contents/MacOS/TransferLab")  # Windows, Linux, a macOS .app
    for candidate in (bundle / name for name in names):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"No TransferLab program in {bundle}: build it with  python build_installer.py")


def part(relative: Path) -> str:
    """Which part of the bundle a file belongs to."""
    parts = [p for p in relative.parts if p != "_internal"]
    top = parts[0] if len(parts) > 1 else ""
    if top == "nvidia" or (top in ("", "torch") and CUDA_LIBRARY.match(relative.name)):
        return "NVIDIA CUDA libraries"
    if top in ("torch", "functorch", "torchgen", "torchvision", "torchvision.libs"):
        return "torch"
    if top in ("PySide6", "shiboken6"):
        return "Qt (PySide6)"
    return "everything else"


def sizes(bundle: Path) -> dict[str, int]:
    """Bytes per part; links are not followed, so each file counts once (like du)."""
    totals: dict[str, int] = {}
    for folder, _dirs, files in os.walk(bundle):
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                key = part(path.relative_to(bundle))
                totals[key] = totals.get(key, 0) + path.stat().st_size
    return totals


def missing_lines(output: str) -> list[str]:
    return [line for line in EXPECTED if line not in output]


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]) if path.is_file() else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / "TransferLab")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args(argv)
    program = executable(args.bundle)
    totals = sizes(args.bundle)
    gib = 1024 ** 3
    print(f"bundle: {args.bundle} {sum(totals.values()) / gib:.2f} GiB")
    for key, size in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {key}: {size / gib:.2f} GiB")
    with tempfile.TemporaryDirectory(prefix="transferlab-smoke-") as logs:
        env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
               "TRANSFERLAB_LOG_DIR": logs}
        start = time.perf_counter()
        try:
            proc = subprocess.run([str(program), "--self-test", "--timeout", str(args.timeout - 30)], env=env,
                                  capture_output=True, text=True, timeout=args.timeout)
            output, code = proc.stdout + proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:
            output, code = f"{exc.stdout or ''}{exc.stderr or ''}\n(killed after {args.timeout:g} s)", -1
        took = time.perf_counter() - start
        print(output.rstrip())
        console = _tail(Path(logs) / "console.log")  # where the output goes if the app found no console
        if console:
            print(console)
            output += console
        missing = missing_lines(output)
        if code != 0 or missing:
            print(f"--- transferlab.log\n{_tail(Path(logs) / 'transferlab.log')}\n--- faults.log\n"
                  f"{_tail(Path(logs) / 'faults.log')}")
            print(f"SMOKE TEST FAILED: exit code {code}; missing output: {missing or 'none'} ({took:.0f} s)")
            return 1
    print(f"smoke test passed: the packaged app ran its self-test in {took:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
