"""The engine tier (``ltutorial.fast``) run eagerly on the CPU against the eager loop, and fused training of
several models (issue 6)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ltutorial.train import fit, fit_many
from ltutorial.fast.fused import fuse_models
from ltutorial.fast.engine import Members, TensorLRSGD, _object_state, fit_fast
from ltutorial.models.resnet_cifar import NormedLinear  # LDAM's cosine head: fused as a batched product
from ltutorial.train import FitConfig

from test_train import quadrant_task, tiny_net

FIT = dict(epochs=3, batch_size=16, lr=0.05, device="cpu", progress=False)


class WeightedCE(nn.Module):
    """A graph-safe loss: its class weights are a buffer that hooks fill in place."""

    def __init__(self, num_classes=4):
        super().__init__()
        self.register_buffer("weight", torch.ones(num_classes))

    def forward(self, logits, targets):
        return F.cross_entropy(logits, targets, weight=self.weight)


def drw_hook(state):
    if state.epoch == 1:  # deferred re-weighting: switch to tail-heavy weights in place
        state.loss_fn.weight.copy_(torch.tensor([0.25, 0.5, 1.0, 2.0]))


def test_tensor_lr_sgd_matches_torch_sgd():
    torch.manual_seed(0)
    a = nn.Linear(5, 3)
    b = copy.deepcopy(a)
    opt_a = torch.optim.SGD(a.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2, nesterov=True)
    opt_b = TensorLRSGD(b.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2, nesterov=True)
    for step in range(5):
        x = torch.randn(8, 5)
        for model, opt in ((a, opt_a), (b, opt_b)):
            if step == 3:  # a schedule change: float for torch's SGD, in place for the tensor lr
                if isinstance(opt.param_groups[0]["lr"], torch.Tensor):
                    opt.param_groups[0]["lr"].fill_(0.01)
                else:
                    opt.param_groups[0]["lr"] = 0.01
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_fast_engine_eager_equals_plain_loop_on_cpu():
    train, test = quadrant_task(20, seed=0, counts=[40, 20, 10, 10]), quadrant_task(8, seed=1)
    kw = dict(FIT, test=test, augment=True, padding=1, hooks=[drw_hook], nesterov=True)
    plain = fit(tiny_net(), train, loss_fn=WeightedCE(), drop_last=True, **kw)
    fast = fit_fast(tiny_net(), train, loss_fn=WeightedCE(), capture=False, **kw)
    assert fast.engine == "fast-eager" and plain.engine == "eager"
    torch.testing.assert_close(torch.tensor(fast.train_loss), torch.tensor(plain.train_loss), rtol=1e-4, atol=1e-5)
    assert fast.test_accuracy == plain.test_accuracy
    assert fast.lr == plain.lr
    # the hook's change mattered (otherwise the comparison would not test it)
    no_drw = fit(tiny_net(), train, loss_fn=WeightedCE(), drop_last=True, **dict(kw, hooks=()))
    assert abs(no_drw.train_loss[2] - plain.train_loss[2]) > 1e-3


def test_fast_engine_rejects_capture_without_cuda():
    train = quadrant_task(4, seed=0)
    with pytest.raises(ValueError, match="capture"):
        fit_fast(tiny_net(), train, loss_fn=nn.CrossEntropyLoss(), epochs=1, device="cpu", capture=True)


def _loss_state(loss):
    """The engine's signature of a loss (as ``_TrainStep.state`` records loss 0)."""
    sig = {}
    _object_state(loss, "loss0", sig, [])
    return sig


def test_loss_signature_sees_rebinding_but_not_in_place_updates():
    loss = WeightedCE()
    before = _loss_state(loss)
    loss.weight.copy_(torch.arange(4.0))
    assert _loss_state(loss) == before
    loss.weight = torch.ones(4)  # rebinding: a captured graph would keep reading the old memory
    assert _loss_state(loss) != before
    loss.scale = 2.0
    assert "loss0.scale" in _loss_state(loss)


# ------------------------------------------------------------------ fusion
class Block(nn.Module):
    """A ResNet basic block with the option-A shortcut (subsample, zero-pad channels)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pad = (cout - cin) // 2
        self.stride = stride

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        short = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
        if self.pad:
            short = F.pad(short, (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + short)


class TinyResNet(nn.Module):
    def __init__(self, num_classes=4, normed=False):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU())
        self.block = Block(4, 8, 2)
        self.head = NormedLinear(8, num_classes) if normed else nn.Linear(8, num_classes)

    def forward(self, x):
        x = self.block(self.stem(x))
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


def assert_fused_matches_each(fused, models, x, tol):
    """In train mode (batch statistics, running statistics updated) and then in eval mode, row b * N + i
    of the fused output is model i's output on sample b."""
    n = len(models)
    for train_mode in (True, False):
        for m in models:
            m.train(train_mode)
        fused.train(train_mode)
        got = fused(x).view(x.shape[0], n, -1)
        for i, m in enumerate(models):
            torch.testing.assert_close(got[:, i], m(x.contiguous()), rtol=tol, atol=tol)


