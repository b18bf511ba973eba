"""The main window: a step list, the wizard pages, Back/Next. Pages do the work; this only navigates."""

from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QDialog, QFileDialog, QHBoxLayout, QListWidget,
                               QListWidgetItem, QMainWindow, QMessageBox, QPushButton, QStackedWidget, QVBoxLayout,
                               QWidget)

from app import app_settings
from app.compare_dialog import CompareDialog
from app.open_run import RunOpener
from app.pages.base import WizardPage
from app.pages.data_page import DataPage
from app.pages.freeze_page import FreezePage
from app.pages.model_page import ModelPage
from app.pages.results_view import ResultsPage
from app.pages.strategy_page import StrategyPage
from app.pages.train_page import TrainPage
from app.pages.try_view import TryPage
from app.resume import ResumeController
from app.state import WizardState
from app.tasks import Task
from app.warmup import import_heavy_modules
from app.widgets.appearance_button import AppearanceButton
from app.widgets.resume_bar import ResumeBar

PAGE_CLASSES = (DataPage, ModelPage, StrategyPage, FreezePage, TrainPage, ResultsPage, TryPage)
MODEL, TRAIN, RESULTS, TRY = 1, 4, 5, 6


class _EnterMeansNext(QObject):
    """Enter in a table or list of a page means Next, as it does in every other field."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and \
                watched.state() != QAbstractItemView.State.EditingState and not watched.property("ownsEnter"):
            self.window._enter_pressed()
            return True
        return False

class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("TransferLab")
        self.setAcceptDrops(True)
        self.state = WizardState()
        self.pages: list[WizardPage] = [cls(self.state) for cls in PAGE_CLASSES]
        self.reached = 0

        self.steps = QListWidget()
        self.steps.setObjectName("steps")
        self.steps.setFixedWidth(190)
        self.steps.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for i, page in enumerate(self.pages):
            self.steps.addItem(QListWidgetItem(f"{i + 1}. {page.title}"))
        self.steps.currentRowChanged.connect(self._step_clicked)

        self.stack = QStackedWidget()
        for page in self.pages:
            self.stack.addWidget(page)
            page.completeChanged.connect(self._update_buttons)
            page.focusReturned.connect(self._focus_returned)
            page.task.stopped.connect(self._update_buttons)
            page.task.progress.connect(lambda *_: None)

        self.back_button = QPushButton("Back")
        self.next_button = QPushButton("Next")
        self.next_button.setObjectName("nextButton")
        self.back_button.clicked.connect(self.go_back)
        self.next_button.clicked.connect(self.go_next)
        nav = QHBoxLayout()
        nav.setContentsMargins(24, 0, 24, 16)
        nav.addStretch(1)
        nav.addWidget(self.back_button)
        nav.addWidget(self.next_button)

        self.resume_bar = ResumeBar()
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.addWidget(self.resume_bar)
        right.addWidget(self.stack, 1)
        right.addLayout(nav)
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        left = QVBoxLayout()
        left.setContentsMargins(0, 0, 0, 0)
        left.addWidget(self.steps, 1)
        self.words_button = QPushButton("Words explained (F1)")
        self.words_button.setToolTip("Every word the window uses that you may have to look up, in plain words")
        self.words_button.setFixedWidth(190)
        self.words_button.clicked.connect(self.show_words)
        left.addWidget(self.words_button)
        self.appearance_button = AppearanceButton()
        self.appearance_button.setFixedWidth(190)
        left.addWidget(self.appearance_button)
        row.addLayout(left)
        row.addLayout(right, 1)
        self.setCentralWidget(central)

        QShortcut(QKeySequence(Qt.Key.Key_F1), self, activated=self.show_words)
        QShortcut(QKeySequence("Ctrl+Q"), self, activated=self.close)  # (Cmd+Q on a Mac) asks as the window's X
        for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            QShortcut(QKeySequence(key), self, activated=self._enter_pressed)
        self._enter_filter = _EnterMeansNext(self)
        for view in central.findChildren(QAbstractItemView):  # tables and lists take Enter for themselves
            view.installEventFilter(self._enter_filter)
        self.resize(1100, 760)
        geometry = app_settings.store().value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        self.show_page(0)
        self.pages[MODEL].compareRequested.connect(self.open_comparison)
        self.opener = RunOpener(self)
        self.pages[0].openRunRequested.connect(self.choose_and_open_run)
        self.pages[RESULTS].retrainRequested.connect(self._retrain_with_changed_data)
        self.pages[RESULTS].trainAgainRequested.connect(self._train_again)
        self.pages[TRY].trainAgainRequested.connect(self._train_again)
        self.resumer = ResumeController(self, self.resume_bar)
        self.resumer.offer()
        self.warmup = Task(self)
        self._closed = False
        QTimer.singleShot(300, self, self._start_warmup)

    def _start_warmup(self) -> None:
        if not self._closed and not self.warmup.is_running():
            self.warmup.start(import_heavy_modules)

    # navigation -------------------------------------------------------------------------------
    @property
    def current_index(self) -> int:
        return self.stack.currentIndex()

    @property
    def current_page(self) -> WizardPage:
        return self.pages[self.current_index]

    def show_page(self, index: int) -> None:
        index = max(0, min(index, len(self.pages) - 1))
        if self.state.result_is_stale() and not self.pages[TRAIN].is_busy():
            self._set_aside_stale_result()
            index = min(index, TRAIN)  # Results and Try would show the earlier run
        self.reached = max(self.reached, index)
        if index != self.current_index:
            self.current_page.on_leave()
        self.stack.setCurrentIndex(index)
        self.steps.blockSignals(True)
        self.steps.setCurrentRow(index)
        self.steps.blockSignals(False)
        self.pages[index].on_enter()
        self._update_buttons()
        self._focus_page()

    def _focus_page(self) -> None:
        page = self.current_page
        target = page.focus_target() or (self.next_button if self.next_button.isEnabled() else None)
        (target or page).setFocus(Qt.FocusReason.OtherFocusReason)  # never a stray banner button

    def _focus_returned(self) -> None:
        """A page's work ended, and the button that started it had the focus (Qt passed it on to the next
        button while it was disabled): it goes to the page's action or Next, not to a button the user did
        not choose."""
        if self.sender() is self.current_page:
            self._update_buttons()
            self._focus_page()

    def _set_aside_stale_result(self) -> None:
        """The data or settings changed after a run: its curves and results no longer describe what the
        pages show, so they are cleared; the run stays on disk and can be opened again."""
        run_dir = self.state.result.run_dir
        self.state.result, self.state.result_key, self.state.evaluation = None, None, None
        self.reached = min(self.reached, TRAIN)
        self.pages[TRAIN].set_aside(run_dir)

    def _retrain_with_changed_data(self, words: str) -> None:
        """Results changed the data (a folder of images of no class added as a class): Train, with the earlier
        run put aside and what changed said."""
        self.show_page(TRAIN)
        self.pages[TRAIN].banner.show_message(words, "info")

    def _train_again(self, words: str) -> None:
        """Labels corrected on Results: Train, the earlier run put aside, and the same settings trained at once."""
        self._retrain_with_changed_data(words)
        self.pages[TRAIN].start_training()

    def go_next(self) -> None:
        if self.next_button.isEnabled():
            self.show_page(self.current_index + 1)

    def go_back(self) -> None:
        if self.back_button.isEnabled():
            self.show_page(self.current_index - 1)

    def _enter_pressed(self) -> None:
        focus = self.focusWidget()
        if isinstance(focus, QPushButton) and focus is not self.next_button:
            focus.click()
            return
        self.go_next()

    def _step_clicked(self, row: int) -> None:
        if row != self.current_index and self._why_not(row) is None:
            self.show_page(row)
        else:  # the highlight goes back to this step once the click is over (it stuck on the refused one)
            QTimer.singleShot(0, self, self._highlight_current)

    def _why_not(self, row: int) -> str | None:
        """Why the step list cannot open step ``row`` now (None: it can). Forward only past complete steps, this one
        included (a walkthrough reached Results from a Model step whose Next was disabled); back always, unless this
        step holds the navigation. The same rule greys the step and gives its tooltip (a walkthrough clicked greyless
        steps that did nothing)."""
        if row == self.current_index:
            return None
        if self.current_page.holds_navigation():
            return f"Wait for '{self.current_page.title}' to finish its work (or cancel it) first"
        if row < self.current_index or row == self.current_index + 1 and self._can_go_next():
            return None  # the next step opens as Next does
        unfinished = next((p for p in self.pages[:row] if not p.is_complete()), None)
        if unfinished is not None:
            return f"Finish '{unfinished.title}' first"
        return None if row <= self.reached else f"Press Next on '{self.pages[row - 1].title}' first"

    def _highlight_current(self) -> None:
        self.steps.blockSignals(True)
        self.steps.setCurrentRow(self.current_index)
        self.steps.blockSignals(False)

    def _can_go_next(self) -> bool:
        page = self.current_page
        return self.current_index < len(self.pages) - 1 and not page.is_busy() and page.is_complete()

    def _update_buttons(self) -> None:
        page = self.current_page
        busy = page.is_busy()
        last = self.current_index == len(self.pages) - 1
        self.back_button.setEnabled(self.current_index > 0 and not page.holds_navigation())
        self.next_button.setEnabled(self._can_go_next())
        self.next_button.setVisible(not last)
        if self.state.result is None and not self.pages[TRAIN].is_busy() and self.current_index <= TRAIN:
            self.reached = min(self.reached, TRAIN)  # no model (e.g. another folder chosen): Results and Try wait
        elif not last and not busy and page.is_complete():  # the step list opens what Next would (a walkthrough saw
            self.reached = max(self.reached, self.current_index + 1)  # "press Next" beside a greyed Results step)
        for i in range(self.steps.count()):
            item, why = self.steps.item(i), self._why_not(i)
            flags = item.flags()
            item.setFlags(flags & ~Qt.ItemFlag.ItemIsEnabled if why else flags | Qt.ItemFlag.ItemIsEnabled)
            item.setToolTip(why or "")

    # side-by-side comparison; opening one of its runs -------------------------------------------
    def show_words(self):
        from app.glossary import GlossaryDialog
        dialog = GlossaryDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def open_comparison(self) -> CompareDialog | None:
        if self.state.scan is None or self.current_page.is_busy():
            return None
        from core.base.paths import new_run_dir
        dialog = CompareDialog(self.state, lambda: new_run_dir("comparison", kind="comparisons"), self)
        dialog.runChosen.connect(self.open_run)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def choose_run_folder(self) -> str | None:
        from app.run_picker import RunPicker
        from core.base.paths import data_dir
        runs = data_dir() / "runs"  # where the app saves every run
        start = app_settings.get_str("window/last_run_folder", str(runs if runs.is_dir() else Path.home()))
        picker = RunPicker(runs, start, self)
        return picker.chosen if picker.exec() == QDialog.DialogCode.Accepted else None

    def choose_dataset_folder(self, message: str) -> str | None:
        QMessageBox.information(self, "Where are the images?", message)
        return QFileDialog.getExistingDirectory(self, "The folder of images the run was trained on",
                                                app_settings.get_str("data/last_folder", str(Path.home()))) or None

    def choose_and_open_run(self) -> None:
        run_dir = self.choose_run_folder()
        if not run_dir:
            return
        app_settings.set_value("window/last_run_folder", str(Path(run_dir).parent))
        problem = self.opener.open(run_dir)
        if problem and "not at" in problem:
            dataset = self.choose_dataset_folder(problem)
            problem = self.opener.open(run_dir, dataset) if dataset else None
        if problem:
            self.pages[0].banner.show_message(problem, "error")

    def open_run(self, run_dir: str) -> None:
        """Show a finished run of the current dataset on the Results page (and so the Try page)."""
        from core.models.bundle import read_meta
        from core.training.result import TrainResult
        meta = read_meta(Path(run_dir))
        self.state.take_run_settings(meta["settings"], meta.get("auto"))  # a run trained by hand: Auto off
        self.state.result = TrainResult.of_saved_run(Path(run_dir))
        self.state.evaluation = None
        self.state.result_key = self.state.training_key()
        self.pages[TRAIN].show_run(self.state.result, meta.get("stopped"))
        self.reached = max(self.reached, RESULTS)
        self.show_page(RESULTS)

    # drag and drop a dataset folder anywhere on the window ------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if self.current_index == 0 and urls and Path(urls[0].toLocalFile()).is_dir():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        folder = event.mimeData().urls()[0].toLocalFile()
        self.pages[0].scan_folder(folder)

    # closing ----------------------------------------------------------------------------------
    def confirm_quit_while_busy(self) -> bool:
        train = self.pages[TRAIN]
        if not train.is_busy():
            text = "Work is still running (scanning or measuring); it stops, and nothing is saved from it. Quit?"
        elif train.run_dir is not None:  # a single run (domain-adapted too): checkpointed, resumable
            text = ("Training is still running. If you quit now, the best epoch so far is saved as a model (once "
                    "an epoch has finished), and the next time TransferLab starts it offers to continue the run "
                    "from its last finished epoch. Quit?")
        elif train.finished_candidates:  # Auto: the best finished candidate is kept, nothing to resume
            n = train.finished_candidates
            text = (f"Auto is still running. If you quit now, the best of the {n} candidate{'s' * (n > 1)} finished "
                    "so far is kept as a model; the rest of the search is not resumed. Quit?")
        else:
            text = ("Auto is still running and has not finished its first candidate: if you quit now, no model is "
                    "kept from this run, and it cannot be resumed. Quit?")
        answer = QMessageBox.question(self, "Quit TransferLab?", text,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event: QCloseEvent) -> None:
        if any(p.is_busy() for p in self.pages) and not self.confirm_quit_while_busy():
            event.ignore()
            return
        busy = any(p.is_busy() for p in self.pages)
        if busy:  # stopping can take seconds: say so, rather than vanish while the process goes on (a walkthrough)
            self.closing_notice = QMessageBox(QMessageBox.Icon.Information, "Closing TransferLab",
                                              "Stopping the running work and saving what is kept, as the "
                                              "question said… TransferLab closes in a moment.",
                                              QMessageBox.StandardButton.NoButton, self)
            self.closing_notice.setModal(False)
            self.closing_notice.show()
            QApplication.processEvents()
        for page in self.pages:
            page.shutdown()
        if busy:
            self.closing_notice.hide()
        self._closed = True
        self.warmup.wait(60000)  # an import cannot be interrupted; it is usually long done
        app_settings.set_value("window/geometry", self.saveGeometry())
        event.accept()
