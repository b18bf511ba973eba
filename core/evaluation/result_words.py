"""Sentences about a trained model that the Results page, the command line and the report share
(no torch: the window imports this before torch has loaded)."""


def stopped_words(meta: dict) -> str:
    """" Training was cancelled after epoch 5 of 40; …" for a model saved by Cancel, else ""."""
    stopped = meta.get("stopped")
    if not stopped:
        return ""
    return (f" Training was cancelled after epoch {stopped['after_epoch']} of {stopped['of']}; this is the best "
            "epoch until then, and the run can be resumed to its planned end.")


def scored_where(report: dict) -> str:
    """Which images an evaluation scored, with their folder: "test, in /data/birds/test" (the split alone when the
    report names no folder)."""
    folder = report.get("folder")
    return f"{report['split']}, in {folder}" if folder else str(report["split"])
