"""The cluster files: the launcher config passes Ray's own validation, the RayJob and GPU profile hold up."""

import shlex
from pathlib import Path

import pytest
import yaml

from cluster.submit import curate_entrypoint
from curation.config import load_config

CLUSTER = Path(__file__).parents[2] / "cluster"


def test_the_cluster_launcher_config_passes_rays_validation_and_a_typo_does_not():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((CLUSTER / "cluster.yaml").read_text())
    validate_config(prepare_config(config))
    assert config["docker"]["image"] == image_of_dockerfile_build()  # every node runs the project's image
    config["available_node_types"]["gpu_worker"]["min_workerz"] = 1
    with pytest.raises(Exception, match="min_workerz"):
        validate_config(prepare_config(config))


def image_of_dockerfile_build() -> str:
    """The image name the cluster files use (cluster/Dockerfile's build comment)."""
    build = next(line for line in (CLUSTER / "Dockerfile").read_text().splitlines() if "docker build" in line)
    return build.split("-t ")[1].split()[0]


def test_the_image_starts_from_rays_gpu_image_of_the_pinned_ray_and_python_3_11():
    import ray

    base = next(line.split()[1] for line in (CLUSTER / "Dockerfile").read_text().splitlines()
                if line.startswith("FROM "))
    assert base == f"rayproject/ray:{ray.__version__}-py311-gpu"
    job = yaml.safe_load((CLUSTER / "rayjob.yaml").read_text())
    containers = [job["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0],
                  job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]]
    assert {c["image"] for c in containers} == {image_of_dockerfile_build()}


def test_the_encoder_follows_its_reservation_onto_the_gpu():
    from curation.models.encoder import torch_device

    cfg = load_config(CLUSTER / "gpu.yaml")
    assert cfg.scoring.embed.device == "auto"  # cuda inside an actor that reserves a GPU
    assert torch_device("auto") in ("cpu", "cuda") and torch_device("cuda:1") == "cuda:1"


def test_the_gpu_profile_is_a_valid_config_with_an_engine_per_gpu_and_a_shared_encoder():
    cfg = load_config(CLUSTER / "gpu.yaml")
    assert cfg.resources.llm.num_gpus == 1 and cfg.resources.generate.num_gpus == 1
    assert 0 < cfg.resources.embed.num_gpus < 1
    assert isinstance(cfg.resources.llm.actors, tuple)  # autoscaling pool
    assert cfg.ray.address == "auto"


def test_the_rayjob_runs_the_curate_verb_on_its_cluster_with_gpu_workers():
    import ray

    job = yaml.safe_load((CLUSTER / "rayjob.yaml").read_text())
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    words = shlex.split(job["spec"]["entrypoint"])
    assert words[:4] == ["python", "-m", "curation.cli", "curate"] and "auto" in words
    assert (CLUSTER.parent / words[words.index("--config") + 1]).is_file()
    assert isinstance(yaml.safe_load(job["spec"]["runtimeEnvYAML"]), dict)
    spec = job["spec"]["rayClusterSpec"]
    assert spec["rayVersion"] == ray.__version__
    worker = spec["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_the_job_command_line_keeps_globs_and_overrides_intact():
    line = curate_entrypoint("/data/web/*.parquet", "/data/out dir", "cluster/gpu.yaml", ["routing.keep_max=1"])
    assert shlex.split(line) == ["python", "-m", "curation.cli", "curate", "--shards", "/data/web/*.parquet", "--out",
                                 "/data/out dir", "--address", "auto", "--no-progress", "--config", "cluster/gpu.yaml",
                                 "--set", "routing.keep_max=1"]


def test_submit_refuses_a_config_the_job_cannot_carry(tmp_path):
    from typer.testing import CliRunner

    from curation.cli import app

    outside = tmp_path / "mine.yaml"
    outside.write_text("seed: 3\n")
    result = CliRunner().invoke(app, ["submit", "--shards", "/data/*.parquet", "--out", "/data/out",
                                      "--address", "http://127.0.0.1:1", "--config", str(outside)])
    assert result.exit_code == 2 and "outside the project folder" in result.output
