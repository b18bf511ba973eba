"""The four-quadrant picture: dataset size (x, log scale) against measured similarity to ImageNet (y)."""

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from core.methods.quadrants import SMALL_MAX_PER_CLASS, is_small, margin_words

X_MIN, X_MAX = 5.0, 5000.0  # images per class, log scale
Y_MIN, Y_MAX = -0.25, 0.25  # similarity margin (core.methods.quadrants.similarity_margin); 0 splits
X_TICKS = (5, 50, 500, 5000)

# (small?, similar?) -> strategy, and the plain-words names drawn in each quadrant
QUADRANTS = {
    (True, True): "feature-extraction",
    (True, False): "truncated",
    (False, True): "fine-tune-top",
    (False, False): "fine-tune-all",
}
QUADRANT_NAMES = {
    "feature-extraction": "Feature extraction",
    "truncated": "Earlier-layer features",
    "fine-tune-top": "Fine-tune top layers",
    "fine-tune-all": "Fine-tune all layers",
}
PAD = 6
DOT_RADIUS = 6
DOT_LABEL = "your data"


def _x_fraction(per_class: float) -> float:
    v = min(max(float(per_class), X_MIN), X_MAX)
    return (math.log10(v) - math.log10(X_MIN)) / (math.log10(X_MAX) - math.log10(X_MIN))


def _y_fraction(value: float) -> float:
    """0 at the bottom (different), 1 at the top (similar)."""
    v = min(max(float(value), Y_MIN), Y_MAX)
    return (v - Y_MIN) / (Y_MAX - Y_MIN)


