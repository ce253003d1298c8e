"""Engine settings resolved for the machine: the auto dtype."""

from curation.models import engine
from curation.models.engine import engine_dtype


def test_auto_dtype_is_bfloat16_on_a_gpu_or_a_cpu_that_multiplies_it_and_float32_elsewhere(monkeypatch):
    monkeypatch.setattr(engine, "cpu_has_bfloat16", lambda: False)
    assert engine_dtype("auto", on_cpu=True) == "float32"
    assert engine_dtype("auto", on_cpu=False) == "bfloat16"
    monkeypatch.setattr(engine, "cpu_has_bfloat16", lambda: True)
    assert engine_dtype("auto", on_cpu=True) == "bfloat16"
    assert engine_dtype("float32", on_cpu=True) == "float32" and engine_dtype("float16", on_cpu=False) == "float16"


def test_the_cpu_check_reads_the_processor_flags(monkeypatch, tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("flags\t\t: fpu avx2 avx512f\n")
    monkeypatch.setattr(engine, "Path", lambda _: info)
    assert not engine.cpu_has_bfloat16()
    info.write_text("flags\t\t: fpu avx2 avx512f amx_bf16 amx_tile\n")
    assert engine.cpu_has_bfloat16()
