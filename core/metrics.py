"""Classification metrics from true and predicted labels (plain Python lists)."""


def confusion_matrix(y_true: list[int], y_pred: list[int], num_classes: int) -> list[list[int]]:
    """Rows: true class; columns: predicted class."""
    matrix = [[0] * num_classes for _ in range(num_classes)]
    for t, p in zip(y_true, y_pred):
        matrix[t][p] += 1
    return matrix


def classification_report(y_true: list[int], y_pred: list[int], classes: list[str]) -> dict:
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
    return {
        "accuracy": sum(cm[c][c] for c in range(k)) / total if total else 0.0,
        "balanced_accuracy": sum(recalls) / len(recalls) if recalls else 0.0,
        "num_images": total,
        "classes": list(classes),
        "per_class": per_class,
        "confusion_matrix": cm,
    }
