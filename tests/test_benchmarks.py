"""benchmarks/train_throughput.py: a tiny CPU run's JSON, and the choice of the several-models setup."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _script(name):
    """A script of benchmarks/ as a module (they are not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def throughput():
    return _script("train_throughput")


def test_quick_run_writes_consistent_ratios(throughput, tmp_path):
    out = tmp_path / "tp.json"
    assert throughput.main(["--quick", "--models", "2", "--steps", "2", "--model", "resnet8", "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["complete"] is True and d["errors"] == {} and d["device_type"] == "cpu" and d["fused_models"] == 2
    res = d["results"]
    ref = res["reference (0 workers)"]["seconds_per_cifar10lt_epoch"]
    # every ratio is the reference's seconds per (model-)epoch over the setup's
    assert d["speedup_vs_reference"] == pytest.approx(ref / res["fast (1 model)"]["seconds_per_cifar10lt_epoch"])
    assert d["fused_speedup_vs_reference"] == pytest.approx(ref / res["fused (2 models)"]["seconds_per_cifar10lt_epoch"])
    # only the kept setups ran: the streams, channels and NHWC engines were removed (issue 12)
    assert set(res) == {"reference (0 workers)", "fast (1 model)", "fused (2 models)"}
    fused = res["fused (2 models)"]
    # per model: a step trains 2 models, so an epoch per model is half the step time x steps
    assert fused["seconds_per_cifar10lt_epoch"] == pytest.approx(fused["seconds_per_step"] * math.ceil(12406 / 32) / 2)
    assert fused["images_per_second"] == pytest.approx(32 * 2 / fused["seconds_per_step"])
    # the CUDA-only variants did not run on the CPU, and the CPU never recommends a GPU setting
    assert d["fused_fp32_speedup_vs_reference"] is None
    assert d["recommended"]["setup"] == "fused_speedup_vs_reference" and d["recommended"]["precision"] == "auto"
    assert d["targets_met"] == {"speedup_vs_reference": None, "several_models_speedup_vs_reference": None}


@pytest.mark.parametrize("speedups, device_type, want", [
    # nothing measured, or a CPU run: the default
    ({}, "cuda", "auto"),
    ({"fused_speedup_vs_reference": 5.0, "fused_fp32_speedup_vs_reference": 9.0}, "cpu", "auto"),
    # fp32 within 5 % of the bf16 fused setup does not flip the setting
    ({"fused_speedup_vs_reference": 11.3, "fused_fp32_speedup_vs_reference": 11.8}, "cuda", "auto"),
    ({"fused_speedup_vs_reference": 11.3, "fused_fp32_speedup_vs_reference": 12.0}, "cuda", "fp32"),
    # the plain fused setup failed: fp32, with no margin to beat
    ({"fused_speedup_vs_reference": None, "fused_fp32_speedup_vs_reference": 7.0}, "cuda", "fp32"),
])
def test_recommend_picks_the_fastest_setup(throughput, speedups, device_type, want):
    got = throughput.recommend(speedups, device_type)
    assert got["precision"] == want
    if device_type == "cuda" and any(v is not None for v in speedups.values()):
        assert got["speedup_vs_reference"] == speedups[got["setup"]]


@pytest.fixture(scope="module")
def profiler_script():
    return _script("profile_fused_step")


@pytest.mark.parametrize("name, group", [
    ("aten::cudnn_convolution", "conv forward"),
    ("aten::mkldnn_convolution", "conv forward"),
    ("aten::convolution_backward", "conv backward"),
    ("aten::cudnn_batch_norm_backward", "batch norm"),
    ("aten::native_batch_norm", "batch norm"),
    ("aten::_foreach_add_", "optimizer"),
    ("aten::nll_loss_forward", "loss"),
    ("aten::copy_", "other"),
])
def test_profile_groups_operation_names(profiler_script, name, group):
    assert profiler_script.group_of(name) == group


def test_profile_quick_run_adds_up(profiler_script, tmp_path):
    out = tmp_path / "prof.json"
    assert profiler_script.main(["--quick", "--model", "resnet8", "--models", "2", "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    fused, one = d["results"]["fused (2 models)"], d["results"]["one model"]
    for r in (fused, one):
        # the groups partition the step's time, and no listed operation exceeds it
        assert sum(r["groups_ms_per_step"].values()) == pytest.approx(r["ms_per_step"])
        assert all(0 < op["ms_per_step"] <= r["ms_per_step"] for op in r["top_ops"])
        assert r["wall_ms_per_step_eager"] > 0
    assert d["fused_over_n_single"]["fused (2 models)"] == pytest.approx(fused["ms_per_step"] / (2 * one["ms_per_step"]))
    # all record the same steps: each of ResNet-8's 7 convolutions runs backward once per step
    conv_calls = lambda r: next(o["calls_per_step"] for o in r["top_ops"] if o["op"] == "aten::convolution_backward")
    assert conv_calls(fused) == conv_calls(one) == 7


def test_gpu_check_script_runs_every_step_on_the_cpu(tmp_path):
    """The one GPU run, end to end at tiny sizes on the CPU: every step passes, the settings the
    benchmark recommends reach the reproduction, and $OUT holds at most the 8 files a lent machine returns."""
    import os
    import subprocess
    import sys

    out = tmp_path / "out"
    env = dict(os.environ, OUT=str(out), PYTHON=sys.executable, OMP_NUM_THREADS="1",
               THROUGHPUT_ARGS="--quick --models 2 --model resnet8 --steps 2",
               REPRODUCE_BENCHMARK="digits-lt", REPRODUCE_METHODS="erm,la", REPRODUCE_EPOCHS="1",
               REPRODUCE_ARGS="--model small_cnn --max-train 300 --max-test 200 --batch-size 64",
               PROFILE_ARGS="--quick --model resnet8 --models 2", GPU_CHECK_STEPS="throughput reproduce profile")
    for name in ("REPRODUCE_PRECISION", "THROUGHPUT_SCRIPT"):
        env.pop(name, None)
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == ["gpu_check.log", "reproduce/cpu-reproduce-digits-lt.json", "reproduce/cpu-reproduce-digits-lt.md",
                     "results/cpu-profile_fused_step.json", "results/cpu-train_throughput.json", "summary.txt"]
    summary = (out / "summary.txt").read_text()
    assert [line.split()[0] for line in summary.splitlines() if " rc=" in line] == ["throughput", "reproduce", "profile"]
    log = (out / "gpu_check.log").read_text()
    # a CPU run recommends the defaults, and the reproduction is started with them
    assert "settings for the next steps: reproduce --precision auto" in log
    assert json.loads((out / "reproduce" / "cpu-reproduce-digits-lt.json").read_text())["precision"] == "auto"


@pytest.mark.parametrize("single, speedups, n_models, want", [
    (6.7, {"fused_speedup_vs_reference": 11.3, "fused_fp32_speedup_vs_reference": None}, 8, (True, False)),
    (4.9, {"fused_speedup_vs_reference": 11.3, "fused_fp32_speedup_vs_reference": 15.0}, 8, (False, True)),
    (None, {"fused_speedup_vs_reference": None}, 8, (None, None)),
    (6.0, {"fused_speedup_vs_reference": 20.0}, 4, (True, None)),  # the target is for 8 models at once
])
def test_targets_met_uses_the_fastest_several_models_setup(throughput, single, speedups, n_models, want):
    got = throughput.targets_met(single, speedups, "cuda", n_models)
    assert (got["speedup_vs_reference"], got["several_models_speedup_vs_reference"]) == want


def test_gpu_check_passes_the_recommended_settings_on(tmp_path):
    """A benchmark JSON that recommends non-default settings: they reach the reproduction (the CPU
    benchmark itself always recommends the defaults, so a stub stands in for it)."""
    import os
    import subprocess
    import sys

    stub = tmp_path / "stub_throughput.py"
    stub.write_text(
        "import json, sys\n"
        "out = sys.argv[sys.argv.index('--out') + 1]\n"
        "json.dump({'complete': False, 'recommended': {'precision': 'fp32'}}, open(out, 'w'))\n")
    out = tmp_path / "out"
    env = dict(os.environ, OUT=str(out), PYTHON=sys.executable, OMP_NUM_THREADS="1", THROUGHPUT_SCRIPT=str(stub),
               REPRODUCE_BENCHMARK="digits-lt", REPRODUCE_METHODS="erm", REPRODUCE_EPOCHS="1",
               REPRODUCE_ARGS="--model small_cnn --max-train 300 --max-test 200 --batch-size 64",
               GPU_CHECK_STEPS="throughput reproduce")
    for name in ("REPRODUCE_PRECISION",):
        env.pop(name, None)
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    log = (out / "gpu_check.log").read_text()
    assert "settings for the next steps: reproduce --precision fp32 (measured best: fp32 partial)" in log
    assert json.loads((out / "reproduce" / "cpu-reproduce-digits-lt.json").read_text())["precision"] == "fp32"
