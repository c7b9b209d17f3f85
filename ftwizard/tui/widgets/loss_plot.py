"""The loss pane: train and eval loss of several runs in one plot, redrawn at most a few times a second."""

from __future__ import annotations

from textual_plotext import PlotextPlot

from ftwizard.runs.events import Progress


class LossPlot(PlotextPlot):
    # no plot title and no x label: the border says what is drawn, so every row the pane has left is curve
    DEFAULT_CSS = "LossPlot { min-height: 6; }"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._series: list[tuple[str, list, list]] = []
        self.dirty = False
        self.draws = 0

    def set_runs(self, runs: list[tuple[str, Progress]]) -> None:
        """Take the runs' points (copies); the next `redraw_if_dirty` draws them."""
        self._series = [(label, list(p.train_points), list(p.eval_points)) for label, p in runs]
        self.dirty = True

    def redraw_if_dirty(self) -> None:
        if not self.dirty:
            return
        self.dirty = False
        self.draws += 1
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        any_points = False
        for label, train, evals in self._series:
            if train:
                plt.plot([x for x, _ in train], [y for _, y in train], label=f"{label} train", marker="braille")
                any_points = True
            if evals:
                plt.plot([x for x, _ in evals], [y for _, y in evals], label=f"{label} eval", marker="dot")
                any_points = True
        if not any_points:
            plt.title("no points yet")
        self.refresh()
