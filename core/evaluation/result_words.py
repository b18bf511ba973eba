"""Sentences about a trained model that the Results page, the command line and the report share
(no torch: the window imports this before torch has loaded)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.evaluation.predict import Evaluation


CLOSED = "closed"  # meta["stopped"]["reason"] of a run stopped by quitting TransferLab (core.training.runs.pause)


def how_it_stopped(stopped: dict) -> str:
    """"cancelled after epoch 5 of 40", or "stopped when TransferLab was closed after epoch 5 of 40": why a saved
    model's run ended early (its meta's "stopped"), in the words the start-up offer to resume uses too."""
    how = "stopped when TransferLab was closed" if stopped.get("reason") == CLOSED else "cancelled"
    return f"{how} after epoch {stopped.get('after_epoch', '?')} of {stopped.get('of', '?')}"


def stopped_words(meta: dict) -> str:
    """" Training was cancelled after epoch 5 of 40; …" for a model saved by Cancel (or "Training stopped when
    TransferLab was closed …" for one saved by quitting), else ""."""
    stopped = meta.get("stopped")
    if not stopped:
        return ""
    how = how_it_stopped(stopped)
    return (f" Training {'was ' * how.startswith('cancelled')}{how}; this is the best epoch until then, and the run "
            "can be resumed to its planned end.")


def scored_where(evaluation: Evaluation) -> str:
    """Which images an evaluation scored, with their folder: "test, in /data/birds/test" (the split alone when it
    names no folder)."""
    folder = evaluation.folder
    return f"{evaluation.split}, in {folder}" if folder else str(evaluation.split)


def score_words(score: float) -> str:
    """An unknown score in plain decimals: "0.842", "1.07", "4,120" (never "4.12e+03")."""
    return f"{score:,.0f}" if score >= 100 else f"{score:.2f}" if score >= 1 else f"{score:.3f}"


def unknown_sentence(unknown: dict) -> str:
    """What an evaluation found of the model's "I don't know" (core.evaluation.predict.Evaluation.unknown)."""
    trained, threshold = unknown.get("trained_threshold", unknown["threshold"]), unknown["threshold"]
    which = "validation" if unknown.get("threshold_from") == "validation" else "labelled"
    rule = (f"at the threshold you set, {score_words(threshold)} (the trained one, {score_words(trained)}, let "
            f"through 95% of the {which} images)" if abs(threshold - trained) > 1e-9 * max(1.0, abs(trained)) else
            f"the threshold lets through 95% of the {which} images, each scored by a check that had not seen it; "
            "images from another camera, site or source may be called unknown more often")
    words = (f"“I don't know”: {unknown['rejected_known']:.1%} of these images of known classes were called unknown "
             f"({rule}).")
    if "auroc" in unknown:
        words += (f" Of the {unknown['images']} images in {unknown['folder']} (none of the classes), "
                  f"{unknown['rejected_unknown']:.0%} were called unknown; the score tells them from the known images "
                  f"with an AUROC of {unknown['auroc']:.3f} (1.0: perfectly; 0.5: no better than guessing).")
    return words


def measured_on(evaluation: Evaluation, auto: dict | None) -> str:
    """Which images an evaluation's accuracy comes from, for the Results page; with an Auto run's description
    (its meta's "auto"), whether choosing among candidates on those images made it optimistic."""
    from core.evaluation.heldout import SPLIT_NAME
    which, images = evaluation.split, evaluation.num_images
    words = (f"{images} validation images, held out from the classifier that was measured. The saved classifier "
             "was then fitted again on all your labelled images, these included, so none is wasted; it is usually "
             "at least as good, but these images can no longer test it" if which == SPLIT_NAME
             else f"{images} validation images held out during training" if which.startswith("val")
             else f"{images} test images in {evaluation.folder}" if which == "test"
             else f"{images} images in {evaluation.folder}")
    changed = getattr(evaluation, "labels_changed", None) or {}
    if changed:  # an opened run's score moved with the label sheet (a walkthrough: 94.9% on 39, then 97.4% on 38)
        parts = [f"{changed['left_out']} left out" if changed.get("left_out") else "",
                 f"{changed['relabelled']} relabelled" if changed.get("relabelled") else ""]
        words += (f" (of the {changed['recorded']} it held out, {' and '.join(p for p in parts if p)} by your label "
                  "corrections since; scored with the labels as they are now)")
    if auto and (which == SPLIT_NAME or which.startswith("val")):
        kept = next((r["title"] for r in auto["rows"] if r.get("winner")), auto["winner"])
        tried = len([r for r in auto["rows"] if "val_accuracy" in r])  # the candidates that finished training
        if tried > 1:
            words += (f". Auto kept “{kept}”, chosen among {tried} candidates on these same images, so this number "
                      "may be a little optimistic; a test/ folder in your dataset (or “Test on another folder…”) "
                      "gives one that is not")
        else:  # nothing was chosen on these images (the rest skipped, or a plan of one)
            words += f". Auto kept “{kept}”, the one candidate it trained"
    return words