@pytest.mark.parametrize("normed", [False, True])
def test_fused_forward_equals_each_model_in_train_and_eval_mode(normed):
    models = [TinyResNet(normed=normed) for _ in range(3)]
    for i, m in enumerate(models):
        torch.manual_seed(10 + i)
        for p in m.parameters():
            p.data.normal_(0, 0.5)
    fused = fuse_models(models)
    assert_fused_matches_each(fused, models, torch.randn(5, 3, 8, 8), tol=1e-5)
    # BN running statistics were updated per model, as in the separate models
    fused.unfuse_into(models_copy := [copy.deepcopy(m) for m in models])
    for a, b in zip(models, models_copy):
        torch.testing.assert_close(a.block.bn1.running_mean, b.block.bn1.running_mean)


def test_fuse_runs_unknown_or_mismatched_layers_per_model_and_rejects_other_trees():
    class Odd(nn.Module):
        def __init__(self, scale):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 1)
            self.scale = nn.Parameter(torch.full((1,), scale))

        def forward(self, x):
            return self.conv(x).mean(dim=(2, 3)) * self.scale

    odd = [Odd(1.0), Odd(3.0)]
    x = torch.randn(4, 3, 5, 5)
    got = fuse_models(odd)(x).view(4, 2, -1)
    for i, m in enumerate(odd):
        torch.testing.assert_close(got[:, i], m(x))
    mixed = [TinyResNet(), TinyResNet(normed=True)]  # Linear and cosine heads under one name
    fused = fuse_models(mixed)
    assert type(fused.net.head).__name__ == "_PerModel"
    got = fused.eval()(x[:, :, :4, :4]).view(4, 2, -1)
    for i, m in enumerate(mixed):
        torch.testing.assert_close(got[:, i], m.eval()(x[:, :, :4, :4]), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="architecture"):
        fuse_models([TinyResNet(), TinyResNet(num_classes=5)])
    with pytest.raises(ValueError, match="architecture"):
        fuse_models([TinyResNet(), tiny_net()])


def _models(n):
    out = []
    for i in range(n):
        torch.manual_seed(100 + i)
        out.append(TinyResNet())
    return out


def test_fit_many_fused_matches_separate_training_on_cpu():
    train, test = quadrant_task(20, seed=0, counts=[40, 20, 10, 10]), quadrant_task(8, seed=1)
    losses = lambda: [nn.CrossEntropyLoss(), nn.CrossEntropyLoss(label_smoothing=0.1), WeightedCE()]  # noqa: E731
    hooks = [[], [], [drw_hook]]
    kw = dict(FIT, test=test, augment=True, padding=1)
    separate_models = _models(3)
    separate = [fit(m, train, loss_fn=fn, hooks=h, drop_last=True, **kw)
                for m, fn, h in zip(separate_models, losses(), hooks)]
    fused_models = _models(3)
    fused = fit_many(fused_models, train, loss_fns=losses(), hooks=hooks, fuse=True, **kw)
    assert len(fused) == 3 and fused[0].engine == "fused3-eager"
    for s, f in zip(separate, fused):
        torch.testing.assert_close(torch.tensor(f.train_loss), torch.tensor(s.train_loss), rtol=1e-3, atol=1e-4)
        assert abs(f.final_balanced_accuracy - s.final_balanced_accuracy) <= 1 / 32 + 1e-9
    for a, b in zip(separate_models, fused_models):  # the models themselves are trained
        for p, q in zip(a.parameters(), b.parameters()):
            torch.testing.assert_close(q, p, rtol=1e-3, atol=1e-4)
    # the models differ from one another (different losses and inits), so the check is not vacuous
    assert separate[0].train_loss != separate[1].train_loss


def test_fit_many_sequential_and_bad_input():
    train = quadrant_task(8, seed=0)
    hs = fit_many([tiny_net(0), tiny_net(1)], train, loss_fns=[nn.CrossEntropyLoss()] * 2, **dict(FIT, epochs=1))
    assert [h.engine for h in hs] == ["eager", "eager"]
    with pytest.raises(ValueError, match="loss_fns"):
        fit_many([tiny_net(0), tiny_net(1)], train, loss_fns=[nn.CrossEntropyLoss()], **FIT)
    with pytest.raises(ValueError, match="optimizer"):
        fit_many([tiny_net(0)], train, loss_fns=[nn.CrossEntropyLoss()], optimizer=object(), **FIT)
    with pytest.raises(ValueError, match="hooks"):
        fit_many([tiny_net(0)], train, loss_fns=[nn.CrossEntropyLoss()], hooks=[[], []], **FIT)


