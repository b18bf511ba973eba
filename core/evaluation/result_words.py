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


def unknown_sentence(unknown: dict) -> str:
    """What an evaluation found of the model's "I don't know" (core.evaluation.predict's report["unknown"])."""
    words = (f"“I don't know”: {unknown['rejected_known']:.1%} of these images of known classes were called unknown "
             "(the threshold lets through about 95% of the training images, each scored by a check that did not "
             "learn from it, with a fifth more room: new images vary more).")
    if "auroc" in unknown:
        words += (f" Of the {unknown['images']} images in {unknown['folder']} (none of the classes), "
                  f"{unknown['rejected_unknown']:.0%} were called unknown; the score tells them from the known images "
                  f"with an AUROC of {unknown['auroc']:.3f} (1.0: perfectly; 0.5: no better than guessing).")
    return words
