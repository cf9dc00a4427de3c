"""The month as a picture: invoices cancelled per week, stacked by SAT reason, and the amount
cancelled in MXN, as a PNG.

matplotlib is imported here, when a report is made (by bot.reporting.worker's process or
the command line), never by the bot at start: half a second and 30 MB it does not need.
Its object API (Figure and the Agg canvas, no pyplot) keeps no global state.
The background is opaque and neutral, so the picture reads the same in Slack's light and
dark themes.
"""

from __future__ import annotations

import io

from bot.i18n import t
from bot.reporting.figures import REASONS, MonthReport, weekday_span

WIDTH_PX, HEIGHT_PX, DPI = 1200, 675, 100
BACKGROUND = "#F4F5F7"
INK = "#1D1C1D"
# One colour per SAT reason, told apart also by people who do not see red and green.
COLOURS = {"01": "#0072B2", "02": "#E69F00", "03": "#009E73", "04": "#CC79A7"}
AMOUNT = "#D55E00"
# Font sizes in points: Slack previews the picture at about half its width.
TITLE, LABEL, TICKS = 20, 15, 13


def render(report: MonthReport, lang: str) -> bytes:
    """The chart of `report`, WIDTH_PX x HEIGHT_PX, as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI,
                    facecolor=BACKGROUND)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(facecolor=BACKGROUND)
    labels = [weekday_span(week) for week in report.weeks]
    positions = list(range(len(report.weeks)))
    bottom = [0] * len(positions)
    for reason in REASONS:
        counts = [week.cancelled.get(reason, 0) for week in report.weeks]
        axes.bar(positions, counts, 0.6, bottom=bottom, color=COLOURS[reason],
                 label=t("report.chart.reason", lang, code=reason))
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    axes.set_xticks(positions, labels)
    axes.set_xlabel(t("report.chart.weeks", lang, month=str(report.month)), color=INK,
                    fontsize=LABEL)
    axes.set_ylabel(t("report.chart.count", lang), color=INK, fontsize=LABEL)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(0, max([*bottom, 1]) * 1.15)
    money = axes.twinx()
    money.plot(positions, [float(week.amount) for week in report.weeks], color=AMOUNT,
               marker="o", linewidth=2.5, label=t("report.chart.amount", lang))
    money.set_ylabel(t("report.chart.amount", lang), color=INK, fontsize=LABEL)
    money.set_ylim(0, max([float(w.amount) for w in report.weeks] + [1.0]) * 1.15)
    money.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"${value:,.0f}"))
    for side in (axes, money):
        side.tick_params(colors=INK, labelsize=TICKS)
        for spine in side.spines.values():
            spine.set_color("#8A8D91")
    # Below the plot, outside it: nothing drawn over the bars or the line.
    handles, labels = (a + b for a, b in zip(axes.get_legend_handles_labels(),
                                             money.get_legend_handles_labels(), strict=True))
    figure.legend(handles, labels, loc="lower center", ncols=len(labels), frameon=False,
                  labelcolor=INK, fontsize=TICKS)
    figure.suptitle(t("report.chart.title", lang, month=str(report.month),
                      count=f"{report.cancelled:,}", amount=f"{report.amount_mxn:,.2f}"),
                    color=INK, fontsize=TITLE)
    out = io.BytesIO()
    figure.tight_layout(rect=(0, 0.06, 1, 1))  # room for the legend; the size stays
    figure.savefig(out, format="png", dpi=DPI, facecolor=BACKGROUND)
    return out.getvalue()
