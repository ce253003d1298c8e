"""The GPU benchmark's configs: cluster/gpu.yaml's engine settings and reservations, placeable on one GPU."""

from benchmarks.throughput import GENERATION_RUN, PROFILE, bench_config, report
from curation.config import load_config
from curation.schema import GENERATION_KINDS
from curation.tools.check import Node, check_placement


def test_the_gpu_benchmark_keeps_the_profiles_engine_settings_and_fits_one_gpu():
    profile = load_config(PROFILE)
    for run in (["scoring.llm.enabled=true"], ["generation.enabled=true"]):
        cfg = bench_config(True, *run)
        assert cfg.scoring.llm.dtype == profile.scoring.llm.dtype == "bfloat16"
        assert cfg.scoring.llm.gpu_memory_utilization == profile.scoring.llm.gpu_memory_utilization
        res = cfg.resources
        assert res.embed.num_gpus == profile.resources.embed.num_gpus and res.llm.batch_size == 256
        assert res.llm.num_gpus > 0 and res.generate.num_gpus > 0  # the scorer and the generators reserve GPU
        assert check_placement(cfg, [Node(16, [1.0])]).startswith("ok")  # one GPU holds the encoder and an engine
    cpu = bench_config(False, "scoring.llm.enabled=true")
    assert cpu.scoring.llm.dtype == "auto" and cpu.resources.llm.num_gpus == 0  # the CPU default, as curate runs


def test_only_stages_that_reserve_a_gpu_are_labelled_cuda():
    stages = ("validation", "ngrams", "embed", "llm", "safeweb")
    figures = {"bare": {"docs_per_s": 2.0}, "pipeline": {"docs_per_s": 1.0}}
    scaling = {"shards": [{"rows": 10, "tokens": 1000}]}
    for gpu, expected in ((True, ["cpu", "cpu", "cuda", "cuda", "cuda"]), (False, ["cpu"] * 5)):
        measured = report(gpu, bench_config(gpu), dict.fromkeys(stages, figures), scaling, {}, 1.0)["stages"]
        assert [measured[name]["device"] for name in stages] == expected


def test_every_generator_is_measured_whatever_the_default_runs():
    for gpu in (False, True):
        assert bench_config(gpu, *GENERATION_RUN).generation.kinds == GENERATION_KINDS
