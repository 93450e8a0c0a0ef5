"""CUDA checks of ltutorial.ssl: one SimCLR / SDCLR step of the CIFAR ResNet-18 and device-side views."""

from __future__ import annotations

import math

import pytest
import torch

from ltutorial import models, ssl

pytestmark = pytest.mark.gpu


def _batch(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8).cuda()


def test_simclr_step_runs_on_cuda_bf16_channels_last():
    torch.manual_seed(0)
    net = ssl.SimCLRNet(models.resnet18_cifar(10)).cuda().to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    aug = ssl.ContrastiveAugment(mean=(0.49, 0.48, 0.45), std=(0.2, 0.2, 0.2))
    g = torch.Generator(device="cuda").manual_seed(0)
    x = aug(torch.cat([_batch()] * 2), g).contiguous(memory_format=torch.channels_last)
    assert x.is_cuda and x.dtype == torch.float32
    before = net.encoder.state_dict()
    first = {k: v.clone() for k, v in before.items() if v.is_floating_point()}
    with torch.autocast("cuda", dtype=torch.bfloat16):
        z1, z2 = net(x).chunk(2)
    loss = ssl.nt_xent(z1, z2, 0.2)
    assert math.isfinite(float(loss)) and 0 < float(loss) < 2 * math.log(127)
    opt.zero_grad()
    loss.backward()
    opt.step()
    after = net.encoder.state_dict()
    assert any(not torch.equal(first[k], after[k]) for k in first)


def test_augment_on_cuda_is_seeded_and_stays_on_device():
    x = _batch(32)
    aug = ssl.ContrastiveAugment()
    a = aug(x, torch.Generator(device="cuda").manual_seed(5), normalize=False)
    b = aug(x, torch.Generator(device="cuda").manual_seed(5), normalize=False)
    assert a.is_cuda and a.dtype == torch.float32 and a.shape == x.shape
    assert torch.equal(a, b)


def test_pretrain_sdclr_bcl_gh_on_cuda():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (96, 3, 32, 32), generator=g, dtype=torch.uint8)
    from ltutorial.data import ImageDataset

    data = ImageDataset(images, torch.arange(96) % 3, ["a", "b", "c"])
    gh = ssl.GHConfig(num_vertices=10, start_epoch=1, ramp_epochs=1, iterations=50)
    method = ssl.GH(ssl.BCL(ssl.SDCLR(prune_ratio=0.9)), gh)  # GH on BCL-D
    h = ssl.pretrain(models.SmallCNN(3, width=8), data, method, epochs=2, batch_size=32, warmup_epochs=1, proj_dim=16,
                     device="cuda", progress=False)
    assert h.device.startswith("cuda") and all(math.isfinite(v) for v in h.train_loss)
    assert method.base.base.sparsity[-1] == pytest.approx(0.9, abs=0.01) and method.weights == [0.0, 1.0]
    assert len(method.base.score_history) == 2 and float(method.prior.sum()) == pytest.approx(1.0, abs=1e-5)