def test_fit_many_hooks_see_their_own_loss_and_current_weights():
    train = quadrant_task(8, seed=0)
    models = _models(2)
    seen = []

    def make_hook(i):
        def hook(state):
            seen.append((i, state.epoch, state.loss_fn, state.model.head.weight.detach().clone()))
        return hook

    losses = [nn.CrossEntropyLoss(), WeightedCE()]
    fit_many(models, train, loss_fns=losses, hooks=[[make_hook(0)], [make_hook(1)]], fuse=True, **dict(FIT, epochs=2))
    assert [(i, e) for i, e, _, _ in seen] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    assert seen[0][2] is losses[0] and seen[1][2] is losses[1]
    assert not torch.equal(seen[0][3], seen[2][3])  # epoch-1 hook saw weights trained in epoch 0


def test_fit_many_groups_models_of_different_architectures():
    train = quadrant_task(8, seed=0)
    torch.manual_seed(0)
    models = [TinyResNet(), None, TinyResNet()]
    torch.manual_seed(1)
    models[1] = TinyResNet(normed=True)
    hs = fit_many(models, train, loss_fns=[nn.CrossEntropyLoss()] * 3, fuse=True, **dict(FIT, epochs=1))
    assert [h.engine for h in hs] == ["fused3-eager"] * 3  # the cosine head runs per model inside
    hs_groups = fit_many([TinyResNet(), tiny_net(), TinyResNet()], train, loss_fns=[nn.CrossEntropyLoss()] * 3,
                         fuse=True, **dict(FIT, epochs=1))
    assert [h.engine for h in hs_groups] == ["fused2-eager", "fused1-eager", "fused2-eager"]
    torch.manual_seed(1)
    alone = TinyResNet(normed=True)
    ref = fit(alone, train, loss_fn=nn.CrossEntropyLoss(), drop_last=True, **dict(FIT, epochs=1))
    torch.testing.assert_close(torch.tensor(hs[1].train_loss), torch.tensor(ref.train_loss), rtol=1e-4, atol=1e-5)


def test_fit_many_fuse_flag_and_cpu_default():
    train = quadrant_task(8, seed=0)
    for bad in ("streams", "channels", 1):
        with pytest.raises(ValueError, match="fuse must be None, True or False"):
            fit_many([tiny_net(0)], train, loss_fns=[nn.CrossEntropyLoss()], fuse=bad, **FIT)
    with pytest.raises(ValueError, match="fast=True needs a CUDA"):
        fit_many(_models(2), train, loss_fns=[nn.CrossEntropyLoss()] * 2, fuse=True, fast=True, **FIT)
    with pytest.raises(ValueError, match="batch_size"):
        fit_many(_models(2), train, loss_fns=[nn.CrossEntropyLoss()] * 2, fuse=True, **dict(FIT, batch_size=64))
    # on the CPU fuse=None trains one after another
    hs = fit_many([tiny_net(0)], train, loss_fns=[nn.CrossEntropyLoss()], **dict(FIT, epochs=1))
    assert hs[0].engine == "eager"


# ------------------------------------------------------------------ the capture logic, on the CPU
class FakeGraph:
    """Stands in for a CUDA graph: 'recording' runs the step once (a real capture runs nothing,
    so the engine must undo it, like the warm-up), a replay runs it again with fresh gradients."""

    captures = 0

    def __init__(self, body, reset_grads):
        self.body, self.reset_grads = body, reset_grads
        FakeGraph.captures += 1
        body()

    def replay(self):
        self.reset_grads()
        self.body()


@pytest.fixture
def fake_cuda_graphs(monkeypatch):
    import ltutorial.fast.engine as fast_mod

    FakeGraph.captures = 0
    monkeypatch.setattr(fast_mod, "_warm_up", lambda step, device, n=3: [step() for _ in range(n)])
    monkeypatch.setattr(fast_mod, "_capture", lambda body, device, reset_grads: FakeGraph(body, reset_grads))
    monkeypatch.setattr(fast_mod, "_synchronize", lambda device: None)
    return fast_mod


