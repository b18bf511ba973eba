"""The Results page's evaluation job and the words of its table (no torch at import)."""

from pathlib import Path


def evaluate_job(run_dir: Path, scan, ctx, folder: str | None = None):
    """Score the held-out images of ``scan``, or every image of a labelled test ``folder``."""
    from core.evaluation.predict import evaluate
    from core.models.bundle import load_bundle
    if folder is not None:
        from core.data.dataset import scan_dataset
        scan = scan_dataset(folder, progress=ctx.progress, cancel=ctx.cancel)
    bundle = load_bundle(run_dir)
    report = evaluate(bundle, scan, device="auto", cancel=ctx.cancel, progress=ctx.progress)
    return "evaluation", run_dir, report, bundle


COLUMN_TIPS = ("The class the images really belong to",
               "Precision: of the images the model called this class, the share that really are",
               "Recall: of the images that really are this class, the share the model found",
               "F1: one number for both (their harmonic mean); 1.00 is perfect",
               "How many held-out images of this class were scored")
BALANCED_TIP = ("The average of every class's recall: each class counts the same, however many images it has, "
                "so a model that ignores a rare class cannot hide behind the common one")
