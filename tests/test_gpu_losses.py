"""Each loss gives the same value and gradient on CPU and CUDA (needs a GPU)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from ltutorial import losses as L

pytestmark = pytest.mark.gpu

COUNTS = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


def _tla_adrw(t0=0):
    """VS with DDC's gamma 0.05 and its TLA-ADRW hook, switched to phase 1 when ``t0`` is 0."""
    loss = L.VSLoss(COUNTS, gamma=0.05, tau=1.0)
    hook = L.TLAADRW(loss, COUNTS, t0=t0)
    hook(SimpleNamespace(epoch=0))
    return loss, hook


def _losses():
    return {
        "ce": L.CrossEntropyLoss(COUNTS),
        "focal": L.FocalLoss(1.0),
        "focal-sigmoid": L.FocalLoss(1.0, form="sigmoid"),
        "cb-softmax": L.ClassBalancedLoss(COUNTS, loss_type="softmax"),
        "cb-sigmoid": L.ClassBalancedLoss(COUNTS, loss_type="sigmoid"),
        "cb-focal": L.ClassBalancedLoss(COUNTS, loss_type="focal"),
        "ldam": L.LDAMLoss(COUNTS),
        "la": L.LogitAdjustedLoss(COUNTS),
        "vs": L.VSLoss(COUNTS),
        "tla-adrw": _tla_adrw()[0],
    }


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", list(_losses()))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_same_value_cpu_and_cuda(name, dtype):
    g = torch.Generator().manual_seed(0)
    z = (torch.randn(256, 10, generator=g) * 3).to(dtype)
    y = torch.randint(0, 10, (256,), generator=g)
    loss_cpu = _losses()[name]
    loss_gpu = _losses()[name].to("cuda")
    zc = z.clone().requires_grad_(True)
    zg = z.to("cuda").requires_grad_(True)
    vc, vg = loss_cpu(zc, y), loss_gpu(zg, y.to("cuda"))
    vc.backward()
    vg.backward()
    assert vg.device.type == "cuda"
    torch.testing.assert_close(vg.cpu(), vc, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(zg.grad.cpu().float(), zc.grad.float(), rtol=1e-3, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_drw_hook_updates_cuda_buffer_in_place():
    loss = L.LDAMLoss(COUNTS).to("cuda")
    ptr = loss.weight.data_ptr()
    L.DeferredReweighting(loss, COUNTS, start_epoch=0)(SimpleNamespace(epoch=0))
    assert loss.weight.data_ptr() == ptr
    torch.testing.assert_close(loss.weight.cpu(), L.class_balanced_weights(COUNTS))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kind", ["drw", "tla"])
def test_hooks_take_effect_inside_a_captured_cuda_graph(kind):
    """The epoch hooks write buffers in place, so a graph captured before the switch sees the new values."""
    dev = torch.device("cuda")
    if kind == "drw":
        loss = L.LDAMLoss(COUNTS).to(dev)
        hook = L.DeferredReweighting(loss, COUNTS, start_epoch=1)
        ref_after = L.LDAMLoss(COUNTS, weight=L.class_balanced_weights(COUNTS)).to(dev)
    else:
        loss, hook = _tla_adrw(t0=1)
        loss = loss.to(dev)
        ref_after = _tla_adrw()[0].to(dev)
    g = torch.Generator().manual_seed(0)
    z = (torch.randn(128, 10, generator=g)).to(dev)
    y = torch.randint(0, 10, (128,), generator=g).to(dev)
    hook(SimpleNamespace(epoch=0))
    static_out = torch.zeros((), device=dev)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):  # warm-up outside the graph, as CUDA-graph capture requires
        for _ in range(2):
            static_out.copy_(loss(z, y))
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out.copy_(loss(z, y))
    graph.replay()
    before = static_out.clone()
    hook(SimpleNamespace(epoch=1))  # switch: buffers change in place
    graph.replay()
    torch.testing.assert_close(static_out, ref_after(z, y), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(before, static_out)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", list(_losses()))
def test_forward_and_backward_make_no_host_sync(name):
    """A host sync in the loss would stall every step and break CUDA-graph capture."""
    loss = _losses()[name].to("cuda")
    g = torch.Generator().manual_seed(1)
    z = torch.randn(64, 10, generator=g).to("cuda").requires_grad_(True)
    y = torch.randint(0, 10, (64,), generator=g).to("cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        loss(z, y).backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(z.grad).all()
