"""The corpus card as `safecurate report` prints it: a table of shards, and the harmful n-gram rates."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def print_summary(card: dict, console: Console) -> None:
    """One row per shard and a total; then hits per million tokens per category and slice, when counted."""
    table = Table(title=f"{card['shards']} shards, {card['tokens']} tokens, "
                        f"{100 * card['unsafe_fraction']:.1f}% of scored rows score 4-5")
    for column in ("shard", "rows in", "scored", "rejected", "unsafe", "keep", "rephrase", "refuse"):
        table.add_column(column, justify="left" if column == "shard" else "right", no_wrap=column == "shard")
    for s in card["per_shard"]:
        table.add_row(s["shard"], *(str(s[k]) for k in ("rows_in", "scored", "rejected")),
                      f"{100 * s['unsafe_fraction']:.1f}%", *(str(s[k]) for k in ("keep", "rephrase", "refuse")))
    rows = card["rows"]
    table.add_row("total", *(str(rows.get(k, 0)) for k in ("in", "scored", "rejected")),
                  f"{100 * card['unsafe_fraction']:.1f}%", *(str(card["routes"][k]) for k in ("keep", "rephrase",
                                                                                              "refuse")), style="bold")
    console.print(table)
    if card["ngrams"]:
        rates = Table(title="harmful n-gram hits per million tokens")
        rates.add_column("category", no_wrap=True)
        slices = list(card["ngrams"]["slices"])
        for name in slices:
            rates.add_column(name, justify="right")
        for key, label in card["ngrams"]["categories"].items():
            rates.add_row(label, *(f"{card['ngrams']['slices'][n]['per_million'].get(key, 0):.0f}" for n in slices))
        console.print(rates)
