"""`safecurate plan`: the cost of a corpus from measured throughput and a config profile."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from curation.cli import app
from curation.config import load_config
from curation.tools.cost import estimate

GPU_PROFILE = Path(__file__).parents[3] / "cluster" / "gpu.yaml"
runner = CliRunner()


def measured(device: str = "cpu", embed_rate: float = 50.0) -> dict:
    """A throughput file as `benchmarks/throughput.py` writes it: 2 CPUs per worker, or 1 GPU on `cuda`."""
    gpus = 1 if device == "cuda" else 0

    def stage(rate: float) -> dict:
        return {"docs_per_s": rate, "tokens_per_s": rate * 300, "device": device, "cpus": 2, "gpus": gpus}

    return {"machine": {"cpus": 2, "cuda": "NVIDIA H100 80GB HBM3" if gpus else None},
            "corpus": {"documents": 400, "tokens": 120_000, "tokens_per_document": 300.0},
            "routes": {"keep": 0.6, "rephrase": 0.25, "refuse": 0.15},
            "stages": {"embed": stage(embed_rate), "llm": stage(1.0), "safeweb": stage(0.05),
                       "refuseweb": stage(0.1), "moral_education": stage(0.08)}}


def by_stage(result: dict) -> dict:
    return {row["stage"]: row for row in result["stages"]}


def test_hours_scale_linearly_with_tokens():
    small, big = estimate(measured(), load_config(), 1e9), estimate(measured(), load_config(), 3e9)
    for stage, row in by_stage(small).items():
        assert by_stage(big)[stage]["worker_hours"] == pytest.approx(3 * row["worker_hours"])
    assert big["totals"]["core-hours"] == pytest.approx(3 * small["totals"]["core-hours"])


def test_doubling_docs_per_s_halves_the_hours():
    slow = by_stage(estimate(measured(embed_rate=50.0), load_config(), 1e9))["embed"]
    fast = by_stage(estimate(measured(embed_rate=100.0), load_config(), 1e9))["embed"]
    assert fast["worker_hours"] == pytest.approx(slow["worker_hours"] / 2)
    assert slow["worker_hours"] == pytest.approx(1e9 / 300 / 50 / 3600)


def test_generation_stages_see_their_route_fraction():
    rows = by_stage(estimate(measured(), load_config(None, ["scoring.llm.enabled=true",
                                                           "generation.moral_education=true"]), 3e9))
    everyone = 3e9 / 300
    assert rows["embed"]["documents"] == rows["llm"]["documents"] == pytest.approx(everyone)
    assert rows["safeweb"]["documents"] == pytest.approx(0.25 * everyone)
    assert rows["refuseweb"]["documents"] == rows["moral_education"]["documents"] == pytest.approx(0.15 * everyone)


def test_moral_education_is_costed_only_when_the_profile_turns_it_on():
    result = estimate(measured(), load_config(), 1e9)  # the CPU default: Moral Education off
    assert "moral_education" not in by_stage(result) and "safeweb" in by_stage(result)
    assert "llm, moral_education: turned off in the profile, not costed" in result["notes"]


def test_profile_with_generation_off_drops_the_generator_stages():
    result = estimate(measured(), load_config(None, ["generation.enabled=false", "scoring.llm.enabled=false"]), 1e9)
    assert list(by_stage(result)) == ["embed"]
    assert "llm, safeweb, refuseweb, moral_education: turned off in the profile, not costed" in result["notes"]


def test_gpu_measurement_gives_gpu_hours_at_the_profiles_share():
    result = estimate(measured("cuda"), load_config(GPU_PROFILE), 100e9)
    rows = by_stage(result)
    assert rows["embed"]["unit"] == "GPU-hours"
    assert rows["embed"]["resource_hours"] == pytest.approx(0.25 * rows["embed"]["worker_hours"])  # encoder: 0.25 GPU
    assert rows["llm"]["resource_hours"] == pytest.approx(rows["llm"]["worker_hours"])
    assert "core-hours" not in result["totals"]
    assert not any("device differs" in note for note in result["notes"])
    assert result["reference"]["gpu_hours"] == pytest.approx(40.0) and result["reference"]["comparable"]


def test_cpu_measurement_gives_core_hours_and_says_the_device_differs():
    result = estimate(measured("cpu"), load_config(GPU_PROFILE), 1e9)
    rows = by_stage(result)
    assert {row["unit"] for row in rows.values()} == {"core-hours"}
    assert rows["embed"]["resource_hours"] == pytest.approx(2 * rows["embed"]["worker_hours"])
    assert any(note.startswith("device differs: embed, llm") for note in result["notes"])
    assert not result["reference"]["comparable"]


def test_missing_stage_is_listed_as_not_measured():
    throughput = measured()
    del throughput["stages"]["llm"]
    result = estimate(throughput, load_config(None, ["scoring.llm.enabled=true"]), 1e9)
    assert by_stage(result)["llm"]["worker_hours"] is None
    assert result["totals"]["worker_hours"] == pytest.approx(
        sum(r["worker_hours"] for r in result["stages"] if r["stage"] != "llm"))
    assert "llm: not measured in the throughput file, not costed" in result["notes"]


def test_cli_without_a_throughput_file_is_one_error_line_and_exit_2(tmp_path):
    result = runner.invoke(app, ["plan", "--tokens", "600e9", "--throughput", str(tmp_path / "none.json")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: throughput file") and "not found" in lines[0]


def test_cli_with_a_malformed_throughput_file_exits_2(tmp_path):
    path = tmp_path / "throughput.json"
    path.write_text(json.dumps({"corpus": {}, "stages": {}}))
    result = runner.invoke(app, ["plan", "--tokens", "1e9", "--throughput", str(path)])
    assert result.exit_code == 2
    assert "corpus.tokens_per_document" in result.output and "Traceback" not in result.output


def test_cli_prints_the_table_and_writes_json(tmp_path):
    path = tmp_path / "throughput.json"
    path.write_text(json.dumps(measured("cpu")))
    out = tmp_path / "plans" / "plan.json"
    result = runner.invoke(app, ["plan", "--tokens", "600e9", "--profile", str(GPU_PROFILE), "--throughput",
                                 str(path), "--json", str(out)])
    assert result.exit_code == 0, result.output
    for text in ("moral_education", "core-hours", "total", "device differs", "FineWeb-Edu", "240 GPU-hours"):
        assert text in result.output
    written = json.loads(out.read_text())
    assert written["tokens"] == 600e9 and len(written["stages"]) == 5
