"""The four-quadrant thresholds (no torch here: the GUI draws them before torch has loaded).

Size: *small* when the median number of training images per class is below ``SMALL_MAX_PER_CLASS``.

Similarity to ImageNet is measured on a sample of the user's images with two signals (core.methods.advisor):

* **statistics shift** — inside the pretrained network, how far the images' mean activations lie from
  the ImageNet averages every BatchNorm layer stores (mean |mu - running_mean| / running_std over
  channels and layers); photos of everyday things lie close, glyphs, digits, microscopy, grayscale
  close-ups lie far;
* **ImageNet confidence** — the original ImageNet classifier's mean top-1 probability: it recognises
  something in photos, little in scans and drawings.

The images are *similar* when the shift is at most ``MAX_IMAGENET_SHIFT`` and the confidence at least
``MIN_IMAGENET_CONFIDENCE``. Both thresholds were calibrated with tf_efficientnet_lite0 on sets whose
answer is not in doubt (bench/quality.py prints every set's numbers and placement): colour photo crops
had shifts 0.17-0.19 and confidences 0.24-0.40; grayscale texture close-ups 0.26, colour microscopy
0.25, tiny grayscale face crops 0.31, printed glyphs 0.32, handwritten digits 0.42 (confidences
0.04-0.47). A model without BatchNorm layers is judged by the confidence alone.
"""

SMALL_MAX_PER_CLASS = 200
MAX_IMAGENET_SHIFT = 0.22
MIN_IMAGENET_CONFIDENCE = 0.2


def is_small(train_counts_per_class) -> bool:
    """The size rule: small when the median class has fewer than ``SMALL_MAX_PER_CLASS`` training images."""
    import statistics
    counts = list(train_counts_per_class)
    return not counts or statistics.median(counts) < SMALL_MAX_PER_CLASS


def similarity_margin(confidence: float, shift: float | None) -> float:
    """How far inside the "similar" region the two signals lie: >= 0 similar, < 0 different."""
    margin = confidence - MIN_IMAGENET_CONFIDENCE
    return margin if shift is None else min(margin, MAX_IMAGENET_SHIFT - shift)


def margin_words(confidence: float, shift: float | None) -> str:
    """How the similarity margin (the quadrant picture's height) comes from the two numbers the Strategy step's
    sentence gives, so the picture's number and the sentence's two can be checked against each other."""
    least = f"{100 * MIN_IMAGENET_CONFIDENCE:.0f}%"
    parts = [f"the ImageNet classifier's {100 * confidence:.0f}% sureness minus the {least} photos reach = "
             f"{confidence - MIN_IMAGENET_CONFIDENCE:+.2f}"]
    if shift is not None:
        parts.append(f"the photos' limit {MAX_IMAGENET_SHIFT:.2f} minus your images' signal distance {shift:.2f} = "
                     f"{MAX_IMAGENET_SHIFT - shift:+.2f}")
    margin = similarity_margin(confidence, shift)
    return (f"margin {margin:+.2f}" + (f", the smaller of {parts[0]} and {parts[1]}" if len(parts) > 1 else
                                       f": {parts[0]}") + "; above 0 is similar")
