"""GPU checks of the graphed fast path and fused training (issue 6); skipped without CUDA."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from test_train import TinyData
from test_train_fast import TinyResNet, WeightedCE, drw_hook

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

from ltutorial.train import fit, fit_many, warmup_multistep  # noqa: E402
from ltutorial.fast.engine import fit_fast  # noqa: E402


def cifar_like(n, seed, num_classes=4):
    """Colour-square task at 32 x 32 (separable, crop/flip-invariant)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % num_classes
    images = torch.randint(0, 60, (n, 3, 32, 32), generator=g).to(torch.uint8)
    for c, channels in enumerate([[0], [1], [2], [0, 1, 2]]):
        for ch in channels:
            images[labels == c, ch, 10:22, 10:22] = 230
    return TinyData(images, labels)


def model(seed, normed=False):
    torch.manual_seed(seed)
    return TinyResNet(normed=normed)


@pytest.fixture(autouse=True)
def exact_fp32():
    """Deterministic cuDNN, no TF32: eager and graphed runs then differ only by rounding order."""
    saved = (torch.backends.cudnn.deterministic, torch.backends.cudnn.allow_tf32,
             torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    (torch.backends.cudnn.deterministic, torch.backends.cudnn.allow_tf32,
     torch.backends.cuda.matmul.allow_tf32) = saved


def losses_close(a, b, rtol):
    torch.testing.assert_close(torch.tensor(a.train_loss), torch.tensor(b.train_loss), rtol=rtol, atol=1e-5)


KW = dict(epochs=4, batch_size=32, lr=0.05, device="cuda", progress=False, augment=True,
          schedule=warmup_multistep(warmup_epochs=2, milestones=(3,), gamma=0.1))


def test_graph_matches_eager_with_schedule_and_in_place_drw():
    train, test = cifar_like(256, 0), cifar_like(128, 1)
    eager = fit_fast(model(0), train, loss_fn=WeightedCE(), test=test, hooks=[drw_hook], amp=False, capture=False, **KW)
    graph = fit_fast(model(0), train, loss_fn=WeightedCE(), test=test, hooks=[drw_hook], amp=False, capture=True, **KW)
    assert graph.engine == "graph" and graph.config["graph_captures"] == 1
    losses_close(graph, eager, rtol=1e-3)
    assert graph.lr == eager.lr
    assert max(abs(a - b) for a, b in zip(graph.test_accuracy, eager.test_accuracy)) <= 2 / 128
    # the in-place DRW update and the lr schedule both change the trajectory, so the match is a real check
    no_drw = fit_fast(model(0), train, loss_fn=WeightedCE(), test=test, amp=False, capture=True, **KW)
    assert abs(no_drw.train_loss[-1] - graph.train_loss[-1]) > 1e-2 * abs(graph.train_loss[-1])
    flat = fit_fast(model(0), train, loss_fn=WeightedCE(), hooks=[drw_hook], amp=False, capture=True,
                    **dict(KW, schedule=None))
    assert abs(flat.train_loss[-1] - graph.train_loss[-1]) > 1e-2 * abs(graph.train_loss[-1])


def test_graph_recaptures_when_a_hook_rebinds_loss_state():
    train = cifar_like(128, 0)

    def rebinding_hook(state):
        if state.epoch == 2:
            state.loss_fn.weight = torch.tensor([0.25, 0.5, 1.0, 2.0], device=state.device)

    eager = fit_fast(model(0), train, loss_fn=WeightedCE(), hooks=[rebinding_hook], amp=False, capture=False, **KW)
    graph = fit_fast(model(0), train, loss_fn=WeightedCE(), hooks=[rebinding_hook], amp=False, capture=True, **KW)
    assert graph.config["graph_captures"] == 2
    losses_close(graph, eager, rtol=1e-3)


def test_fit_on_cuda_defaults_to_bf16_graph_and_learns():
    train, test = cifar_like(512, 0), cifar_like(256, 1)
    h = fit(model(0), train, loss_fn=nn.CrossEntropyLoss(), test=test, **dict(KW, epochs=5, lr=0.1))
    assert h.engine == "graph" and h.config["amp"] is True
    assert all(math.isfinite(v) for v in h.train_loss) and h.train_loss[-1] < h.train_loss[0]
    assert h.final_balanced_accuracy >= 0.9


def test_fused_graph_matches_fused_eager_and_separate():
    train, test = cifar_like(256, 0), cifar_like(128, 1)
    losses = lambda: [nn.CrossEntropyLoss(), WeightedCE(), nn.CrossEntropyLoss(label_smoothing=0.1)]  # noqa: E731
    hooks = [[], [drw_hook], []]
    eager = fit_many([model(i) for i in range(3)], train, loss_fns=losses(), hooks=hooks, test=test, fuse=True,
                     fast=False, amp=False, **KW)
    graph = fit_many([model(i) for i in range(3)], train, loss_fns=losses(), hooks=hooks, test=test, fuse=True,
                     fast=True, amp=False, **KW)
    assert graph[0].engine == "fused3-graph"
    for e, g in zip(eager, graph):
        losses_close(g, e, rtol=1e-3)
    alone = fit_fast(model(1), train, loss_fn=WeightedCE(), test=test, hooks=[drw_hook], amp=False, capture=True, **KW)
    losses_close(graph[1], alone, rtol=1e-2)  # grouped vs plain convolutions: other kernels, other rounding


def test_resnet32_fused_with_repo_losses_runs_in_bf16():
    models_mod = pytest.importorskip("ltutorial.models")
    losses_mod = pytest.importorskip("ltutorial.losses")
    g = torch.Generator().manual_seed(0)
    counts = [400, 200, 100, 50]
    labels = torch.cat([torch.full((k,), c) for c, k in enumerate(counts)])
    train = TinyData(torch.randint(0, 256, (labels.numel(), 3, 32, 32), generator=g).to(torch.uint8), labels)
    ms = []
    for normed in (False, False, True):
        torch.manual_seed(0)
        ms.append(models_mod.resnet32(4, normed=normed))
    ldam = losses_mod.LDAMLoss(counts)
    hs = fit_many(ms, train, loss_fns=[nn.CrossEntropyLoss(), losses_mod.FocalLoss(gamma=1.0), ldam],
                  test=train, **dict(KW, epochs=2, batch_size=128))
    assert [h.engine for h in hs] == ["fused3-graph"] * 3  # the cosine head runs per model inside
    assert all(math.isfinite(v) for h in hs for v in h.train_loss)


def test_graphed_training_does_not_grow_memory():
    """Live CUDA memory at each epoch start is the same once the run is steady (no per-step leak)."""
    train, test = cifar_like(256, 0), cifar_like(128, 1)
    seen = []

    def record(state):
        torch.cuda.synchronize()
        seen.append(torch.cuda.memory_allocated())

    fit_fast(model(0), train, loss_fn=WeightedCE(), test=test, hooks=[record], capture=True, **dict(KW, epochs=6))
    steady = seen[2:]
    assert max(steady) - min(steady) <= 1 << 20, seen
