"""Classification metrics from true and predicted labels (plain Python lists)."""

import math
from dataclasses import asdict, dataclass

INTERVAL_BELOW = 200  # images: below this, an accuracy is shown with its 95% interval


def confusion_matrix(y_true: list[int], y_pred: list[int], num_classes: int) -> list[list[int]]:
    """Rows: true class; columns: predicted class."""
    matrix = [[0] * num_classes for _ in range(num_classes)]
    for t, p in zip(y_true, y_pred):
        matrix[t][p] += 1
    return matrix


@dataclass
class Scores:
    """How a classifier's answers compare with the true classes (:func:`classification_report`)."""

    accuracy: float
    accuracy_interval: tuple[float, float]  # 95% Wilson interval
    majority_baseline: dict  # {"class", "accuracy"}: always answering the most common class
    balanced_accuracy: float  # the mean recall over the classes present
    num_images: int
    classes: list[str]
    per_class: dict  # {class: {"precision", "recall", "f1", "support"}}
    confusion_matrix: list[list[int]]  # rows true, columns predicted

    def to_dict(self) -> dict:
        return asdict(self)


def classification_report(y_true: list[int], y_pred: list[int], classes: list[str]) -> Scores:
    k = len(classes)
    cm = confusion_matrix(y_true, y_pred, k)
    per_class = {}
    recalls = []
    for c, name in enumerate(classes):
        tp = cm[c][c]
        predicted = sum(cm[r][c] for r in range(k))
        support = sum(cm[c])
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
        if support:
            recalls.append(recall)
    total = len(y_true)
    right = sum(cm[c][c] for c in range(k))
    biggest = max(range(k), key=lambda c: sum(cm[c])) if k else 0
    return Scores(accuracy=right / total if total else 0.0, accuracy_interval=wilson_interval(right, total),
                  majority_baseline={"class": classes[biggest] if k else "",
                                     "accuracy": sum(cm[biggest]) / total if total else 0.0},
                  balanced_accuracy=sum(recalls) / len(recalls) if recalls else 0.0, num_images=total,
                  classes=list(classes), per_class=per_class, confusion_matrix=cm)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default): honest near 0% and 100% and on
    few images, where the plain p +- z*se interval leaves [0, 1] or shrinks to nothing."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def accuracy_words(scores: Scores) -> str:
    """"82.4% (95% interval 67–91% on 34 images)" below INTERVAL_BELOW images, else "82.4%"."""
    text = f"{scores.accuracy:.1%}"
    n = scores.num_images
    if 0 < n < INTERVAL_BELOW:
        lo, hi = scores.accuracy_interval
        text += f" (95% interval {100 * lo:.0f}–{hi:.0%} on {n} images)"
    return text


def baseline_words(scores: Scores) -> str:
    """What always answering the most common class would score, named as such (with classes of equal size:
    what guessing would score, as there is no most common class)."""
    base = scores.majority_baseline
    if not base:
        return ""
    sizes = {m["support"] for m in scores.per_class.values()}
    if len(sizes) == 1 and len(scores.per_class) > 1:
        return (f"guessing would score {base['accuracy']:.0%} (every class has {sizes.pop()} of these images, so no "
                "answer does better by being the most common one)")
    return f"always answering the most common class (“{base['class']}”) would score {base['accuracy']:.0%}"


def roc_curve(y_true: list[int], scores: list[float]) -> dict:
    """ROC of a binary problem (label 1 = positive): false/true positive rates at every threshold,
    from the highest score down, starting at (0, 0); ties are taken together."""
    pairs = sorted(zip(scores, y_true), key=lambda p: -p[0])
    positives = sum(1 for y in y_true if y == 1)
    negatives = len(y_true) - positives
    fpr, tpr, thresholds = [0.0], [0.0], [float("inf")]
    tp = fp = 0
    for i, (score, label) in enumerate(pairs):
        tp += label == 1
        fp += label != 1
        if i + 1 < len(pairs) and pairs[i + 1][0] == score:
            continue
        fpr.append(fp / negatives if negatives else 0.0)
        tpr.append(tp / positives if positives else 0.0)
        thresholds.append(score)
    return {"fpr": fpr, "tpr": tpr, "thresholds": thresholds, "auc": auc(fpr, tpr)}


def auc(x: list[float], y: list[float]) -> float:
    """Area under a curve by the trapezoidal rule."""
    return sum((x[i + 1] - x[i]) * (y[i + 1] + y[i]) / 2 for i in range(len(x) - 1))


def at_threshold(y_true: list[int], scores: list[float], threshold: float, classes: list[str]) -> Scores:
    """The binary report when 'positive' (label 1) is predicted for scores >= ``threshold``."""
    predicted = [1 if s >= threshold else 0 for s in scores]
    return classification_report(list(y_true), predicted, classes)


def expected_calibration_error(confidences: list[float], correct: list[bool], bins: int = 15) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width confidence bins,
    weighted by how many predictions fall in each (Guo et al. 2017)."""
    n = len(confidences)
    if not n:
        return 0.0
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        members = [i for i, c in enumerate(confidences) if (lo < c <= hi) or (b == 0 and c == 0.0)]
        if members:
            accuracy = sum(correct[i] for i in members) / len(members)
            confidence = sum(confidences[i] for i in members) / len(members)
            total += len(members) / n * abs(accuracy - confidence)
    return total
