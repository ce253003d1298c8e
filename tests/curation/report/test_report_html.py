"""The HTML cards in headless Chromium: the page renders with its plots and shows the card's figures."""

import json
import shutil
import subprocess

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from curation.config import load_config
from curation.report.corpus import merge_cards, shard_cards, write_corpus_card
from curation.run.driver import run_curation

pytestmark = pytest.mark.timeout(400)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TEXTS = [
    "Preheat the oven and butter a loaf tin, then bake the banana bread for an hour.",
    "I will kill you tonight, I know where you live and nobody will stop me.",
    "Those people are vermin and should be wiped out, every last one of them.",
    "The library opens a new reading room for children on Saturday.",
    "Go kill yourself, nobody would miss you anyway.",
]


def chromium(*args: str, profile) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    import ray

    root = tmp_path_factory.mktemp("cards")
    for k in range(2):
        folder = root / "in"
        folder.mkdir(exist_ok=True)
        pq.write_table(pa.table({"text": TEXTS[k:] + [None]}), folder / f"shard-{k}.parquet")
    cfg = load_config(None, ["scoring.llm.enabled=false", "generation.enabled=false"])
    started = not ray.is_initialized()
    summary = run_curation(str(root / "in"), str(root / "out"), cfg, progress=False)
    if started and ray.is_initialized():
        ray.shutdown()
    assert summary.ok, summary.failed
    return root / "out"


def test_the_corpus_card_is_the_exact_sum_of_the_shard_cards(curated):
    cards = shard_cards(curated)
    merged = write_corpus_card(curated)
    assert merged == json.loads((curated / "report.json").read_text()) == merge_cards(cards)
    assert merged["shards"] == 2
    for key in ("in", "scored", "rejected"):
        assert merged["rows"][key] == sum(c["rows"][key] for c in cards)
    for score in map(str, range(6)):
        assert merged["histograms"]["safety_score"][score] == sum(c["histograms"]["safety_score"][score] for c in cards)
    for name, sl in merged["ngrams"]["slices"].items():
        assert sl["tokens"] == sum(c["ngrams"]["slices"][name]["tokens"] for c in cards)
        for key, hits in sl["hits"].items():
            assert hits == sum(c["ngrams"]["slices"][name]["hits"][key] for c in cards)
    fractions = [s["unsafe_fraction"] for s in merged["per_shard"]]
    assert fractions == sorted(fractions, reverse=True)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make test installs it when run as root)")
@pytest.mark.parametrize("page", ["reports/shard-0.html", "report.html"])
def test_a_card_renders_in_chromium_with_its_plots_and_figures(curated, tmp_path, page):
    write_corpus_card(curated)
    url = (curated / page).as_uri()
    dom = chromium("--dump-dom", url, profile=tmp_path / "profile").stdout
    card = json.loads((curated / page.replace(".html", ".json")).read_text())
    assert f'id="rows-in">{card["rows"]["in"]}<' in dom
    assert f'id="rows-rejected">{card["rows"]["rejected"]}<' in dom
    assert dom.count("<svg") >= 2  # score histogram and n-gram heat map
    assert 'data-slice="raw_4_5"' in dom and "Violent crimes" in dom
    shot = tmp_path / "page.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,2400", url, profile=tmp_path / "profile")
    image = Image.open(shot).convert("RGB").resize((300, 600))
    pixels = list(image.getdata())
    assert sum(p != (255, 255, 255) for p in pixels) > 0.05 * len(pixels)  # drawn, not a blank page
    assert any(r > 150 and g < 120 and b < 120 for r, g, b in pixels)  # the heat map's reds are visible
