"""`safecurate check`: a GPU profile is placed on the nodes it names, or refused in one line naming the stage."""

from pathlib import Path

from typer.testing import CliRunner

from curation.cli import app

GPU = str(Path(__file__).parents[3] / "cluster" / "gpu.yaml")
NODE = ["--node", "cpus=8,gpus=1"]
runner = CliRunner()


def check(*args: str):
    return runner.invoke(app, ["check", "--config", GPU, *args])


def test_the_gpu_profile_fits_three_one_gpu_nodes_and_not_one():
    assert check(*NODE * 3).exit_code == 0
    one = check(*NODE)
    assert one.exit_code == 2 and "do not fit together" in one.output


def test_tensor_parallelism_must_match_the_gpus_an_llm_actor_reserves():
    result = check("--set", "scoring.llm.tensor_parallel_size=2", *NODE * 3)
    assert result.exit_code == 2 and "stage llm" in result.output and len(result.output.strip().splitlines()) == 1


def test_two_half_gpu_encoders_an_llm_and_a_generator_do_not_share_one_gpu_node():
    result = check("--set", "resources.embed.actors=2", "--set", "resources.embed.num_gpus=0.5", *NODE)
    assert result.exit_code == 2 and "needs 3 GPUs" in result.output


def test_a_second_engine_in_the_generator_actor_must_fit_the_gpus_memory():
    result = check("--set", "generation.model=/models/other", *NODE * 3)
    assert result.exit_code == 2 and "stage generate" in result.output and "two vLLM engines" in result.output
    halves = check("--set", "generation.model=/models/other", "--set", "scoring.llm.gpu_memory_utilization=0.45",
                   *NODE * 3)
    assert halves.exit_code == 0


def test_an_actor_bigger_than_every_node_is_named():
    result = check("--set", "resources.llm.num_cpus=16", *NODE * 3)
    assert result.exit_code == 2 and "stage llm: one actor needs 16 CPUs" in result.output
