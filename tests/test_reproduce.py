"""ltutorial reproduce: a tiny end-to-end CPU run on digits-lt (seconds), files and table checked."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import ltutorial as lt
from ltutorial import reproduce
from ltutorial.train import compare
from ltutorial.data.prepare import downsample, stratified_subset


def test_stratified_subset_keeps_class_shares():
    labels = torch.repeat_interleave(torch.arange(4), torch.tensor([400, 100, 40, 3]))
    idx = stratified_subset(labels, 100, seed=0)
    counts = torch.bincount(labels[idx], minlength=4).tolist()
    assert counts == [73, 18, 7, 1]  # floor(n_c * 100 / 543), at least one
    assert torch.equal(idx, stratified_subset(labels, 100, seed=0))
    assert not torch.equal(idx, stratified_subset(labels, 100, seed=1))
    assert len(set(idx.tolist())) == len(idx)


def _build(name, counts, **kw):
    """(loss, hooks) of ``reproduce.method_spec``."""
    spec = reproduce.method_spec(name, counts, **kw)
    return spec["loss"], spec["hooks"]


def test_methods_registry_and_hyperparameters():
    counts = torch.tensor([5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50])
    loss, hooks = _build("ldam-drw", counts, reweight_epoch=160)
    assert isinstance(loss, lt.losses.LDAMLoss) and loss.s == 30.0 and loss.max_m == 0.5
    assert isinstance(hooks[0], lt.losses.DeferredReweighting) and hooks[0].start_epoch == 160
    assert reproduce.METHODS["ldam-drw"].model_kwargs == {"normed": True}
    loss, hooks = _build("vs-tla-adrw", counts, reweight_epoch=8)
    assert isinstance(loss, lt.losses.VSLoss) and isinstance(hooks[0], lt.losses.TLAADRW) and hooks[0].t0 == 8
    loss, _ = _build("cb-focal", counts, benchmark="cifar100-lt")
    assert loss.beta == 0.9999 and loss.loss_type == "focal" and loss.gamma == 1.0
    # the benchmark's params override the method's: DDC's CIFAR-100 tuning (sheet section 7)
    loss, (hook,) = _build("vs-tla-adrw", counts, benchmark="cifar100-lt")
    assert (loss.gamma, loss.tau, hook.nu, hook.tau_after) == (0.05, 1.0, 0.25, 0.75)
    loss, (hook,) = _build("vs-tla-adrw", counts)
    assert (loss.gamma, loss.tau, hook.nu, hook.tau_after) == (0.05, 1.0, 0.15, 1.0)
    with pytest.raises(ValueError, match="method 'la-posthoc' trains no model of its own"):
        _build("la-posthoc", counts)
    with pytest.raises(ValueError, match="methods must be"):
        reproduce.RunConfig("digits-lt", "erm,ladm", out=None).check()
    with pytest.raises(ValueError, match="benchmark must be one of"):
        reproduce.RunConfig("cifar10", "erm", out=None).check()


def test_tiny_end_to_end_cpu(tmp_path, capsys):
    status = reproduce.main([
        "digits-lt", "--methods", "erm,la,la-posthoc,ldam-drw,vs-tla-adrw", "--epochs", "2", "--device", "cpu",
        "--model", "small_cnn", "--batch-size", "64", "--max-train", "300", "--out", str(tmp_path),
    ])
    assert status == 0
    out = capsys.readouterr().out
    assert "ldam-drw" in out and "last" in out
    data = json.loads((tmp_path / "cpu-reproduce-digits-lt.json").read_text())
    md = (tmp_path / "cpu-reproduce-digits-lt.md").read_text()
    assert data["epochs"] == 2 and data["device_slug"] == "cpu" and "digits" in data["dataset_source"]
    assert [r["method"] for r in data["rows"]] == ["erm", "la", "la-posthoc", "ldam-drw", "vs-tla-adrw"]
    assert data["reweight_epoch"] == 2  # 160/200 of 2 epochs, rounded
    for row in data["rows"]:
        assert 0 <= row["last"] <= 100 and row["paper"] is None
        assert f"| {row['method']} |" in md
        if row["method"] != "la-posthoc":
            assert row["best"] >= row["last"] - 1e-9 and row["best_epoch"] in (0, 1)
    # post-hoc row = the ERM model's logits minus log priors, scored independently here
    erm = next(r for r in data["rows"] if r["method"] == "erm")
    assert erm["best_epoch"] is not None and data["seconds"] > 0
    assert len(data["train_counts"]) == 10 and sum(data["train_counts"]) == data["n_train"] <= 310


def test_train_methods_specs_hooks_and_downsample():
    train, test = lt.data.load_dataset("digits-lt", seed=0)
    counts = train.class_counts
    ce_w = lt.losses.CrossEntropyLoss(counts, weight=np.ones(10))
    specs = {
        "LA": "la",
        "ERM-DRW": {"loss": ce_w, "hooks": lambda t0: [lt.losses.DeferredReweighting(ce_w, counts, start_epoch=t0)]},
    }
    res = compare.train_methods(specs, train, test, model="small_cnn", model_kwargs={"width": 4}, epochs=3,
                                  device="cpu", seed=0, eval_every=3, progress=False)
    assert list(res) == ["LA", "ERM-DRW"]
    for r in res.values():
        assert 0 <= r.balanced_accuracy <= 1 and r.per_class_accuracy.shape == (10,)
        assert r.balanced_accuracy == pytest.approx(np.nanmean(r.per_class_accuracy))
    # 3 epochs: the re-weighting epoch is round(160/200 * 3) = 2, so DRW is on at the end
    np.testing.assert_allclose(ce_w.weight.numpy(), lt.losses.class_balanced_weights(counts).numpy(), rtol=1e-6)
    assert type(res["LA"].loss) is lt.losses.LogitAdjustedLoss  # VSLoss is a subclass: not enough
    with pytest.raises(ValueError, match="methods"):
        compare.train_methods({"x": 3}, train, test, epochs=1, device="cpu")
    with pytest.raises(ValueError, match="^test must be the dataset"):  # before training, not float(None) after it
        compare.train_methods(["erm"], train, None, epochs=1, device="cpu")

    cifar_like = lt.data.ImageDataset(torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8), torch.tensor([0, 1, 0, 1]))
    small = downsample(cifar_like, 16)
    assert small.images.shape == (4, 3, 16, 16) and small.images.dtype == torch.uint8
    expected = cifar_like.images.float().reshape(4, 3, 16, 2, 16, 2).mean(dim=(3, 5)).round()
    assert torch.equal(small.images.float(), expected)
    assert downsample(cifar_like, 32) is cifar_like


def test_paper_numbers_are_the_sheets_errors_as_accuracy():
    """Each paper cell is 100 - the error (%) the reference sheet lists, or an accuracy it lists."""
    sheet_error = {  # deep_lt.md: LDAM table (C10/C100 LT-100), LA Table 2 (tau = 1)
        ("cifar10-lt", "erm"): 29.64, ("cifar10-lt", "focal"): 29.62, ("cifar10-lt", "cb-focal"): 25.43,
        ("cifar10-lt", "ldam-drw"): 22.97, ("cifar10-lt", "la"): 22.33, ("cifar10-lt", "la-posthoc"): 22.60,
        ("cifar100-lt", "erm"): 61.68, ("cifar100-lt", "focal"): 61.59, ("cifar100-lt", "cb-focal"): 63.98,
        ("cifar100-lt", "ldam-drw"): 57.96, ("cifar100-lt", "la"): 56.11, ("cifar100-lt", "la-posthoc"): 58.24,
    }
    sheet_accuracy = {  # VS paper (secondary) and the DDC README's standard 200-epoch setting
        ("cifar10-lt", "vs"): 80.82, ("cifar10-lt", "vs-tla-adrw"): 80.81,
        ("cifar100-lt", "vs"): 43.52, ("cifar100-lt", "vs-tla-adrw"): 43.20,
    }
    expected = {**{k: 100 - v for k, v in sheet_error.items()}, **sheet_accuracy}
    got = {(b, m): v[0] for b in ("cifar10-lt", "cifar100-lt") for m, v in reproduce.BENCHMARKS[b]["paper"].items()}
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-9), key


def test_markdown_table_lists_paper_sources_and_gap_notes():
    row = {"method": "ldam-drw", "label": "x", "params": {}, "last": 76.5, "best": 77.1, "best_epoch": 190,
           "many": 85.0, "medium": 60.0, "few": float("nan"), "paper": 77.03,
           "paper_source": reproduce.BENCHMARKS["cifar10-lt"]["paper"]["ldam-drw"][1],
           "gap_note": reproduce.GAP_NOTES["ldam-drw"], "diff": 76.5 - 77.03, "seconds": 1.0}
    result = {"benchmark": "cifar10-lt", "device": "NVIDIA H200", "dataset": "cifar10-lt",
              "dataset_source": "ImageFolder JPEG copy", "n_train": 12406, "train_counts": [5000, 50],
              "n_test": 10000, "model": "resnet32", "recipe": "ldam-drw-cifar", "epochs": 200, "milestones": [160, 180], "reweight_epoch": 160,
              "batch_size": 128, "seed": 0, "seconds": 240.0, "ltutorial_version": "0.1", "torch_version": "2",
              "rows": [row], "notes": ["a note"]}
    md = reproduce._markdown(result)
    assert "| ldam-drw | 76.50 | 77.10 (190) | 85.00 | 60.00 | - | 77.03 | -0.53 |" in md
    assert "22.97% error" in md and "Known differences" in md and "Note: a note" in md
    assert "NVIDIA H200" in md and "JPEG" in md
    assert set(reproduce.GAP_NOTES) == set(reproduce.BENCHMARKS["cifar10-lt"]["paper"])


# ------------------------------------------------------------------ results written while training
TINY = ["digits-lt", "--device", "cpu", "--model", "small_cnn", "--batch-size", "64", "--max-train", "300",
        "--max-test", "200"]


@pytest.fixture
def snapshots(monkeypatch):
    """Every results file written, as the JSON a reader would have seen at that moment."""
    seen = []
    real = reproduce._write_files

    def spy(result, out):
        files = real(result, out)
        seen.append(json.loads(open(files[0]).read()))
        assert open(files[1]).read() == reproduce._markdown(seen[-1])
        return files

    monkeypatch.setattr(reproduce, "_write_files", spy)
    return seen


def _together(monkeypatch, captured, extra_hook=None):
    """Train the methods with fit_many's fused engine (on the CPU its models advance epoch by epoch
    together, as they do on a GPU) and keep the Histories."""
    from ltutorial.train import fit_many

    def engine(models, train, *, loss_fns, hooks=None, **kw):
        if extra_hook is not None:
            hooks = [list(hooks[0]) + [extra_hook]] + list(hooks[1:])
        captured[:] = fit_many(models, train, loss_fns=loss_fns, hooks=hooks, fuse=True, **kw)
        return captured

    monkeypatch.setattr(reproduce, "fit_many", engine)


def test_results_are_written_every_checkpoint_and_eval_every(tmp_path, monkeypatch, snapshots):
    histories = []
    _together(monkeypatch, histories)
    assert reproduce.main(TINY + ["--methods", "erm,la,la-posthoc", "--epochs", "4", "--eval-every", "2",
                                  "--checkpoint-every", "1", "--out", str(tmp_path)]) == 0
    partial, final = snapshots[:-1], snapshots[-1]
    assert [s["epochs_reached"] for s in partial] == [1, 2, 3] and not any(s["complete"] for s in partial)
    assert final["complete"] is True and final["epochs_reached"] == 4 and final["eval_every"] == 2
    assert final["engine"] == "fused2-eager"
    assert json.loads((tmp_path / "cpu-reproduce-digits-lt.json").read_text()) == final
    erm, la = histories
    # evaluated epochs: 1 and 3 (every 2nd, and the last); a snapshot shows the latest evaluation so far
    assert [math.isnan(v) for v in erm.test_balanced_accuracy] == [True, False, True, False]
    for snap in partial:
        rows = {r["method"]: r for r in snap["rows"]}
        k = snap["epochs_reached"]
        assert rows["erm"]["epochs_done"] == rows["la"]["epochs_done"] == k
        if k < 2:
            assert rows["erm"]["last"] is None and rows["erm"]["best"] is None
        else:
            assert rows["erm"]["last"] == pytest.approx(100 * erm.test_balanced_accuracy[1])
            assert rows["la"]["best_epoch"] == 1 and rows["la"]["many"] is not None
        assert rows["la-posthoc"]["last"] is None  # needs the model's logits: final table only
        assert "PARTIAL" in snap["notes"][-1]
    md = (tmp_path / "cpu-reproduce-digits-lt.md").read_text()
    assert "PARTIAL" not in md and "evaluated every 2 epochs" in md
    rows = {r["method"]: r for r in final["rows"]}
    assert rows["erm"]["best_epoch"] in (1, 3)  # best over the evaluated epochs only
    best = max(erm.test_balanced_accuracy[1], erm.test_balanced_accuracy[3])
    assert rows["erm"]["best"] == pytest.approx(100 * best)
    assert rows["erm"]["last"] == pytest.approx(100 * erm.test_balanced_accuracy[3])


def test_an_interrupted_run_leaves_partial_results(tmp_path, monkeypatch, snapshots):
    def stop(state):
        if state.epoch == 2:
            raise KeyboardInterrupt  # what `timeout -s INT` does to the reproduction

    _together(monkeypatch, [], extra_hook=stop)
    with pytest.raises(KeyboardInterrupt):
        reproduce.main(TINY + ["--methods", "erm,ldam-drw", "--epochs", "5", "--eval-every", "1", "--out", str(tmp_path)])
    assert len(snapshots) == 1  # no checkpoint before epoch 10: only the interruption wrote
    data = json.loads((tmp_path / "cpu-reproduce-digits-lt.json").read_text())
    assert data["complete"] is False and data["epochs_reached"] == 2
    assert "interrupted by KeyboardInterrupt" in data["notes"][-1]
    assert all(0 <= r["last"] <= 100 and r["best_epoch"] in (0, 1) for r in data["rows"])
    assert "PARTIAL RESULTS" in (tmp_path / "cpu-reproduce-digits-lt.md").read_text()


def test_an_interruption_before_the_first_evaluation_writes_empty_rows(tmp_path, monkeypatch, snapshots):
    """The default --eval-every 5: stopped after 2 epochs, no model has a test number yet."""
    def stop(state):
        if state.epoch == 2:
            raise KeyboardInterrupt

    _together(monkeypatch, [], extra_hook=stop)
    with pytest.raises(KeyboardInterrupt):
        reproduce.main(TINY + ["--methods", "erm,la", "--epochs", "6", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "cpu-reproduce-digits-lt.json").read_text())
    assert data["eval_every"] == 5 and data["complete"] is False and data["epochs_reached"] == 2
    assert all(r["last"] is None and r["best"] is None and r["diff"] is None for r in data["rows"])
    table = (tmp_path / "cpu-reproduce-digits-lt.md").read_text()
    assert "| erm | - |" in table


def test_checkpoints_when_models_train_one_after_another(tmp_path, snapshots):
    """The CPU default (fit per model): a checkpoint while the first trains, one when the next starts."""
    reproduce.main(TINY + ["--methods", "erm,la", "--epochs", "2", "--checkpoint-every", "1", "--out", str(tmp_path)])
    done = [[r["epochs_done"] for r in s["rows"]] for s in snapshots]
    assert done == [[1, 0], [2, 0], [2, 1], [2, 2]]
    assert [s["complete"] for s in snapshots] == [False, False, False, True]


def test_shot_means_of_per_class_accuracy_match_shot_accuracy():
    counts = np.array([500, 150, 100, 60, 20, 19, 5])  # many: >100; medium: 20..100; few: <20
    y = torch.arange(7).repeat_interleave(10)
    pred = y.clone()
    pred[::3] = 0  # some errors in every class
    per_class = lt.metrics.per_class_accuracy(y, pred, num_classes=7)
    got = lt.metrics.shot_means(per_class, counts)
    want = lt.metrics.shot_accuracy(y, pred, counts)
    for k in ("many", "medium", "few", "all"):
        assert got[k] == pytest.approx(want[k])
    assert math.isnan(lt.metrics.shot_means(per_class[:2], counts[:2])["few"])
    with pytest.raises(ValueError, match="eval_every"):
        reproduce.RunConfig("digits-lt", "erm", eval_every=0, out=None).check()


@pytest.mark.parametrize("epochs, warned", [(None, True), (2, False)])
def test_a_long_cpu_run_says_how_long_it_will_take(capsys, epochs, warned):
    # the warning comes before any training
    reproduce.prepare(reproduce.RunConfig("digits-lt", reproduce.DEFAULT_METHODS, epochs=epochs, device="cpu",
                                          model="resnet32", out=None))
    out = capsys.readouterr().out
    assert ("on the CPU this takes about" in out) is warned
    if warned:
        n_train = lt.data.load_dataset("digits-lt", imbalance_ratio=reproduce.BENCHMARKS["digits-lt"]["imbalance_ratio"],
                                       seed=0)[0].__len__()
        hours = 7 * 200 * n_train / 650 / 3600  # 7 models x 200 epochs at 650 images/s
        assert hours > 1 / 6
        assert f"about {hours:.1f} h" in out


@pytest.mark.parametrize("precision, amp", [("auto", None), ("bf16", True), ("fp32", False)])
def test_precision_reaches_the_engine_and_the_results(tmp_path, monkeypatch, precision, amp):
    seen = {}
    from ltutorial.train import fit_many

    def engine(models, train, **kw):
        seen["amp"] = kw["amp"]
        return fit_many(models, train, **kw)

    monkeypatch.setattr(reproduce, "fit_many", engine)
    real_evaluate = reproduce.evaluate

    def spy_evaluate(*args, **kw):
        seen["eval_amp"] = kw.get("amp")
        return real_evaluate(*args, **kw)

    monkeypatch.setattr(reproduce, "evaluate", spy_evaluate)
    reproduce.main(TINY + ["--methods", "erm", "--epochs", "1", "--precision", precision, "--out", str(tmp_path)])
    assert seen["amp"] is amp and seen["eval_amp"] is amp  # the final table is evaluated as it was trained
    data = json.loads((tmp_path / "cpu-reproduce-digits-lt.json").read_text())
    assert data["precision"] == precision
    assert any(f"precision {precision}" in n for n in data["notes"]) is (precision != "auto")
    # on the CPU, auto means fp32: only an explicit bf16 run says it differs from the papers' fp32
    assert any("trained with bf16 autocast" in n for n in data["notes"]) is (precision == "bf16")
    assert f"precision {precision})" in (tmp_path / "cpu-reproduce-digits-lt.md").read_text()


@pytest.mark.parametrize("args,message", [
    (["--methods", "bogus"], "error: methods must be a comma-separated list of"),
    (["--epochs", "0"], "error: epochs must be an integer >= 1; got 0 instead."),
    (["--model", "vgg"], "error: model must be one of"),
    (["--eval-every", "0"], "error: eval_every must be an integer >= 1; got 0 instead."),
    (["--checkpoint-every", "-1"], "error: checkpoint_every must be an integer >= 1; got -1 instead."),
    (["--device", "gpu"], "error: device must be one of"),
    (["--batch-size", "0"], "error: batch_size must be an integer >= 1; got 0 instead."),
    (["--max-train", "-5"], "error: max_train must be an integer >= 1; got -5 instead."),
    (["--max-test", "0"], "error: max_test must be an integer >= 1; got 0 instead."),
    (["--seed", "-1"], "error: seed must be an integer >= 0; got -1 instead."),
])
def test_command_line_bad_values_are_one_error_line_and_exit_2(args, message, capsys, monkeypatch):
    # issue 13: these printed a traceback (some only after loading the data)
    def must_not_load(*a, **k):
        raise AssertionError("the options must be checked before the data are read")

    if args[0] != "--device":
        monkeypatch.setattr(lt.data, "load_dataset", must_not_load)
    assert reproduce.main(["digits-lt", "--no-write", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err


def test_an_error_while_training_keeps_its_traceback(monkeypatch):
    """Only option and data errors become one ``error:`` line; a failure inside training is raised as it is."""
    def engine(*args, **kwargs):
        raise ValueError("the training loss must stay finite; got nan")

    monkeypatch.setattr(reproduce, "fit_many", engine)
    with pytest.raises(ValueError, match="must stay finite"):
        reproduce.main(TINY + ["--methods", "erm", "--epochs", "1", "--no-write"])


def test_command_line_out_must_be_a_writable_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(lt.data, "load_dataset", lambda *a, **k: (_ for _ in ()).throw(AssertionError("too late")))
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert reproduce.main(["digits-lt", "--out", str(a_file)]) == 2
    assert capsys.readouterr().err.startswith(f"error: out must be a folder to write into; got {str(a_file)!r}, which is a file")
    assert reproduce.main(["digits-lt", "--out", str(a_file / "below")]) == 2
    assert capsys.readouterr().err.startswith("error: out must be a folder this user can write into; got")


def test_precision_is_checked_before_training():
    with pytest.raises(ValueError, match=r"precision must be one of \['auto', 'bf16', 'fp32'\]; got 'half' instead"):
        reproduce.RunConfig("digits-lt", "erm", precision="half", out=None).check()
    with pytest.raises(SystemExit):
        reproduce.main(TINY + ["--precision", "half"])


# --- notebooks 06-09 (issue 11): the settings table feeds train_methods; progress lines; the scale caveat ---

@pytest.mark.parametrize("dataset", ["cifar10-lt", "digits-lt"])
def test_train_methods_accepts_every_key_of_supervised_settings(dataset):
    settings = lt.supervised_settings("smoke", dataset, epochs=1)
    recipe = compare.training_recipe(**settings)
    assert recipe.epochs == 1
    for key in set(settings) - {"model", "model_kwargs", "epochs", "eval_every", "method_params"}:
        assert getattr(recipe, key) == settings[key], key  # every other key is a recipe field it replaces
    train, test = lt.data.load_dataset("digits-lt", seed=0)
    res = compare.train_methods(["erm", "ldam-drw"], train, test, device="cpu", seed=0, progress=False, **settings)
    assert 0 <= res["erm"].balanced_accuracy <= 1
    s = reproduce.method_params("ldam-drw", method_params=settings["method_params"])["s"]
    assert res["ldam-drw"].loss.s == s  # method_params reach the losses


def test_training_recipe_switch_epoch_and_log_lines(capsys):
    # the LDAM-DRW schedule scaled to 15 epochs: the first milestone is round(160 / 200 * 15) = 12
    assert compare.training_recipe(15).reweight_epoch == 12
    assert compare.training_recipe(15, milestones=(10, 13)).reweight_epoch == 10
    assert compare.training_recipe(15, model="small_cnn", model_kwargs={}, eval_every=15) == compare.training_recipe(15)
    train, test = lt.data.load_dataset("digits-lt", seed=0)
    compare.train_methods(["erm", "la"], train, test, model_kwargs={"width": 4}, epochs=1, device="cpu",
                            progress=False, log=True)
    out = capsys.readouterr().out
    assert "[1/2] erm: 1 epochs" in out and "[2/2] la: 1 epochs" in out and "2 models trained in" in out
    with pytest.raises(ValueError, match="log must be True or False; got 'yes'"):
        compare.train_methods(["erm"], train, test, epochs=1, device="cpu", log="yes")


def test_scale_caveat_reads_the_run_sizes():
    train, test = lt.data.load_dataset("digits-lt", seed=0)
    text = reproduce.scale_caveat("cpu", train, test, 30)
    n_test, rare, head = len(test), int(train.class_counts.min()), int(train.class_counts.max())
    assert f"{n_test} test images: 1 point of balanced accuracy is {n_test / 100:.0f} images" in text
    assert f"the rarest class has {rare} training image{'' if rare == 1 else 's'} (the head {head})" in text
    assert "smoke" not in text and "2 epochs" in reproduce.scale_caveat("smoke", train, test, 2)


def test_method_params_merge_methods_benchmark_and_settings():
    assert reproduce.method_params("ldam-drw") == {"max_m": 0.5, "s": 30.0, "beta": 0.9999}
    assert reproduce.method_params("ldam-drw", method_params={"ldam-drw": {"s": 16.0}})["s"] == 16.0
    assert reproduce.method_params("vs-tla-adrw", benchmark="cifar100-lt")["nu"] == 0.25  # the benchmark's tuning
    with pytest.raises(ValueError, match=r"method_params\['vs'\] must be a dict with keys from \['gamma', 'tau'\]; "
                                         r"got \{'s': 1.0\}"):
        reproduce.method_params("vs", method_params={"vs": {"s": 1.0}})
    # a misspelt method, a value that is not a dict, an unknown benchmark: named errors (they passed or hit a
    # TypeError / KeyError before)
    for kw, match in [(dict(method_params={"ldam_drw": {"s": 16.0}}), r"^method_params must be keyed by names of "
                                                                       r"METHODS .*got \['ldam_drw'\]"),
                      (dict(method_params={"vs": 0.3}), r"^method_params\['vs'\] must be a dict .*got 0.3"),
                      (dict(method_params={"vs": None}), r"^method_params\['vs'\] must be a dict .*got None"),
                      (dict(benchmark="cifar100"), r"^benchmark must be one of .*got 'cifar100'")]:
        with pytest.raises(ValueError, match=match):
            reproduce.method_params("vs", **kw)
    # train_methods' settings carry the benchmark's tuning: CIFAR-100-LT's TLA/ADRW nu and tau
    settings = lt.supervised_settings("full", "cifar100-lt")
    assert reproduce.method_params("vs-tla-adrw", method_params=settings["method_params"])["nu"] == 0.25
    assert lt.supervised_settings("cpu", "cifar100-lt")["method_params"]["ldam-drw"] == {"s": 16.0}
    # the loss train_methods builds carries the overridden s
    counts = lt.data.longtail_counts(100, 3, 10)
    loss, _ = _build("ldam-drw", counts, params={"ldam-drw": {"s": 16.0}})
    assert loss.s == 16.0


def test_row_labels_name_no_value_that_a_benchmark_overrides():
    """A label with 'nu=0.15' next to params {'nu': 0.25} contradicted itself: the values live in 'params' only."""
    assert not [m.label for m in reproduce.METHODS.values() if any(ch.isdigit() for ch in m.label.replace("1st", ""))]
    row = reproduce.table_row("vs-tla-adrw", reproduce.BENCHMARKS["cifar100-lt"], None, None)
    assert row["params"]["nu"] == 0.25 and row["label"] == "VS -> TLA + ADRW"


def test_each_integer_option_has_its_own_minimum():
    # seed and the large runs' workers may be 0, every other integer option at least 1 (each declares its minimum)
    from ltutorial.reproduce_large import LargeRunConfig

    assert reproduce.RunConfig(seed=0, out=None).check() and LargeRunConfig(workers=0, out=None).check()
    for config, message in ((LargeRunConfig(workers=-1, out=None), "workers must be an integer >= 0"),
                            (LargeRunConfig(image_size=0, out=None), "image_size must be an integer >= 1")):
        with pytest.raises(ValueError, match=message):
            config.check()


def test_method_shots_of_a_posthoc_row_takes_counts_as_a_list_or_a_tensor():
    # the post-hoc branch called counts.double(): a list failed with AttributeError (the plain rows took it)
    counts = [500, 100, 20, 5]
    z, y = torch.randn(200, 4, generator=torch.Generator().manual_seed(0)), torch.arange(200) % 4
    adjusted = (z.double() - torch.log(torch.tensor(counts, dtype=torch.float64) / sum(counts))).argmax(1)  # tau 1
    expected = lt.metrics.shot_accuracy(y, adjusted, counts)
    assert lt.methods.METHODS["la-posthoc"].params["tau"] == 1.0
    for c in (counts, torch.tensor(counts), np.array(counts)):
        assert lt.methods.method_shots("la-posthoc", z, y, c) == pytest.approx(expected)