def _engine(fast_mod, model, train, loss, hooks, capture, optimizer=None, test=None):
    cfg = FitConfig(epochs=4, batch_size=16, lr=0.05, momentum=0.9, weight_decay=5e-4,
                    schedule=lambda e: [0.5, 1.0, 1.0, 0.1][e], augment=True, progress=False, amp=False, padding=1)
    return fast_mod.run_engine(model, train, test, Members([loss], [tuple(hooks)], [model]), cfg,
                               device=torch.device("cpu"), optimizer=optimizer, capture=capture)[0]


@pytest.mark.parametrize("user_optimizer", [False, True])
def test_capture_logic_restores_warm_up_and_matches_eager(fake_cuda_graphs, user_optimizer):
    train, test = quadrant_task(12, seed=0, counts=[24, 12, 8, 4]), quadrant_task(4, seed=1)
    runs = []
    for capture in (False, True):
        model = tiny_net()
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9) if user_optimizer else None
        runs.append(_engine(fake_cuda_graphs, model, train, WeightedCE(), [drw_hook], capture, opt, test))
    eager, graph = runs
    # one capture for the default tensor-lr SGD; a float-lr optimizer is re-captured at each lr change
    assert graph.config["graph_captures"] == (3 if user_optimizer else 1) == FakeGraph.captures
    torch.testing.assert_close(torch.tensor(graph.train_loss), torch.tensor(eager.train_loss), rtol=1e-5, atol=1e-6)
    assert graph.test_accuracy == eager.test_accuracy


def test_capture_logic_recaptures_after_rebinding(fake_cuda_graphs, capsys):
    train = quadrant_task(12, seed=0)

    def rebind(state):
        if state.epoch == 2:
            state.loss_fn.weight = torch.tensor([0.25, 0.5, 1.0, 2.0])

    eager = _engine(fake_cuda_graphs, tiny_net(), train, WeightedCE(), [rebind], False)
    graph = _engine(fake_cuda_graphs, tiny_net(), train, WeightedCE(), [rebind], True)
    assert graph.config["graph_captures"] == 2 and "re-capturing" in capsys.readouterr().out
    torch.testing.assert_close(torch.tensor(graph.train_loss), torch.tensor(eager.train_loss), rtol=1e-5, atol=1e-6)


