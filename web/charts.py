"""The dashboard's charts: pygal SVG for inline use under the strict CSP, and the stylesheet pygal writes for them.

pygal puts its CSS (and a config script) inside the SVG. Inline in a page those would be an inline <style> and
<script>, which the CSP forbids, so each chart is rendered with a fixed id (`chart-<name>`), the <style> and
<script> elements are taken out of the tree, and the CSS pygal generated for those ids is served as
web/static/charts.css (`python -m web.charts` rewrites it; a test checks it is current). js=[] keeps pygal's
tooltip script (a third-party URL) out, and the style uses the page's system fonts, so no web font is asked for.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import pygal
from markupsafe import Markup
from pygal.style import Style

from web.rendering import STATIC

# pygal adds a legacy import hook for its map plugins (find_module only, Kozea/pygal#532) that turns every failed
# import into an ImportWarning on Python 3.10+; the dashboard uses no maps, so it is taken out again.
sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, pygal.PluginImportFixer)]

STYLESHEET = STATIC / "charts.css"
WIDTH, HEIGHT = 420, 300  # viewBox units; the SVG scales to its box (390 px phones up to desktop)
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
# The site's ink on white; series colours have at least 3:1 contrast with white (WCAG 1.4.11).
STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1b1b1b",
    foreground_strong="#1b1b1b",
    foreground_subtle="#5c5c5c",
    guide_stroke_color="#8c8c8c",
    major_guide_stroke_color="#5c5c5c",
    font_family=FONT,
    label_font_size=14,
    major_label_font_size=14,
    legend_font_size=14,
    value_font_size=14,
    tooltip_font_size=14,
    title_font_size=16,
    no_data_font_size=20,
    opacity=".9",
    opacity_hover="1",
    colors=("#0b5394", "#1e6b34", "#b00020", "#8a5a00", "#6a1b9a"),
)
DASHED = {"dasharray": "6, 4", "width": 3}
SOLID = {"width": 3}


@dataclass(frozen=True)
class ChartKind:
    """One of the dashboard's charts: the pygal class, its series (in order) and which series are dashed."""

    graph: type[Any]
    series: tuple[str, ...]
    dashed: tuple[int, ...] = ()
    stacked: bool = False
    options: tuple[tuple[str, Any], ...] = ()


CHARTS = {
    "performance": ChartKind(
        pygal.Line,
        ("Recovery started", "Recovery converted", "Recall started", "Recall converted"),
        dashed=(1, 3),
        options=(("dots_size", 3),),
    ),
    "appointments": ChartKind(pygal.StackedBar, ("Booked", "Completed", "Cancelled", "No-show"), stacked=True),
    "breakdown": ChartKind(pygal.HorizontalBar, ("Campaigns",), options=(("show_legend", False),)),
}


def count_ticks(top: int) -> list[int]:
    """Whole-number axis ticks from 0 up to `top` or just past it, on a 1-2-5 step (at most 6 of them)."""
    step = 1
    while top > 5 * step:
        step = step * 5 // 2 if str(step).startswith("2") else step * 2
    last = -(-max(top, 1) // step) * step
    return list(range(0, last + step, step))


def _chart(name: str, labels: Sequence[str], values: Sequence[Sequence[int]]) -> Any:
    """The pygal chart `name` over these x labels, one value list per series."""
    kind = CHARTS[name]
    chart = kind.graph(
        style=STYLE,
        js=[],
        width=WIDTH,
        height=HEIGHT,
        margin=12,
        legend_at_bottom=True,
        legend_at_bottom_columns=2,
        truncate_legend=-1,
        truncate_label=-1,
        min_scale=1,
        max_scale=6,
        disable_xml_declaration=True,
        value_formatter=lambda value: f"{value:,.0f}",
        **dict(kind.options),
    )
    chart.uuid = name  # the SVG's id is chart-<name>, which charts.css is written for
    chart.x_labels = list(labels)
    tops = (
        [sum(column) for column in zip(*values, strict=True)] if kind.stacked else [max(p, default=0) for p in values]
    )
    chart.y_labels = count_ticks(max(tops, default=0))
    for index, (title, points) in enumerate(zip(kind.series, values, strict=True)):
        stroke = DASHED if index in kind.dashed else SOLID
        chart.add(title, list(points), stroke_style=stroke if kind.graph is pygal.Line else None)
    return chart


def _tree(name: str, labels: Sequence[str], values: Sequence[Sequence[int]]) -> tuple[ElementTree.Element, str]:
    """The chart's SVG tree without its <style>, <script>, comments and script-only tooltips, and the CSS it had."""
    root: ElementTree.Element = _chart(name, labels, values).render_tree()
    css = ""
    for parent in root.iter():
        for child in list(parent):
            if child.tag == "style":
                css += child.text or ""
            # The tooltip layer and the <desc> data it is filled from are only used by pygal's script (the layer
            # also carries a style attribute); the numbers are in the table beside the chart.
            dropped = ("style", "script", "desc", ElementTree.Comment)
            if child.tag in dropped or "tooltip-overlay" in child.get("class", ""):
                parent.remove(child)
    return root, css


def chart_svg(name: str, label: str, labels: Sequence[str], values: Sequence[Sequence[int]]) -> Markup:
    """The chart as inline SVG: an image named `label` (its numbers are in the table beside it)."""
    root, _ = _tree(name, labels, values)
    root.set("role", "img")
    root.set("aria-label", label)
    for title in root.findall("title"):  # the SVG's own title; nested ones are the points' tooltips
        title.text = label
    # Built by pygal from our own labels and numbers; ElementTree escapes every text and attribute.
    return Markup(ElementTree.tostring(root, encoding="unicode"))  # noqa: S704


def stylesheet() -> str:
    """The CSS pygal writes for every chart of CHARTS (what web/static/charts.css must hold)."""
    parts = ["/* Generated by `python -m web.charts` from pygal's CSS for the dashboard's charts. Do not edit. */"]
    for name, kind in CHARTS.items():
        _, css = _tree(name, ["-"], [[0] for _ in kind.series])
        parts.append(css.strip())
    return "\n".join(parts) + "\n"


def main() -> None:
    """Rewrite web/static/charts.css."""
    STYLESHEET.write_text(stylesheet(), encoding="utf-8")


if __name__ == "__main__":
    main()
