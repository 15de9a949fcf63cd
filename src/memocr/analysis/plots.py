"""Plots of the analysis: region densities per mode and the oracle's accuracy against budget."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from memocr.analysis.density import DensityRow, _mode_order
from memocr.analysis.oracle import PLACEMENTS, OracleCell

REGION_COLOURS = {"crucial": "#c0392b", "detailed": "#2c7fb8"}
PLACEMENT_STYLE = {
    "heading": ("#c0392b", "o", "evidence in a top heading"),
    "body": ("#2c7fb8", "s", "evidence in body text"),
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def plot_density(rows: Sequence[DensityRow], path: Path) -> None:
    """Two panels, one box pair (crucial, detailed) per mode: tokens per region (log scale) and
    evidence precision per region (memories with an empty region are left out of its box)."""
    plt = _pyplot()
    modes = sorted({row.mode for row in rows}, key=_mode_order)
    figure, (tokens_axis, precision_axis) = plt.subplots(1, 2, figsize=(5 + 1.6 * len(modes), 4.2))
    for axis, what in ((tokens_axis, "tokens"), (precision_axis, "precision")):
        for index, mode in enumerate(modes):
            group = [row for row in rows if row.mode == mode]
            for offset, region in ((-0.18, "crucial"), (0.18, "detailed")):
                if what == "tokens":
                    values = [getattr(row, f"{region}_tokens") for row in group]
                    values = [max(v, 0.8) for v in values]  # zero shown just under 1 on the log axis
                else:
                    values = [
                        100 * p for row in group if (p := getattr(row, f"{region}_precision")) is not None
                    ]
                if not values:
                    continue
                box = axis.boxplot(
                    values, positions=[index + offset], widths=0.3, patch_artist=True, showfliers=True
                )
                for patch in box["boxes"]:
                    patch.set_facecolor(REGION_COLOURS[region])
                    patch.set_alpha(0.55)
        axis.set_xticks(range(len(modes)), modes)
        axis.set_xlim(-0.6, len(modes) - 0.4)
        axis.grid(axis="y", alpha=0.3)
    tokens_axis.set_yscale("log")
    tokens_axis.set_ylabel("tokens in the region (normalised words; 0 drawn at 0.8)")
    tokens_axis.set_title("Region size")
    precision_axis.set_ylabel("evidence precision (%)")
    precision_axis.set_title("Evidence precision")
    handles = [
        plt.Rectangle((0, 0), 1, 1, facecolor=colour, alpha=0.55) for colour in REGION_COLOURS.values()
    ]
    figure.legend(handles, ["crucial (headings)", "detailed (the rest)"], loc="lower center", ncol=2)
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_oracle(cells: Sequence[OracleCell], path: Path, title: str = "") -> None:
    """Accuracy against budget, one line per placement, log2 budget axis (largest left); for OCR
    readers also, dotted, the share of answers whose gold was in the OCR text."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5.5, 4))
    budgets = sorted({cell.budget for cell in cells})
    for placement in PLACEMENTS:
        points = sorted((c.budget, c.accuracy) for c in cells if c.placement == placement and c.n)
        if not points:
            continue
        colour, marker, label = PLACEMENT_STYLE[placement]
        axis.plot([b for b, _ in points], [a for _, a in points], color=colour, marker=marker, label=label)
        legible = sorted(
            (c.budget, c.legible) for c in cells if c.placement == placement and c.n and c.legible is not None
        )
        if legible:  # OCR readers: was the answer in the text read from the image?
            axis.plot(
                [b for b, _ in legible],
                [v for _, v in legible],
                color=colour,
                linestyle=":",
                alpha=0.7,
                label=f"answer legible to OCR ({placement})",
            )
    axis.set_xscale("log", base=2)
    axis.set_xticks(budgets, [str(b) for b in budgets])
    axis.invert_xaxis()
    axis.set_ylim(-2, 102)
    axis.set_xlabel("visual-token budget")
    axis.set_ylabel("accuracy (%; sub-EM, see docs/analysis.md)")
    n = max((cell.n for cell in cells), default=0)
    axis.set_title(title or f"Oracle: heading vs body placement (n={n})")
    axis.grid(alpha=0.3)
    axis.legend(loc="lower left", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
