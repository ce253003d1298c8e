"""The report card as a self-contained HTML page: tables from the card's JSON, plots inlined as SVG."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

SCORES = [str(s) for s in range(6)]
TEMPLATES = Path(__file__).parent / "templates"


def _svg(fig) -> str:
    """A matplotlib figure as an inline <svg> element (no file, no script)."""
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})  # same card, same bytes
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # text stays text (searchable, small); fixed element ids
    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "svg.hashsalt": "safecurate"})
    return plt


def histogram_plot(histograms: dict[str, dict[str, int]], title: str) -> str:
    """Grouped bars: one group per score 0-5, one bar per histogram."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 2.6))
    width = 0.8 / max(1, len(histograms))
    for k, (name, hist) in enumerate(histograms.items()):
        ax.bar([i + k * width for i in range(6)], [hist.get(s, 0) for s in SCORES], width, label=name)
    ax.set_xticks([i + width * (len(histograms) - 1) / 2 for i in range(6)], SCORES)
    ax.set_xlabel("safety score (0 safe - 5 highly unsafe)")
    ax.set_ylabel("rows")
    ax.set_title(title)
    ax.legend(frameon=False)
    return _svg(fig)


def heatmap_plot(ngrams: dict) -> str:
    """Slices x categories, coloured by harmful n-gram hits per million tokens, each cell annotated."""
    plt = _pyplot()
    slices = list(ngrams["slices"])
    keys = list(ngrams["categories"])
    values = [[ngrams["slices"][s]["per_million"][k] for k in keys] for s in slices]
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(slices) + 2))
    image = ax.imshow(values, cmap="Reds", aspect="auto")
    ax.set_xticks(range(len(keys)), [ngrams["categories"][k] for k in keys], rotation=40, ha="right")
    ax.set_yticks(range(len(slices)), slices)
    top = max((v for row in values for v in row), default=0) or 1
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=7,
                    color="white" if value > top / 2 else "black")
    fig.colorbar(image, ax=ax, label="hits per million tokens")
    ax.set_title("Harmful n-gram rates by slice")
    return _svg(fig)


@lru_cache(maxsize=1)
def _environment():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                       trim_blocks=True, lstrip_blocks=True)


def card_html(card: dict) -> str:
    """reports/S.html: the shard's card as one page that needs nothing but a browser."""
    plots = {"scores": histogram_plot(card["histograms"], "Score histograms")}
    generation = card.get("generation") or {}
    stages = [k for k, v in generation.items() if isinstance(v, dict) and "routed" in v]
    if stages:
        plots["generation"] = histogram_plot(
            {f"{s} {which}": generation[s][f"{which}_scores"] for s in stages for which in ("source", "generated")
             if generation[s]["written"]}, "Sources vs generated texts")
    if card.get("ngrams"):
        plots["ngrams"] = heatmap_plot(card["ngrams"])
    scored = card["rows"]["scored"] or 1
    unsafe = sum(card["histograms"]["safety_score"][s] for s in ("4", "5"))
    return _environment().get_template("card.html.j2").render(
        card=card, plots=plots, stages=stages, scores=SCORES, unsafe_fraction=unsafe / scored)


def corpus_html(card: dict) -> str:
    """OUT/report.html: the corpus card, with a per-shard table sortable by any column."""
    plots = {"scores": histogram_plot(card["histograms"], "Score histograms, all shards")} if card["histograms"] else {}
    if card.get("ngrams"):
        plots["ngrams"] = heatmap_plot(card["ngrams"])
    return _environment().get_template("corpus.html.j2").render(card=card, plots=plots, scores=SCORES)
