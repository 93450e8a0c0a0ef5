"""ltutorial.models: shapes, parameter counts by formula, option-A shortcuts, cosine head, init."""

import math

import pytest
import torch
import torch.nn.functional as F

from ltutorial import models as lm
from ltutorial.models.resnet_cifar import BasicBlock

torch.set_num_threads(1)


def _build(name, num_classes, in_channels, size):
    return lm.build_model(name, num_classes, in_channels=in_channels)


def _params(model):
    return sum(p.numel() for p in model.parameters())


def expected_cifar_resnet_params(depth, num_classes, in_channels=3, normed=False):
    """Count by formula: 3x3 convs without bias, BN = 2 params per channel, option-A shortcuts free."""
    n = (depth - 2) // 6
    total = in_channels * 16 * 9 + 2 * 16
    c_in = 16
    for width in (16, 32, 64):
        for _ in range(n):
            total += c_in * width * 9 + width * width * 9 + 2 * 2 * width
            c_in = width
    total += 64 * num_classes + (0 if normed else num_classes)
    return total


@pytest.mark.parametrize("name", sorted(lm.MODELS))
@pytest.mark.parametrize("in_channels, size", [(3, 32), (1, 8)])
def test_output_and_feature_shapes(name, in_channels, size):
    torch.manual_seed(0)
    model = _build(name, 7, in_channels, size).eval()
    x = torch.randn(3, in_channels, size, size)
    with torch.no_grad():
        out = model(x)
        feats = model.forward_features(x)
    assert out.shape == (3, 7)
    assert feats.shape == (3, model.feature_dim)
    torch.testing.assert_close(model.fc(feats), out)


def test_resnet32_parameter_count_matches_formula():
    assert _params(lm.resnet32(10)) == expected_cifar_resnet_params(32, 10)
    assert _params(lm.resnet32(10)) == 464_154  # "about 0.46M"
    assert _params(lm.resnet32(100, normed=True)) == expected_cifar_resnet_params(32, 100, normed=True)
    assert _params(lm.resnet32(10, in_channels=1)) == expected_cifar_resnet_params(32, 10, in_channels=1)
    for depth in (8, 20, 44):
        assert _params(lm.CifarResNet(depth, 10)) == expected_cifar_resnet_params(depth, 10)


def test_resnet32_structure():
    model = lm.resnet32(10)
    assert [len(s) for s in (model.layer1, model.layer2, model.layer3)] == [5, 5, 5]
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 31  # + fc = 32 weighted layers
    assert model.feature_dim == 64


def test_option_a_shortcut_is_parameter_free_subsample_and_zero_pad():
    block = BasicBlock(16, 32, stride=2)
    conv_params = sum(p.numel() for n, p in block.named_parameters() if n.startswith(("conv", "bn")))
    assert conv_params == sum(p.numel() for p in block.parameters())
    x = torch.randn(2, 16, 8, 8)
    sc = block._shortcut(x)
    assert sc.shape == (2, 32, 4, 4)
    torch.testing.assert_close(sc[:, 8:24], x[:, :, ::2, ::2])
    assert sc[:, :8].abs().sum() == 0 and sc[:, 24:].abs().sum() == 0
    identity = BasicBlock(16, 16, stride=1)
    assert identity._shortcut(x) is x
    # no projection modules anywhere in a ResNet-32
    assert not any(isinstance(m, torch.nn.Conv2d) and m.kernel_size == (1, 1) for m in lm.resnet32().modules())


def test_resnet18_cifar_stem_and_size():
    model = lm.resnet18_cifar(10)
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
    assert model.feature_dim == 512
    # torchvision's resnet18 has 11,689,512 parameters with a 7x7 stem and a 1000-way fc;
    # 3x3 stem: -64*3*(49-9); 10-way fc: -(512+1)*990
    assert _params(model) == 11_689_512 - 64 * 3 * 40 - 513 * 990


