"""A run report as one self-contained HTML file (charts as inline SVG, pictures as embedded PNG), to
attach to an e-mail: the data, the strategy and why, the training curves, the honest metrics, the
confusion matrix, calibration and a few Grad-CAM examples."""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from core.base.atomic import atomic_write
from core.base.errors import ImageLoadError, TransferLabError
from core.base.progress import Progress, report
from core.data.dataset import skipped_words
from core.data.health import health_lines
from core.evaluation.result_words import stopped_words
from core.models.bundle import Bundle

if TYPE_CHECKING:
    from core.evaluation.predict import Evaluation

STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:980px;margin:24px auto;padding:0 16px;
color:#202124;line-height:1.45}h1{margin-bottom:0}h2{margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}.muted{color:#5f6368}.cams{display:flex;flex-wrap:wrap;gap:12px}
.cams figure{margin:0;width:220px}.cams img{width:220px;border-radius:4px}figcaption{font-size:90%}
"""
TRAIN, VAL = "#1a73e8", "#e8710a"


def _svg_lines(series: list[tuple[str, str, list[float], list[float]]], title: str, ymax: float | None = None,
               width: int = 440, height: int = 240, xlabel: str = "epoch", ylabel: str = "") -> str:
    """A small line chart: each series (name, colour, xs, ys)."""
    xs = [x for _, _, sx, _ in series for x in sx] or [0, 1]
    ys = [y for _, _, _, sy in series for y in sy if y == y] or [0, 1]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(0.0, min(ys)), ymax if ymax is not None else max(ys) * 1.05 or 1
    left, right, top, bottom = 48, 12, 28, 36
    px = lambda x: left + (x - x0) / (x1 - x0) * (width - left - right)  # noqa: E731
    py = lambda y: height - bottom - (y - y0) / ((y1 - y0) or 1) * (height - top - bottom)  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11">',
             f'<text x="{width / 2}" y="16" text-anchor="middle" font-weight="600">{html.escape(title)}</text>',
             f'<line x1="{left}" y1="{py(y0)}" x2="{width - right}" y2="{py(y0)}" stroke="#999"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{py(y0)}" stroke="#999"/>']
    for k in range(5):
        v = y0 + (y1 - y0) * k / 4
        parts.append(f'<text x="{left - 4}" y="{py(v) + 4}" text-anchor="end">{v:.3g}</text>')
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 6}" text-anchor="middle">{xlabel}</text>')
    if ylabel:
        parts.append(f'<text x="12" y="{(top + height - bottom) / 2}" transform="rotate(-90 12 '
                     f'{(top + height - bottom) / 2})" text-anchor="middle">{ylabel}</text>')
    for i, (name, colour, sx, sy) in enumerate(series):
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(sx, sy) if y == y)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{width - right - 4}" y="{top + 14 * (i + 1)}" text-anchor="end" '
                     f'fill="{colour}">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _png(array: np.ndarray, size: int = 220) -> str:
    image = Image.fromarray(array)
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _confusion_html(matrix: list[list[int]], classes: list[str]) -> str:
    head = "".join(f"<th>→ {html.escape(c)}</th>" for c in classes)
    rows = []
    for r, name in enumerate(classes):
        total = sum(matrix[r]) or 1
        cells = []
        for c, n in enumerate(matrix[r]):
            share = 0.85 * n / total
            colour = f"rgba(46,160,67,{share:.2f})" if r == c else f"rgba(217,48,37,{share:.2f})"
            cells.append(f'<td style="background:{colour}">{n}</td>')
        rows.append(f"<tr><th>{html.escape(name)}</th>{''.join(cells)}</tr>")
    return f"<table><tr><th>true \\ predicted</th>{head}</tr>{''.join(rows)}</table>"


def _examples(bundle: Bundle, evaluation: Evaluation, count: int) -> list[dict]:
    """The most confident right answers and the most confident mistakes."""
    images = evaluation.images
    wrong = sorted((i for i in images if i["predicted"] != i["true"]), key=lambda i: -i["confidence"])
    by_class: dict[int, list[dict]] = {}
    for item in sorted((i for i in images if i["predicted"] == i["true"]), key=lambda i: -i["confidence"]):
        by_class.setdefault(item["true"], []).append(item)
    right = [group[k] for k in range(max(map(len, by_class.values()), default=0)) for group in by_class.values()
             if k < len(group)]  # round robin over the classes
    picked = wrong[: count // 2]
    return (picked + right)[:count]


def build_report(bundle: Bundle, evaluation: Evaluation | None, out: Path, examples: int = 4,
                 progress: Progress | None = None) -> Path:
    """Write the report for ``bundle`` (and ``evaluation`` from core.evaluation.predict.evaluate, if any) to ``out``."""
    meta, classes = bundle.meta, bundle.classes
    settings = meta.get("settings", {})
    history = meta.get("metrics", {}).get("history", [])
    dataset = meta.get("dataset", {})
    esc = html.escape
    body = [f"<h1>TransferLab report: {esc(bundle.run_dir.name)}</h1>",
            f"<p class='muted'>{esc(meta.get('model_name', ''))} · trained {esc(str(meta.get('created', '')))} · "
            f"written {datetime.now():%Y-%m-%d %H:%M}</p>"]

    body.append("<h2>Data</h2>")
    counts = dataset.get("counts", {})
    skipped = skipped_words([str(s.get("reason", "")) for s in dataset.get("skipped", [])])
    body.append(f"<p>{dataset.get('num_images', '?')} images in {len(classes)} classes from "
                f"<code>{esc(str(dataset.get('root', '?')))}</code>; {skipped}; "
                f"{dataset.get('split', {}).get('train', '?')} used for training, "
                f"{dataset.get('split', {}).get('val', '?')} held out for validation.</p>")
    body.append("<table><tr><th>class</th><th>images</th></tr>" +
                "".join(f"<tr><td>{esc(c)}</td><td>{n}</td></tr>" for c, n in counts.items()) + "</table>")
    if dataset.get("health"):
        lines = health_lines(dataset["health"], dataset.get("skipped"))
        body.append("<ul>" + "".join(f"<li>{esc(line)}</li>" for line in lines) + "</ul>")

    body.append("<h2>Strategy</h2>")
    body.append(f"<p><b>{esc(str(meta.get('strategy', '')))}</b>, {meta.get('freeze_depth', 0)} pretrained layer "
                f"group(s) trained ({meta.get('trainable_params', 0):,} parameters), {settings.get('epochs')} epochs, "
                f"learning rates {settings.get('head_lr')} (new classifier) / {settings.get('backbone_lr')} "
                f"(pretrained layers), augmentation: {esc(str(meta.get('augmentation', '')))}</p>")
    rationale = (settings.get("extra") or {}).get("rationale") or []
    suggested = (settings.get("extra") or {}).get("suggested")
    if suggested and suggested != meta.get("strategy") and not meta.get("auto"):
        body.append(f"<p><b>Chosen by hand:</b> the advisor suggested “{esc(str(suggested))}”; this model was trained "
                    f"with “{esc(str(meta.get('strategy', '')))}” instead. The advisor's reasons follow.</p>")
    if rationale:
        body.append("<ul>" + "".join(f"<li>{esc(line)}</li>" for line in rationale) + "</ul>")

    if history:
        body.append("<h2>Training</h2>")
        epochs = [e["epoch"] for e in history]
        body.append(_svg_lines([("train", TRAIN, epochs, [e["train_loss"] for e in history]),
                                ("validation", VAL, epochs, [e["val_loss"] for e in history])], "Loss",
                               ylabel="loss"))
        body.append(_svg_lines([("train", TRAIN, epochs, [100 * e["train_accuracy"] for e in history]),
                                ("validation", VAL, epochs, [100 * e["val_accuracy"] for e in history])],
                               "Accuracy", ymax=100, ylabel="%"))
        body.append(f"<p>Best epoch {meta['metrics'].get('best_epoch')}: validation accuracy "
                    f"{meta['metrics'].get('val_accuracy', 0):.1%}. The model kept is the one from that epoch."
                    f"{stopped_words(meta)}</p>")

    if evaluation is not None:
        body.append("<h2>Results</h2>")
        from core.evaluation.metrics import accuracy_words, baseline_words
        from core.evaluation.result_words import scored_where
        body.append(f"<p><b>{esc(accuracy_words(evaluation))}</b> accuracy, balanced accuracy "
                    f"{evaluation.balanced_accuracy:.1%}, on {evaluation.num_images} images "
                    f"({esc(scored_where(evaluation))}) the model did not train on. For comparison, "
                    f"{esc(baseline_words(evaluation))}.</p>")
        body.append("<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>images</th></tr>" +
                    "".join(f"<tr><td>{esc(c)}</td><td>{m['precision']:.2f}</td><td>{m['recall']:.2f}</td>"
                            f"<td>{m['f1']:.2f}</td><td>{m['support']}</td></tr>"
                            for c, m in evaluation.per_class.items()) + "</table>")
        body.append("<h3>Confusion matrix</h3>" + _confusion_html(evaluation.confusion_matrix, classes))
        if evaluation.unknown is not None:
            from core.evaluation.result_words import unknown_sentence
            body.append(f"<p>{esc(unknown_sentence(evaluation.unknown))}</p>")
        roc = evaluation.roc
        if roc:
            body.append(_svg_lines([(f"AUC {roc['auc']:.3f}", TRAIN, roc["fpr"], roc["tpr"])],
                                   f"ROC ({roc['positive']} is positive)", ymax=1, xlabel="false positive rate",
                                   ylabel="true positive rate"))
    calibration = meta.get("calibration") or {}
    if calibration:
        from core.evaluation.calibration import calibration_sentence
        body.append("<h2>Calibration</h2>")
        body.append(f"<p>{html.escape(calibration_sentence(calibration))} A model that says 80% should be right "
                    "about 80% of the time.</p>")

    picked = _examples(bundle, evaluation, examples) if evaluation is not None else []
    if picked:
        from core.evaluation.explain import explain
        body.append("<h2>What the model looks at (Grad-CAM)</h2><div class='cams'>")
        for item in picked:
            report(progress, 0, 0, f"Explaining {Path(item['path']).name}…")
            try:
                e = explain(bundle.net, bundle.preprocessing, Path(item["path"]), temperature=bundle.temperature)
            except (ImageLoadError, OSError):
                continue
            verdict = "right" if item["predicted"] == item["true"] else "wrong"
            body.append(f"<figure><img src='{_png(e.overlay_in_context())}' alt=''><figcaption>{esc(Path(item['path']).name)}"
                        f": true <b>{esc(classes[item['true']])}</b>, predicted <b>{esc(classes[item['predicted']])}"
                        f"</b> ({item['confidence']:.0%}, {verdict})</figcaption></figure>")
        body.append("</div><p class='muted'>Warm colours: the regions that raised the score of the predicted "
                    "class most.</p>")

    document = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>TransferLab report "
                f"{esc(bundle.run_dir.name)}</title><style>{STYLE}</style></head><body>{''.join(body)}</body></html>")
    try:
        atomic_write(Path(out), lambda tmp: tmp.write_text(document, encoding="utf-8"))
    except OSError as exc:
        raise TransferLabError(f"Cannot write the report to {out}: {exc.strerror or exc}") from exc
    return Path(out)
