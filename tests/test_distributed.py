"""Training under torchrun (issue 15, ``ltutorial.train.distributed``): two gloo processes on the CPU.

The file is also the workers' script: ``python -m torch.distributed.run --nproc_per_node=2 tests/test_distributed.py
MODE OUT`` runs ``_worker``. Reference answers come from one process with the same global batch (the
definition of "the same training"), computed here by the plain single-process ``fit``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import ltutorial as lt
from ltutorial.train import distributed as ddp

HERE = Path(__file__).resolve()
TIMEOUT_S = 60  # a job still running after this counts as a hang


def _data(n_train: int = 51):
    """A tiny image set: 51 training rows (the last global batch of 8 has 3 rows: unequal shares) and 21 test
    rows (unequal evaluation slices), 3 classes, 3 x 6 x 6 images."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(72) % 3
    images = torch.randint(0, 256, (72, 3, 6, 6), dtype=torch.uint8, generator=g)
    images[:, labels.tolist(), 0, 0] = 255  # a learnable cue per class
    mk = lambda sl: lt.data.ImageDataset(images[sl], labels[sl], ["a", "b", "c"], mean=(0.5,) * 3, std=(0.25,) * 3)  # noqa: E731
    return mk(slice(0, n_train)), mk(slice(51, 72))


def _weighted_loss():
    """LDAM with class weights (its DRW phase): a mean that divides by the batch's weight sum."""
    return lt.losses.LDAMLoss([30, 15, 6], weight=[0.2, 1.0, 3.0])


def _fit(hooks=(), batchnorm: bool = False, device="cpu", loss_fn=None, **kw):
    """The run both sides compare: an MLP (without BatchNorm unless asked), crop+flip on, a schedule, 3 epochs,
    batch 8 (48 training rows with BatchNorm: equal shares, as a BatchNorm layer needs 2 rows per process)."""
    train, test = _data(48 if batchnorm else 51)
    torch.manual_seed(0)
    norm = [nn.BatchNorm1d(16)] if batchnorm else []
    model = nn.Sequential(nn.Flatten(), nn.Linear(108, 16), *norm, nn.ReLU(), nn.Linear(16, 3))
    return lt.train.fit(model, train, loss_fn=loss_fn or nn.CrossEntropyLoss(), epochs=3, test=test, batch_size=8, lr=0.05,
                        device=device, seed=3, augment=True, padding=1, schedule=lambda e: 1.0 / (1 + e),
                        hooks=hooks, progress=False, amp=False, **kw)


def _record(hist) -> str:
    """The History fields the tests compare, as JSON."""
    return json.dumps({"config": hist.config, "train_loss": hist.train_loss, "test_accuracy": hist.test_accuracy,
                       "per_class_accuracy": hist.per_class_accuracy.tolist()})


def _worker(mode: str, out: str) -> None:
    ddp.init_distributed("cuda" if mode == "syncbn" else "cpu", timeout_s=60)  # generous on a loaded machine
    if mode in ("fit", "syncbn"):
        hist = _fit() if mode == "fit" else _fit(batchnorm=True, device="cuda", sync_batchnorm=True)
        weighted = _fit(loss_fn=_weighted_loss()) if mode == "fit" else None
        if ddp.is_main_process():
            Path(out, "history.json").write_text(_record(hist))
            if weighted is not None:
                Path(out, "weighted.json").write_text(_record(weighted))
        print(f"rank {ddp.rank()} done")  # both ranks print here: the test counts the lines
    elif mode == "large":
        from ltutorial import reproduce_large

        reproduce_large.build_models = _bn_free_models
        losses = _large_run(out)
        if ddp.is_main_process():
            Path(out, "large.json").write_text(json.dumps(losses))
    elif mode == "die":
        def die(state):  # rank 1 is killed at the start of epoch 1; rank 0 then waits in an all-reduce
            if state.epoch == 1 and ddp.rank() == 1:
                os.kill(os.getpid(), signal.SIGKILL)
        _fit(hooks=[die])
    ddp.close_distributed()