def test_normed_linear_outputs_are_cosines():
    torch.manual_seed(0)
    head = lm.NormedLinear(16, 5).requires_grad_(False)
    torch.testing.assert_close(head.weight.norm(dim=0), torch.ones(5))
    x = 100 * torch.randn(32, 16)
    out = head(x)
    assert out.abs().max() <= 1 + 1e-6
    expected = torch.stack([F.cosine_similarity(x, head.weight[:, j].expand_as(x), dim=1) for j in range(5)], 1)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    # x along a weight column gives a cosine of exactly 1
    assert head(head.weight[:, 2].unsqueeze(0))[0, 2].item() == pytest.approx(1.0, abs=1e-6)
    model = lm.resnet32(10, normed=True)
    assert isinstance(model.fc, lm.NormedLinear)
    with torch.no_grad():
        assert model(torch.randn(4, 3, 32, 32)).abs().max() <= 1 + 1e-6


def test_kaiming_normal_init_std():
    torch.manual_seed(0)
    model = lm.resnet32(10)
    w = model.layer3[1].conv1.weight  # 64 x 64 x 3 x 3, fan_in 576
    assert w.std().item() == pytest.approx(math.sqrt(2 / 576), rel=0.05)
    assert model.fc.weight.std().item() == pytest.approx(math.sqrt(2 / 64), rel=0.2)


@pytest.mark.parametrize("name", sorted(lm.MODELS))
def test_init_is_deterministic_under_manual_seed(name):
    def make(seed):
        torch.manual_seed(seed)
        return _build(name, 10, 3, 32).state_dict()

    a, b, c = make(0), make(0), make(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point() and a[k].numel() > 1)


@pytest.mark.parametrize("name", ["resnet8", "small_cnn", "resnet18_cifar"])
@pytest.mark.parametrize("normed", [False, True])
def test_channels_last_and_bf16_autocast_forward_backward(name, normed):
    torch.manual_seed(0)
    model = _build(name, 10, 3, 32) if not normed else lm.build_model(name, 10, normed=True)
    model = model.to(memory_format=torch.channels_last)
    x = torch.randn(4, 3, 32, 32).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
        loss = F.cross_entropy(out.float(), torch.arange(4))
    loss.backward()
    assert torch.isfinite(out).all()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    model.eval()
    with torch.no_grad():
        ref = model(x.contiguous())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x).float()
    assert (low - ref).abs().max() < 0.1 * max(1.0, ref.abs().max().item())
    if normed:
        assert out.dtype == torch.float32 and out.abs().max() <= 1 + 1e-6


def test_build_model_errors():
    with pytest.raises(ValueError, match=r"name must be one of .*resnet32.*got 'resnet33'"):
        lm.build_model("resnet33", 10)
    with pytest.raises(ValueError, match=r"name must be one of .*; got \['resnet32'\] instead"):
        lm.build_model(["resnet32"], 10)
    with pytest.raises(ValueError, match="do not fit"):
        lm.build_model("resnet32", 10, width=3)
    assert lm.build_model("small_cnn", 3, in_channels=1, width=4).feature_dim == 16


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: lm.CifarResNet(33), "depth must be 6n \\+ 2"),
        (lambda: lm.CifarResNet(2), "depth must be an integer >= 8"),
        (lambda: lm.resnet32(0), "num_classes must be an integer >= 1"),
        (lambda: lm.resnet18_cifar(10, in_channels=0), "in_channels must be an integer >= 1"),
        (lambda: lm.SmallCNN(10, width=0), "width must be an integer >= 1"),
        (lambda: lm.NormedLinear(0, 3), "in_features must be an integer >= 1"),
    ],
)
def test_bad_arguments_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", sorted(lm.MODELS))
def test_cuda_channels_last_bf16(name):
    model = _build(name, 10, 3, 32).cuda().to(memory_format=torch.channels_last)
    x = torch.randn(8, 3, 32, 32, device="cuda").to(memory_format=torch.channels_last)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(x)
    out.float().sum().backward()
    assert out.device.type == "cuda" and torch.isfinite(out).all()
