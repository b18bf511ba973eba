"""Auto's plan in plain words: the predicted time, the finish time of day, and the tries in order
(core.methods.auto_search makes the plan; the window and the CLI show these words)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.methods.auto_search import Plan


KEEPS = ("keeps the one most accurate on the validation images; a slower one must be right on at least two more of "
         "them than a quicker one (one image is no evidence)")


def passed_over(row: dict, kept: dict) -> str:
    """Why a candidate that scored higher than the kept one on the validation images was not kept ("" otherwise)."""
    if row is kept or row.get("val_accuracy", -1.0) <= kept.get("val_accuracy", -1.0):
        return ""
    return ("; not kept: right on fewer than two more validation images than the kept one, too few to prefer a "
            "slower model")


def finish_words(auto_plan: Plan, now: float | None = None) -> str:
    """The predicted time and finish time of day, in plain words."""
    now = time.time() if now is None else now
    finish = time.strftime("%H:%M", time.localtime(now + auto_plan.predicted_s))
    latest = time.strftime("%H:%M", time.localtime(now + auto_plan.limit_s))
    words = (f"Predicted time {duration(auto_plan.predicted_s)}: done around {finish} if started now, "
             f"{latest} at the latest." if latest != finish else  # a short plan: one minute of the clock
             f"Predicted time {duration(auto_plan.predicted_s)}, {duration(auto_plan.limit_s)} at the latest: "
             f"done around {finish} if started now.")
    early = auto_plan.early_s
    if early is not None:
        words += (f" Only {duration(early)} if the first classifier scores 100% on the validation images (nothing "
                  "after it could then do better).")
    return words


def describe_plan(auto_plan: Plan, now: float | None = None) -> str:
    """The plan in plain words, with the predicted finish time of day."""
    tries = "; ".join(f"{c.title} ({about(c.predicted_s)})" for c in auto_plan.candidates)
    rest = (" Once one scores 100% on them, the rest are skipped (on a tie the earlier one is kept)."
            if len(auto_plan.candidates) > 1 else "")
    return f"Tries, in this order: {tries}. It {KEEPS}.{rest} " + finish_words(auto_plan, now)


def short_plan(auto_plan: Plan) -> str:
    """The plan in one line (the Train step; the Strategy step shows it whole)."""
    n = len(auto_plan.candidates)
    return (f"{n} candidate{'s' if n != 1 else ''}, predicted time {duration(auto_plan.predicted_s)} "
            f"({duration(auto_plan.limit_s)} at the latest)")


def about(seconds: float) -> str:
    """A predicted time in words: "about 7 s", or "under a second" (an earlier-layer try that only fits)."""
    return "under a second" if seconds < 0.5 else f"about {duration(seconds)}"


def duration(seconds: float) -> str:
    if seconds < 0.5:
        return "under a second"
    seconds = int(seconds + 0.5)  # half up: 0.5 s reads "1 s", never "0 s"
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s" if minutes < 10 else f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


class StageEta:
    """How long a measuring stage counted in images (the advisor's pass, the layer test) has left: its own pace
    once a tenth of its images took two seconds or more; before that the pace this computer showed for such a stage
    before (``predicted``: seconds per image by stage, kept by the window), else None ("estimating"). A stage is
    told by its count of images and its words; one that reaches its count adds its pace to ``seen``."""

    def __init__(self, clock) -> None:
        self.clock = clock
        self.predicted: dict[str, float] = {}
        self.seen: dict[str, float] = {}
        self._stage: tuple[int, str, int, float] | None = None  # (images, words, done at its start, clock)

    def seconds_left(self, done: int, total: int, kind: str = "") -> float | None:
        now = self.clock()
        if self._stage is None or self._stage[:2] != (total, kind) or done < self._stage[2]:
            self._stage = (total, kind, done, now)  # a new stage starts its own clock
        _, _, first, started = self._stage
        if done >= total > first and now > started:
            self.seen[kind] = (now - started) / (done - first)
        if done - first >= max(1, total // 10) and now - started >= 2:
            return (now - started) / (done - first) * (total - done)
        pace = self.predicted.get(kind)
        return pace * (total - done) if pace else None

    def expect(self, paces: str) -> None:
        """Start a measuring with the paces :meth:`paces` kept (JSON; anything unreadable predicts nothing)."""
        import json
        try:
            self.predicted = {str(k): float(v) for k, v in json.loads(paces).items() if float(v) > 0}
        except (ValueError, TypeError, AttributeError):
            self.predicted = {}
        self.seen = {}

    def paces(self) -> str:
        """The paces to keep for the next measuring: those seen now, over those predicted."""
        import json
        return json.dumps({**self.predicted, **self.seen})
