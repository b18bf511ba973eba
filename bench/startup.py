"""How long ``transferlab`` takes to show its window (process start to window shown), over a few runs.

    .venv/bin/python -m bench.startup [--runs 5] [--quick]     # --quick: one run, a smoke test

Runs the real entry point offscreen with TRANSFERLAB_QUIT_AFTER_SHOW set: the app quits as soon
as its window has been shown and the event loop has started. The first run also pays for cold
disk caches; the median is reported.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time


def once() -> float:
    env = {**os.environ, "TRANSFERLAB_QUIT_AFTER_SHOW": "1", "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM",
                                                                                               "offscreen")}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", "from app.entry import main; raise SystemExit(main([]))"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if "window shown" in line:
            elapsed = time.perf_counter() - start
            break
    else:
        raise SystemExit("the app exited without showing its window")
    proc.wait(timeout=120)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one run: a smoke test")
    args = parser.parse_args()
    runs = [once() for _ in range(1 if args.quick else args.runs)]
    print("runs: " + ", ".join(f"{r:.2f} s" for r in runs))
    print(f"startup_seconds={statistics.median(runs):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