def _blend(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` moved a fraction ``t`` towards ``b`` (secondary text that stays readable in light and dark mode)."""
    return QColor(round(a.red() + (b.red() - a.red()) * t), round(a.green() + (b.green() - a.green()) * t),
                  round(a.blue() + (b.blue() - a.blue()) * t))


class QuadrantWidget(QWidget):
    """Paints the four strategies as quadrants, highlights the chosen one and marks "your data"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.point: tuple[float, float] | None = None  # (median images per class, similarity value)
        self.strategy: str | None = None
        self.auto = False  # Auto on: the highlight is only the suggestion (dashed); Auto's plan decides what trains
        self._tip = ""
        self.setAccessibleName("Strategy quadrants")

    # API ----------------------------------------------------------------------------------------
    def set_point(self, median_per_class: float, similarity_value: float, strategy: str | None,
                  confidence: float | None = None, shift: float | None = None) -> None:
        """``confidence`` and ``shift`` (the advisor's two measurements): the tooltip shows how the height comes
        from them, the numbers the Strategy step's sentence gives."""
        self.point = (float(median_per_class), float(similarity_value))
        self.strategy = strategy
        size = "small" if is_small([self.point[0]]) else "large"
        similar = "similar to" if self.point[1] >= 0 else "different from"
        margin = (margin_words(confidence, shift) if confidence is not None else
                  f"margin {self.point[1]:+.2f}: above 0 is similar")
        self._tip = (f"Your data: median {self.point[0]:.0f} training images per class ({size}); "
                     f"{similar} ImageNet's photos ({margin}).")
        self.set_auto(self.auto)

    def set_auto(self, on: bool) -> None:
        """With Auto on, the highlighted quadrant is the suggestion only (drawn dashed): Auto tries its own plan."""
        self.auto = on
        self.setToolTip(self._tip + (" Highlighted: the suggested strategy. Auto is on, so the plan above decides "
                                     "what is trained (it may try other strategies)." if on and self._tip else ""))
        self.update()

    def set_chosen(self, strategy: str | None) -> None:
        """Highlight the strategy the user picked (the suggestion until they pick another)."""
        self.strategy = strategy
        self.update()

    def clear_point(self) -> None:
        self.point, self.strategy, self._tip = None, None, ""
        self.setToolTip("")
        self.update()

    def has_point(self) -> bool:
        return self.point is not None

    def minimumSizeHint(self) -> QSize:
        return QSize(360, 260)

    def sizeHint(self) -> QSize:
        return QSize(520, 320)

    # geometry ----------------------------------------------------------------------------------
    def _fonts(self) -> tuple[QFont, QFont, QFont]:
        normal = QFont(self.font())
        small = QFont(self.font())
        if small.pointSizeF() > 0:
            small.setPointSizeF(max(7.0, small.pointSizeF() * 0.9))
        bold = QFont(self.font())
        bold.setBold(True)
        return normal, small, bold

    def plot_rect(self) -> QRectF:
        """The area holding the quadrants (axes and their labels are outside it)."""
        _, small, _ = self._fonts()
        fm_n, fm_s = QFontMetrics(self.font()), QFontMetrics(small)
        left = PAD + fm_n.height() + 4 + fm_s.height() + 6  # axis title + "similar"/"different", rotated
        right = PAD + fm_s.horizontalAdvance(str(X_TICKS[-1])) / 2 + 2
        top = PAD
        bottom = PAD + fm_s.height() + 4 + fm_n.height() + 2 + fm_n.height() + 4  # ticks, small/large, title
        return QRectF(left, top, max(10.0, self.width() - left - right), max(10.0, self.height() - top - bottom))

    def _split(self, plot: QRectF) -> QPointF:
        x = plot.left() + _x_fraction(SMALL_MAX_PER_CLASS) * plot.width()
        y = plot.bottom() - _y_fraction(0.0) * plot.height()
        return QPointF(x, y)

    def point_position(self) -> QPointF | None:
        """Where the dot is drawn, in widget coordinates (None without a point)."""
        if self.point is None:
            return None
        plot = self.plot_rect()
        x = plot.left() + _x_fraction(self.point[0]) * plot.width()
        y = plot.bottom() - _y_fraction(self.point[1]) * plot.height()
        inset = DOT_RADIUS + 3  # the whole dot stays inside the plot, also at the ends of the scales
        return QPointF(min(max(x, plot.left() + inset), plot.right() - inset),
                       min(max(y, plot.top() + inset), plot.bottom() - inset))

    def label_layout(self) -> dict:
        """Where the texts inside the plot go: {"dot", "dot_label", "quadrants": {strategy: (rect, flags, text)}}.

        The dot's label goes beside the dot, inside the plot, preferably clear of the quadrant names; each
        quadrant name goes in the first corner of its quadrant (outer corner first) clear of the dot and its label.
        """
        _, _, bold = self._fonts()
        normal = self.font()
        plot = self.plot_rect()
        rects = self.quadrant_rects()
        L, R = Qt.AlignmentFlag.AlignLeft, Qt.AlignmentFlag.AlignRight
        T, B = Qt.AlignmentFlag.AlignTop, Qt.AlignmentFlag.AlignBottom
        corners = {  # outer corner first
            QUADRANTS[(True, True)]: [L | T, L | B, R | T, R | B],
            QUADRANTS[(False, True)]: [R | T, R | B, L | T, L | B],
            QUADRANTS[(True, False)]: [L | B, L | T, R | B, R | T],
            QUADRANTS[(False, False)]: [R | B, R | T, L | B, L | T],
        }

        def name_rect(strategy: str, flags) -> tuple[QRectF, str]:
            label = QUADRANT_NAMES[strategy]
            fm = QFontMetrics(bold if strategy == self.strategy else normal)
            inner = rects[strategy].adjusted(PAD, PAD / 2, -PAD, -PAD / 2)
            bound = fm.boundingRect(inner.toRect(), int(flags | Qt.TextFlag.TextWordWrap), label)
            return QRectF(bound), label

        def overlap(a: QRectF, b: QRectF) -> float:
            r = a.intersected(b)
            return max(0.0, r.width()) * max(0.0, r.height())

        def place_names(blocked: list[QRectF]) -> tuple[float, dict]:
            total, placed = 0.0, {}
            for strategy in rects:
                scored = []
                for order, flags in enumerate(corners[strategy]):
                    bound, label = name_rect(strategy, flags)
                    scored.append((sum(overlap(bound, b) for b in blocked), order, flags, label))
                cost, _, flags, label = min(scored, key=lambda t: (t[0], t[1]))
                total += cost
                placed[strategy] = (flags, label)
            return total, placed

        pos = self.point_position()
        box = None
        if pos is None:
            _, placed = place_names([])
        else:
            fm_b = QFontMetrics(bold)
            w, h = fm_b.horizontalAdvance(DOT_LABEL) + 8, fm_b.height() + 2
            gap = DOT_RADIUS + 4
            candidates = [QRectF(pos.x() + gap, pos.y() - gap - h + 4, w, h),  # right, above
                          QRectF(pos.x() + gap, pos.y() + gap - 4, w, h),  # right, below
                          QRectF(pos.x() - gap - w, pos.y() - gap - h + 4, w, h),  # left, above
                          QRectF(pos.x() - gap - w, pos.y() + gap - 4, w, h),  # left, below
                          QRectF(pos.x() - w / 2, pos.y() - gap - h, w, h),  # above
                          QRectF(pos.x() - w / 2, pos.y() + gap, w, h)]  # below
            inside = [c for c in candidates if plot.adjusted(1, 1, -1, -1).contains(c)] or candidates[:1]
            r = DOT_RADIUS + 3
            dot = QRectF(pos.x() - r, pos.y() - r, 2 * r, 2 * r)
            best = None
            for order, candidate in enumerate(inside):
                cost, placed_here = place_names([dot, candidate])
                if best is None or (cost, order) < best[0]:
                    best = ((cost, order), candidate, placed_here)
            _, box, placed = best
        quadrants = {st: (rects[st].adjusted(PAD, PAD / 2, -PAD, -PAD / 2), flags, label)
                     for st, (flags, label) in placed.items()}
        return {"dot": pos, "dot_label": box, "quadrants": quadrants,
                "name_bounds": {st: name_rect(st, q[1])[0] for st, q in quadrants.items()}}

    def quadrant_rects(self) -> dict[str, QRectF]:
        plot = self.plot_rect()
        c = self._split(plot)
        return {
            QUADRANTS[(True, True)]: QRectF(QPointF(plot.left(), plot.top()), c),
            QUADRANTS[(False, True)]: QRectF(QPointF(c.x(), plot.top()), QPointF(plot.right(), c.y())),
            QUADRANTS[(True, False)]: QRectF(QPointF(plot.left(), c.y()), QPointF(c.x(), plot.bottom())),
            QUADRANTS[(False, False)]: QRectF(c, plot.bottomRight()),
        }

    # painting ----------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.WindowText)
        base = pal.color(QPalette.ColorRole.Base)
        alt = pal.color(QPalette.ColorRole.AlternateBase)
        mid = pal.color(QPalette.ColorRole.Mid)
        accent = pal.color(QPalette.ColorRole.Highlight)
        muted = _blend(text, pal.color(QPalette.ColorRole.Window), 0.35)
        normal, small, bold = self._fonts()

        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        plot = self.plot_rect()
        rects = self.quadrant_rects()
        split = self._split(plot)

        # quadrants
        for i, (strategy, rect) in enumerate(rects.items()):
            p.fillRect(rect, base if i in (0, 3) else alt)
        if self.strategy in rects:
            fill = QColor(accent)
            fill.setAlpha(30 if self.auto else 55)
            p.fillRect(rects[self.strategy], fill)
        p.setPen(QPen(mid, 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(plot)
        p.setPen(QPen(mid, 1, Qt.PenStyle.DashLine))
        p.drawLine(QPointF(split.x(), plot.top()), QPointF(split.x(), plot.bottom()))
        p.drawLine(QPointF(plot.left(), split.y()), QPointF(plot.right(), split.y()))
        if self.strategy in rects:
            p.setPen(QPen(accent, 2, Qt.PenStyle.DashLine if self.auto else Qt.PenStyle.SolidLine))
            p.drawRect(rects[self.strategy].adjusted(1, 1, -1, -1))

        # quadrant names (in a corner clear of the dot) and the dot's label
        layout = self.label_layout()
        for strategy, (rect, flags, label) in layout["quadrants"].items():
            p.setFont(bold if strategy == self.strategy else normal)
            p.setPen(text)
            p.drawText(rect, int(flags | Qt.TextFlag.TextWordWrap), label)

        # x axis: ticks, threshold, small/large, title
        fm_s, fm_n = QFontMetrics(small), QFontMetrics(normal)
        p.setFont(small)
        tick_y = plot.bottom() + 2
        used: list[QRectF] = []
        threshold_label = f"{SMALL_MAX_PER_CLASS}"
        tw = fm_s.horizontalAdvance(threshold_label)
        threshold_rect = QRectF(split.x() - tw / 2 - 2, tick_y, tw + 4, fm_s.height())
        p.setPen(text)
        p.drawText(threshold_rect, int(Qt.AlignmentFlag.AlignCenter), threshold_label)
        used.append(threshold_rect)
        p.setPen(muted)
        for tick in X_TICKS:
            x = plot.left() + _x_fraction(tick) * plot.width()
            label = str(tick)
            w = fm_s.horizontalAdvance(label)
            r = QRectF(x - w / 2 - 2, tick_y, w + 4, fm_s.height())
            r.moveLeft(max(0.0, min(r.left(), self.width() - r.width())))
            p.drawLine(QPointF(x, plot.bottom()), QPointF(x, plot.bottom() - 4))
            if not any(r.intersects(u) for u in used):
                p.drawText(r, int(Qt.AlignmentFlag.AlignCenter), label)
                used.append(r)
        row2 = tick_y + fm_s.height() + 4
        p.setFont(normal)
        p.setPen(text)
        p.drawText(QRectF(plot.left(), row2, split.x() - plot.left(), fm_n.height()),
                   int(Qt.AlignmentFlag.AlignCenter), "small")
        p.drawText(QRectF(split.x(), row2, plot.right() - split.x(), fm_n.height()),
                   int(Qt.AlignmentFlag.AlignCenter), "large")
        p.setPen(muted)
        p.drawText(QRectF(0, row2 + fm_n.height() + 2, self.width(), fm_n.height()),
                   int(Qt.AlignmentFlag.AlignCenter), "training images per class (log scale)")

        # y axis: similar/different, title (rotated)
        col1 = plot.left() - 6 - fm_s.height() / 2  # centre line of "similar"/"different"
        col0 = col1 - fm_s.height() / 2 - 4 - fm_n.height() / 2  # centre line of the title
        p.setPen(text)
        p.setFont(small)
        self._vertical_text(p, col1, (plot.top() + split.y()) / 2, split.y() - plot.top(), fm_s.height(), "similar")
        self._vertical_text(p, col1, (split.y() + plot.bottom()) / 2, plot.bottom() - split.y(), fm_s.height(),
                            "different")
        p.setPen(muted)
        p.setFont(normal)
        self._vertical_text(p, col0, plot.center().y(), plot.height(), fm_n.height(), "similarity to ImageNet")

        # your data
        pos, box = layout["dot"], layout["dot_label"]
        if pos is not None and box is not None:
            p.setPen(QPen(base, 2))
            p.setBrush(accent)
            p.drawEllipse(pos, DOT_RADIUS, DOT_RADIUS)
            p.setPen(QPen(text, 1))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawEllipse(pos, DOT_RADIUS + 1.5, DOT_RADIUS + 1.5)
            back = QColor(base)
            back.setAlpha(225)
            p.setPen(QPen(accent, 1))
            p.setBrush(back)
            p.drawRoundedRect(box, 3, 3)
            p.setFont(bold)
            p.setPen(text)
            p.drawText(box, int(Qt.AlignmentFlag.AlignCenter), DOT_LABEL)
        p.end()

    @staticmethod
    def _vertical_text(p: QPainter, cx: float, cy: float, length: float, thickness: float, label: str) -> None:
        """Text rotated 90° anticlockwise, centred on (cx, cy), elided to ``length``."""
        p.save()
        p.translate(cx, cy)
        p.rotate(-90)
        shown = QFontMetrics(p.font()).elidedText(label, Qt.TextElideMode.ElideRight, int(max(0.0, length - 4)))
        p.drawText(QRectF(-length / 2, -thickness / 2, length, thickness), int(Qt.AlignmentFlag.AlignCenter), shown)
        p.restore()