def _bn_free_models(specs, num_classes, in_channels, *args):
    """A BatchNorm-free stand-in for ``build_models`` (per-process BatchNorm statistics differ by design)."""
    torch.manual_seed(0)
    return [nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, num_classes)) for _ in specs]


def _large_run(root: str) -> dict:
    """``reproduce_large``'s own training loop (its loader, sampler and loss share) on the tiny ImageNet-LT, without
    random crops: the per-method epoch losses."""
    from ltutorial import reproduce_large as rl

    cfg = rl.LargeRunConfig("imagenet-lt", "erm,ldam-drw", epochs=3, device="cpu", root=root, out=None,
                            model="small_cnn", batch_size=6, image_size=16, workers=0)
    run = rl.prepare(cfg)
    run.train.transform = run.test.transform
    return rl.train_and_report(run)["train_losses"]


def _torchrun(*args, timeout=TIMEOUT_S):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LTUTORIAL_PROGRESS": "0",
           "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=HERE.parents[1])
    return proc, time.perf_counter() - t0


def test_two_processes_give_the_single_process_losses_and_metrics(tmp_path):
    proc, _ = _torchrun(str(HERE), "fit", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads((tmp_path / "history.json").read_text())
    ref = _fit()
    assert got["config"]["world_size"] == 2 and ref.config["world_size"] == 1
    np.testing.assert_allclose(got["train_loss"], ref.train_loss, rtol=1e-5)
    np.testing.assert_allclose(got["test_accuracy"], ref.test_accuracy, rtol=1e-6)
    np.testing.assert_allclose(got["per_class_accuracy"], ref.per_class_accuracy, rtol=1e-6)
    assert len(set(ref.train_loss)) == 3  # the losses moved: the comparison is not of constants
    weighted, ref = json.loads((tmp_path / "weighted.json").read_text()), _fit(loss_fn=_weighted_loss())
    np.testing.assert_allclose(weighted["train_loss"], ref.train_loss, rtol=1e-5)
    np.testing.assert_allclose(weighted["test_accuracy"], ref.test_accuracy, rtol=1e-6)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["history.json", "weighted.json"]
    # the two ranks share one stdout pipe, so their lines may run together: count the phrases, not lines
    assert sorted(re.findall(r"rank \d done", proc.stdout)) == ["rank 0 done", "rank 1 done"]


def _tiny_imagenet_lt(root: Path, train_counts=(8, 6, 4), test_per_class: int = 3) -> None:
    """A made-up ImageNet-LT folder: PNGs and the `path label` split lists the reader expects."""
    from PIL import Image

    folder, g = root / "imagenet-lt", torch.Generator().manual_seed(0)
    for split, counts in (("train", train_counts), ("val", [1] * 3), ("test", [test_per_class] * 3)):
        lines = []
        for c, n in enumerate(counts):
            (folder / "img" / str(c)).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                rel = f"img/{c}/{split}_{i}.png"
                Image.fromarray(torch.randint(0, 256, (16, 16, 3), dtype=torch.uint8, generator=g).numpy()).save(folder / rel)
                lines.append(f"{rel} {c}")
        (folder / f"ImageNet_LT_{split}.txt").write_text("\n".join(lines) + "\n")


def test_reproduce_under_torchrun_writes_once_and_records_the_processes(tmp_path):
    _tiny_imagenet_lt(tmp_path / "data")
    out = tmp_path / "out"
    proc, _ = _torchrun("-m", "ltutorial", "reproduce", "imagenet-lt", "--root", str(tmp_path / "data"), "--epochs", "1",
                        "--image-size", "16", "--model", "small_cnn", "--batch-size", "6", "--workers", "0",
                        "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(f.name for f in out.iterdir()) == ["cpu-reproduce-imagenet-lt.json", "cpu-reproduce-imagenet-lt.md"]
    assert proc.stdout.count("wrote ") == 1 and proc.stdout.count("reproduce imagenet-lt:") == 1  # rank 0 only
    result = json.loads((out / "cpu-reproduce-imagenet-lt.json").read_text())
    assert result["world_size"] == 2 and result["devices"] == ["cpu", "cpu"]
    assert any("BatchNorm statistics from each process's 3 rows" in n for n in result["notes"])
    # 3 test images per class, gathered from both ranks: balanced accuracy is a multiple of 100/9
    top1 = result["rows"][0]["last"]
    assert top1 * 9 / 100 == pytest.approx(round(top1 * 9 / 100))


def test_reproduce_large_two_processes_give_the_single_process_losses(tmp_path, monkeypatch):
    """The sharded loader of ``reproduce_large`` (B/W rows per rank, the same seeded permutation) trains as one
    process with the global batch: ERM and LDAM-DRW (DRW switching on at epoch 2 of 3)."""
    _tiny_imagenet_lt(tmp_path)
    proc, _ = _torchrun(str(HERE), "large", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads((tmp_path / "large.json").read_text())
    from ltutorial import reproduce_large

    monkeypatch.setattr(reproduce_large, "build_models", _bn_free_models)
    ref = _large_run(str(tmp_path))
    assert sorted(got) == sorted(ref) == ["erm", "ldam-drw"]
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-5)
        assert len(set(ref[name])) == 3  # the losses moved


def test_a_killed_rank_ends_the_job_with_an_error(tmp_path):
    proc, seconds = _torchrun(str(HERE), "die", str(tmp_path))
    assert proc.returncode != 0
    assert seconds < TIMEOUT_S


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="SyncBatchNorm needs two CUDA devices (NCCL)")
def test_synchronised_batchnorm_gives_the_single_process_losses_on_two_gpus(tmp_path):
    proc, _ = _torchrun(str(HERE), "syncbn", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads((tmp_path / "history.json").read_text())
    ref = _fit(batchnorm=True, device="cuda:0", fast=False)
    np.testing.assert_allclose(got["train_loss"], ref.train_loss, rtol=1e-4)
    np.testing.assert_allclose(got["test_accuracy"], ref.test_accuracy, atol=1e-6)


def test_under_torchrun_the_engine_tier_and_uneven_batches_are_refused(monkeypatch):
    # Stand-ins for a 3-process group: the checks run before any collective.
    monkeypatch.setattr(ddp, "is_distributed", lambda: True)
    with pytest.raises(ValueError, match="fast must be None or False under torchrun"):
        _fit(fast=True)
    with pytest.raises(ValueError, match="fuse must be None or False under torchrun"):
        lt.train.fit_many([nn.Linear(1, 1)], _data()[0], loss_fns=[nn.CrossEntropyLoss()], epochs=1, fuse=True,
                          device="cpu")
    monkeypatch.setattr(ddp, "world_size", lambda: 3)
    with pytest.raises(ValueError, match=r"batch_size must be divisible by the number of processes \(3\).*got 8"):
        _fit()


def test_shards_cover_each_global_batch_once_in_order():
    # hand count: 11 rows on 3 ranks -> 4, 4, 3 rows, contiguous
    assert [ddp.shard_bounds(11, r, 3) for r in range(3)] == [(0, 4), (4, 8), (8, 11)]
    assert [ddp.shard_bounds(2, r, 3) for r in range(3)] == [(0, 1), (1, 2), (2, 2)]


def test_one_process_helpers_are_the_identity():
    assert not ddp.is_distributed() and ddp.world_size() == 1 and ddp.is_main_process()
    assert ddp.batch_rows(8, 16) == (8, 16) and ddp.loss_share(nn.CrossEntropyLoss(), torch.arange(3), 3) is None
    x = torch.arange(6.0).reshape(3, 2)
    assert torch.equal(ddp.gather_rows(x), x)


@pytest.mark.parametrize("make_loss", [lambda w: nn.CrossEntropyLoss(weight=w), lambda w: nn.MultiMarginLoss(weight=w),
                                       lambda w: lt.losses.CrossEntropyLoss(weight=w),
                                       lambda w: lt.losses.ClassBalancedLoss([5, 3, 1], beta=0.9)])
def test_loss_shares_give_the_single_process_gradient(monkeypatch, make_loss):
    # two ranks simulated in one process: rows 0:4 and 4:8; DDP averages the ranks' gradients of share * loss.
    # nn.MultiMarginLoss(weight=) averages over rows: a weight-sum share gave it the wrong gradient (0.16 off)
    loss_fn = make_loss(torch.tensor([0.2, 1.0, 3.0]))
    x, y = torch.randn(8, 3, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 0, 0, 1, 2, 2, 1, 0])
    x.requires_grad_(True)
    expected, = torch.autograd.grad(loss_fn(x, y), x)
    parts = (slice(0, 4), slice(4, 8))
    weight = getattr(loss_fn, "weight", None)
    monkeypatch.setattr(ddp, "is_distributed", lambda: True)
    monkeypatch.setattr(ddp, "world_size", lambda: 2)
    # all_reduce_sum of q_r: every rank's class-weight sum (only the weight-normalised losses ask for it)
    monkeypatch.setattr(ddp, "all_reduce_sum", lambda q: sum(weight[y[s]].sum() for s in parts))
    got = sum(torch.autograd.grad(loss_fn(x[s], y[s]) * ddp.loss_share(loss_fn, y[s], 8), x)[0] for s in parts) / 2
    torch.testing.assert_close(got, expected)


def test_the_ranks_batches_make_up_the_single_process_batches(monkeypatch):
    # reproduce_large's training loader: a DistributedSampler (drop_last) and batches of B/W rows. 22 images, B = 6:
    # the k-th batches of W = 3 ranks together hold the rows of one process's k-th batch, the last partial one dropped.
    from ltutorial.reproduce_large import train_loader

    def batches(w, r, epoch):
        monkeypatch.setattr(ddp, "world_size", lambda: w)
        monkeypatch.setattr(ddp, "rank", lambda: r)
        loader = train_loader(range(22), 6, seed=1)
        loader.sampler.set_epoch(epoch)
        return [b.tolist() for b in loader]

    one = batches(1, 0, epoch=2)
    assert [len(b) for b in one] == [6, 6, 6] and len(set(sum(one, []))) == 18 and one != batches(1, 0, epoch=3)
    ranks = [batches(3, r, epoch=2) for r in range(3)]
    assert [sorted(sum((ranks[r][k] for r in range(3)), [])) for k in range(3)] == [sorted(b) for b in one]


def test_sync_batchnorm_outside_torchrun_is_refused():
    train, _ = _data()
    with pytest.raises(ValueError, match="sync_batchnorm=True needs a run of several processes"):
        lt.train.fit(nn.Sequential(nn.Flatten(), nn.Linear(108, 3)), train, loss_fn=nn.CrossEntropyLoss(), epochs=1,
                     device="cpu", sync_batchnorm=True, progress=False)
    with pytest.raises(ValueError, match="sync_batchnorm must be True or False"):
        lt.train.fit(nn.Sequential(nn.Flatten(), nn.Linear(108, 3)), train, loss_fn=nn.CrossEntropyLoss(), epochs=1,
                     device="cpu", sync_batchnorm="yes", progress=False)


def test_init_distributed_outside_torchrun_names_the_variables(monkeypatch):
    for v in ddp.TORCHRUN_VARIABLES:
        monkeypatch.delenv(v, raising=False)
    with pytest.raises(RuntimeError, match="RANK"):
        ddp.init_distributed("cpu")


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2])