def test_failed_capture_leaves_the_model_untouched(fake_cuda_graphs, monkeypatch):
    def broken(body, device, reset_grads):
        body()  # a failing capture may have run part of the step
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(fake_cuda_graphs, "_capture", broken)
    model = tiny_net()
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(fake_cuda_graphs.GraphCaptureError, match="graph-safe") as info:
        _engine(fake_cuda_graphs, model, quadrant_task(8, seed=0), WeightedCE(), [], True)
    assert info.value.epoch == 0
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_fuse_check_catches_models_that_mix_samples():
    class BatchCentred(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(6, 4)
            self.fc2 = nn.Linear(4, 3)

        def forward(self, x):
            h = self.fc1(x)
            return self.fc2(h - h.mean(dim=0))  # mixes the samples of a batch: not fusable

    torch.manual_seed(0)
    with pytest.raises(ValueError, match="independently"):
        fuse_models([BatchCentred(), BatchCentred()])


def test_fuse_check_runs_on_the_training_images_size():
    # the probe was 16 x 16 always: a net that only takes 8 x 8 images skipped the check and mixed samples unseen
    class CentredFlatten(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(3, 4, 3, padding=1), nn.Linear(4 * 8 * 8, 3)

        def forward(self, x):
            h = self.conv(x)
            return self.fc((h - h.mean(dim=0)).flatten(1))  # mixes the samples of a batch

    torch.manual_seed(0)
    models = [CentredFlatten(), CentredFlatten()]
    with pytest.raises(ValueError, match="independently"):
        fuse_models(models, (3, 8, 8))
    from ltutorial.fast.fused import fit_groups

    train = quadrant_task(4, seed=0)  # 8 x 8 images
    cfg = FitConfig(epochs=1, batch_size=8, progress=False)
    with pytest.raises(ValueError, match="independently"):
        fit_groups(models, [nn.CrossEntropyLoss()] * 2, [[], []], train, None, cfg, torch.device("cpu"), None, False,
                   None)


def test_fit_groups_trains_unfusable_models_one_after_another_when_fuse_is_auto(capsys):
    """fit_many's default on CUDA (fuse=None): models whose forward mixes samples are trained one by one by
    ``one(model, loss_fn=, hooks=)``, the same runs as ``fit``; fuse=True raises instead (here on the CPU)."""
    from functools import partial

    from ltutorial.fast.fused import fit_groups

    class BatchCentredNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            h = self.conv(x).mean(dim=(2, 3))
            return self.fc(h - h.mean(dim=0))  # mixes the samples of a batch: not fusable

    def build():
        torch.manual_seed(0)
        return [BatchCentredNet(), BatchCentredNet()]

    train, kw = quadrant_task(8, seed=0), dict(epochs=2, batch_size=16, lr=0.05, progress=False)
    one = partial(fit, train=train, test=train, device="cpu", **kw)
    hooks, cfg = [[], [drw_hook]], FitConfig(**kw)
    args = (train, train, cfg, torch.device("cpu"), None)
    import ltutorial.fast.fused as fused_mod

    fusions = []
    original = fused_mod.fuse_models
    fused_mod.fuse_models = lambda ms, *shape: fusions.append(len(ms)) or original(ms, *shape)
    try:
        got = fit_groups(build(), [nn.CrossEntropyLoss(), WeightedCE()], hooks, *args, True, one)
    finally:
        fused_mod.fuse_models = original
    assert "cannot be fused" in capsys.readouterr().out
    assert fusions == [2], "one architecture that failed the check is not fused again"
    want = [fit(m, train, loss_fn=fn, hooks=h, test=train, device="cpu", **kw)
            for m, fn, h in zip(build(), [nn.CrossEntropyLoss(), WeightedCE()], hooks)]
    assert [h.engine for h in got] == ["eager", "eager"]
    assert [h.train_loss for h in got] == [h.train_loss for h in want]
    assert [h.test_accuracy for h in got] == [h.test_accuracy for h in want]
    with pytest.raises(ValueError, match="independently"):
        fit_groups(build(), [nn.CrossEntropyLoss(), WeightedCE()], hooks, *args, False, one)


def test_fit_groups_trains_the_same_fused_net_eagerly_after_a_failed_first_capture(fake_cuda_graphs, monkeypatch,
                                                                                    capsys):
    """fit_many's fused path with ``fast`` None: a capture that fails at epoch 0 restored the fused net, so the same
    net (fused once) trains eagerly: the numbers of a run with fast=False."""
    import ltutorial.fast.fused as fused_mod

    train, test = quadrant_task(8, seed=0), quadrant_task(4, seed=1)
    cfg = FitConfig(epochs=2, batch_size=16, lr=0.05, progress=False, augment=True, padding=1)

    def run(fast):
        return fused_mod.fit_groups(_models(2), [nn.CrossEntropyLoss(), WeightedCE()], [[], [drw_hook]], train, test,
                                    cfg, torch.device("cpu"), fast, True, None)

    want = run(False)

    def broken(body, device, reset_grads):
        body()
        raise RuntimeError("operation not permitted when stream is capturing")

    fusions = []
    monkeypatch.setattr(fake_cuda_graphs, "_capture", broken)
    monkeypatch.setattr(fused_mod, "resolve_fast", lambda fast, device: True)  # capture on the CPU
    monkeypatch.setattr(fused_mod, "fuse_models", lambda ms, *shape: fusions.append(1) or fuse_models(ms, *shape))
    got = run(None)
    assert "WARNING" in capsys.readouterr().out and len(fusions) == 1
    assert [h.engine for h in got] == ["fused2-eager"] * 2
    assert [h.train_loss for h in got] == [h.train_loss for h in want]
    assert [h.test_accuracy for h in got] == [h.test_accuracy for h in want]


def test_fit_groups_reraises_a_lone_models_capture_failure(monkeypatch):
    """A group of one trains through ``one`` (fit_on_engine, which handles its own capture failure): an error it
    raises is not retried on a fused net the group never built."""
    import ltutorial.fast.fused as fused_mod
    from ltutorial.fast.engine import GraphCaptureError

    train = quadrant_task(8, seed=0)
    cfg = FitConfig(epochs=1, batch_size=16, lr=0.05, progress=False)

    def one(model, loss_fn, hooks):
        raise GraphCaptureError("capture failed", epoch=0)

    monkeypatch.setattr(fused_mod, "resolve_fast", lambda fast, device: True)
    with pytest.raises(GraphCaptureError, match="capture failed"):
        fused_mod.fit_groups([TinyResNet(), tiny_net()],  # two architectures: two groups of one
                             [nn.CrossEntropyLoss()] * 2, [[], []], train, None, cfg, torch.device("cpu"), None,
                             True, one)


def test_fit_groups_fuses_a_lone_model_only_when_the_engine_trains_it(monkeypatch):
    """One model on CUDA goes to ``one`` (fit's own engine): no fused copy is built for nothing."""
    import ltutorial.fast.fused as fused_mod

    fusions, calls = [], []
    monkeypatch.setattr(fused_mod, "fuse_models", lambda ms, *shape: fusions.append(len(ms)) or fuse_models(ms, *shape))
    monkeypatch.setattr(fused_mod, "resolve_fast", lambda fast, device: True)
    cfg = FitConfig(epochs=1, batch_size=16, lr=0.05, progress=False)
    fused_mod.fit_groups([TinyResNet()], [nn.CrossEntropyLoss()], [[]], quadrant_task(8, seed=0), None, cfg,
                         torch.device("cpu"), None, True, lambda m, loss_fn, hooks: calls.append(m) or "history")
    assert fusions == [] and len(calls) == 1


# ------------------------------------------------------------------ graph safety, emulated on the CPU
_SYNCING = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "nonzero")


class HostSyncError(AssertionError):
    pass


def _forbid_host_syncs(fn):
    """Run ``fn`` with every Tensor method that copies a device value to the host raising, and with
    ``torch.tensor`` (host data -> a device copy) raising too: on a GPU each is illegal while a CUDA
    graph is being captured, and the CPU cannot tell otherwise."""

    def raiser(name):
        def f(*args, **kwargs):
            raise HostSyncError(f"{name} inside the captured step (a host sync / host-to-device copy on a GPU)")
        return f

    def guarded():
        saved = {n: torch.Tensor.__dict__.get(n) for n in _SYNCING}
        saved_tensor = torch.tensor
        try:
            for n in _SYNCING:
                setattr(torch.Tensor, n, raiser(f"Tensor.{n}"))
            torch.tensor = raiser("torch.tensor")
            fn()
        finally:
            torch.tensor = saved_tensor
            for n, v in saved.items():
                if v is None:
                    delattr(torch.Tensor, n)
                else:
                    setattr(torch.Tensor, n, v)

    return guarded


def test_host_sync_guard_catches_item_and_restores_tensor():
    x = torch.ones(2)
    with pytest.raises(HostSyncError):
        _forbid_host_syncs(lambda: x.sum().item())()
    with pytest.raises(HostSyncError):
        _forbid_host_syncs(lambda: bool(x.sum() > 0))()
    assert x.sum().item() == 2.0 and bool(x.any()) and torch.tensor([1]).tolist() == [1]


def test_reproduce_table_step_is_graph_safe_and_captured_once(fake_cuda_graphs, monkeypatch):
    """The reproduction's seven losses and hooks, fused as on a GPU (cosine head per model): the
    captured step never syncs with the host, the hooks' switches (DRW, VS -> TLA + ADRW) need no
    re-capture, and the result equals the same step run eagerly."""
    reproduce = pytest.importorskip("ltutorial.reproduce")
    models_mod = pytest.importorskip("ltutorial.models")
    losses_mod = pytest.importorskip("ltutorial.losses")
    from ltutorial.fast.fused import fuse_models

    monkeypatch.setattr(fake_cuda_graphs, "_capture",
                        lambda body, device, reset_grads: FakeGraph(_forbid_host_syncs(body), reset_grads))
    counts = torch.tensor([24, 12, 6, 3])
    train = quadrant_task(0, seed=0, counts=counts.tolist())
    names = list(reproduce.DEFAULT_METHODS)

    def build():
        models, losses, hooks = [], [], []
        for n in names:
            torch.manual_seed(0)
            m = models_mod.CifarResNet(8, 4, **reproduce.METHODS[n].model_kwargs)
            if reproduce.METHODS[n].sigmoid_bias:
                losses_mod.init_sigmoid_bias(m, 4)
            spec = reproduce.method_spec(n, counts, reweight_epoch=2)
            loss, hk = spec["loss"], spec["hooks"]
            models.append(m)
            losses.append(loss)
            hooks.append(tuple(hk))
        return models, losses, hooks

    runs = []
    for capture in (False, True):
        models, losses, hooks = build()
        fused = fuse_models(models)
        assert type(fused.net.fc).__name__ == "_PerModel"  # LDAM's cosine head next to linear heads
        cfg = FitConfig(epochs=3, batch_size=15, lr=0.05, momentum=0.9, weight_decay=2e-4,
                        schedule=lambda e: [0.5, 1.0, 0.1][e], augment=True, progress=False, amp=False, padding=1)
        members = Members(losses, hooks, models, lambda: fused.unfuse_into(models))
        runs.append(fake_cuda_graphs.run_engine(fused, train, None, members, cfg, device=torch.device("cpu"),
                                                capture=capture))
        if capture:
            # the hooks really switched the losses' state at epoch 2 (so "captured once" is a real check)
            assert len(hooks[names.index("ldam-drw")]) == 1  # DRW
            assert not torch.equal(losses[names.index("ldam-drw")].weight, torch.ones(4))
            assert torch.equal(losses[names.index("vs-tla-adrw")].scale, torch.ones(4))  # TLA: beta = 1
    eager, graph = runs
    assert graph[0].config["graph_captures"] == 1 == FakeGraph.captures
    for e, g in zip(eager, graph):
        torch.testing.assert_close(torch.tensor(g.train_loss), torch.tensor(e.train_loss), rtol=1e-5, atol=1e-6)


def test_cudnn_autotune_restores_the_flag_even_after_an_error():
    import torch

    from ltutorial.fast.engine import cudnn_autotune

    before = torch.backends.cudnn.benchmark
    with cudnn_autotune("cpu"):
        assert torch.backends.cudnn.benchmark == before  # only CUDA runs turn the autotuner on
    torch.backends.cudnn.benchmark = False
    try:
        with cudnn_autotune(torch.device("cuda")):
            assert torch.backends.cudnn.benchmark is True
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert torch.backends.cudnn.benchmark is False
    torch.backends.cudnn.benchmark = before


# ------------------------------------------------------------------ issue 13: the engines stop on NaN and check widths
def test_fast_engine_and_fused_stop_at_a_nan_loss_naming_the_model():
    from test_train import ScaledCE, nan_from

    train = quadrant_task(8, seed=0)
    kw = dict(epochs=3, batch_size=16, lr=0.05, device="cpu")
    with pytest.raises(FloatingPointError, match=r"^the training loss must stay finite; got nan at epoch 1 instead"):
        fit_fast(tiny_net(), train, loss_fn=ScaledCE(), capture=False, hooks=[nan_from(1)], **kw)
    with pytest.raises(FloatingPointError, match=r"got nan at epoch 2 for model 1 of 2 instead"):
        fit_many(_models(2), train, loss_fns=[ScaledCE(), ScaledCE()], hooks=[[], [nan_from(2)]], fuse=True, **kw)
    with pytest.raises(FloatingPointError, match=r"got nan at epoch 0 for model 0 of 2 instead"):
        fit_many(_models(2), train, loss_fns=[ScaledCE(), ScaledCE()], hooks=[[nan_from(0)], []], fuse=True, **kw)


def test_fast_engines_refuse_a_model_with_fewer_outputs_than_classes():
    from test_train import TinyNet

    train = quadrant_task(8, seed=0)
    kw = dict(epochs=1, batch_size=16, device="cpu")
    with pytest.raises(ValueError, match=r"^model must output one logit per class \(4 classes in the data\)"):
        fit_fast(TinyNet(num_classes=2), train, loss_fn=nn.CrossEntropyLoss(), capture=False, **kw)
    with pytest.raises(ValueError, match=r"^each model must output one logit per class \(4 classes in the data\)"):
        fit_many([TinyNet(3), TinyNet(3)], train, loss_fns=[nn.CrossEntropyLoss()] * 2, fuse=True, **kw)


# ------------------------------------------------------------------ issue 12: the engine tier is speed only
def test_learner_tier_trains_without_importing_the_engine_tier():
    """fit and fit_many off CUDA (fast=None, fuse=None) never import ltutorial.fast: deleting the engine
    tier changes no number, and the eager loop is the whole specification."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, torch\n"
        "sys.path.insert(0, 'tests')\n"
        "from test_train import quadrant_task, tiny_net\n"
        "from ltutorial.train import fit, fit_many, evaluate\n"
        "train = quadrant_task(8, seed=0)\n"
        "h = fit(tiny_net(0), train, loss_fn=torch.nn.CrossEntropyLoss(), epochs=1, batch_size=16, device='cpu',"
        " progress=False, test=train)\n"
        "hs = fit_many([tiny_net(0), tiny_net(1)], train, loss_fns=[torch.nn.CrossEntropyLoss()] * 2, epochs=1,"
        " batch_size=16, device='cpu', progress=False)\n"
        "evaluate(tiny_net(0), train)\n"
        "assert h.engine == 'eager' and [x.engine for x in hs] == ['eager', 'eager']\n"
        "print(sorted(m for m in sys.modules if m.startswith('ltutorial.fast')))\n"
    )
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_fit_on_engine_falls_back_to_the_eager_loop_only_when_fast_was_left_to_its_default(monkeypatch, capsys):
    """The CUDA seam of fit, with the graphed engine replaced by a stub: a failed first capture or a training set
    under one batch run the eager loop when ``fast`` is None (auto), and raise otherwise."""
    import ltutorial.fast.engine as engine

    failures = []

    def graphed(*args, **kwargs):
        err = engine.GraphCaptureError("no capture")
        err.epoch = failures[-1]
        raise err

    monkeypatch.setattr(engine, "run_engine", graphed)
    train = quadrant_task(4, seed=0)  # 16 images
    cfg = FitConfig(epochs=1, batch_size=8)
    eager = lambda *args: "eager"  # noqa: E731
    args = (tiny_net(), train, None, nn.CrossEntropyLoss(), (), cfg, None, torch.device("cpu"))
    failures.append(0)
    assert engine.fit_on_engine(eager, *args, auto=True) == "eager" and "WARNING" in capsys.readouterr().out
    with pytest.raises(engine.GraphCaptureError):
        engine.fit_on_engine(eager, *args, auto=False)
    failures.append(1)  # a capture that fails after training started is never hidden
    with pytest.raises(engine.GraphCaptureError):
        engine.fit_on_engine(eager, *args, auto=True)
    big = FitConfig(epochs=1, batch_size=32)
    assert engine.fit_on_engine(eager, *args[:5], big, None, args[7], auto=True) == "eager"
    assert "training images < batch_size 32" in capsys.readouterr().out


def test_fit_fast_gives_a_user_optimizer_its_lrs_back():
    # fit restored them, fit_fast did not: a second run started from the last epoch's scaled lr
    train, model = quadrant_task(8, seed=0), tiny_net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    kw = dict(epochs=1, batch_size=16, device="cpu", progress=False, schedule=lambda e: 0.1)
    runs = [fit_fast(model, train, loss_fn=nn.CrossEntropyLoss(), optimizer=opt, capture=False, **kw) for _ in range(2)]
    assert [h.lr for h in runs] == [[pytest.approx(0.01)]] * 2 and opt.param_groups[0]["lr"] == 0.1


def test_a_damped_sgd_is_refused_by_the_graph_and_trained_eagerly_under_auto(capsys):
    # the graph holds SGD's "buffer exists" path: with dampening d its first step would use (1 - d) g, not g
    from ltutorial.fast.engine import fit_on_engine

    train, model = quadrant_task(8, seed=0), tiny_net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, dampening=0.5)
    cfg, calls = FitConfig(epochs=1, batch_size=16, progress=False), []
    args = (model, train, None, nn.CrossEntropyLoss(), (), cfg, opt, torch.device("cpu"))
    with pytest.raises(ValueError, match=r"^optimizer must have dampening 0 for the CUDA-graph engine; got 0.5"):
        fit_on_engine(None, *args, auto=False, capture=True)
    assert fit_on_engine(lambda *a: calls.append(a) or "eager", *args, auto=True, capture=True) == "eager"
    assert len(calls) == 1 and "dampening 0.5: using the eager loop" in capsys.readouterr().out


def test_tensor_lr_sgd_sets_up_an_added_param_group_like_its_own():
    a, b = nn.Linear(2, 2), nn.Linear(2, 1)
    opt = TensorLRSGD(a.parameters(), lr=0.1, momentum=0.9)
    opt.add_param_group({"params": b.parameters(), "lr": 0.3})  # step() raised KeyError: 'momentum_buffer'
    assert isinstance(opt.param_groups[1]["lr"], torch.Tensor) and opt.param_groups[1]["base_lr"] == 0.3
    ref_a, ref_b = copy.deepcopy(a), copy.deepcopy(b)
    ref = torch.optim.SGD([{"params": ref_a.parameters()}, {"params": ref_b.parameters(), "lr": 0.3}], lr=0.1,
                          momentum=0.9)
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
    for _ in range(3):  # the same trajectory as torch's SGD (zero buffers: b = mu 0 + g on the first step)
        for net, o in (((a, b), opt), ((ref_a, ref_b), ref)):
            o.zero_grad()
            (net[1](net[0](x)) ** 2).mean().backward()
            o.step()
    torch.testing.assert_close(b.weight, ref_b.weight)
    torch.testing.assert_close(a.weight, ref_a.weight)


def test_a_failed_first_capture_gives_the_eager_fallback_the_base_lrs(fake_cuda_graphs, monkeypatch, capsys):
    # run_engine had set epoch 0's lr (base * 0.1) in the user's SGD: the fallback took it as its base (lr 0.001)
    from ltutorial.train.loop import _fit_eager

    def broken(body, device, reset_grads):
        body()
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(fake_cuda_graphs, "_capture", broken)
    model = tiny_net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    cfg = FitConfig(epochs=2, batch_size=16, progress=False, schedule=lambda e: 0.1)
    h = fake_cuda_graphs.fit_on_engine(_fit_eager, model, quadrant_task(8, seed=0), None, nn.CrossEntropyLoss(), [],
                                       cfg, opt, torch.device("cpu"), True, True)
    assert "fast path failed" in capsys.readouterr().out and h.lr == [pytest.approx(0.01)] * 2
