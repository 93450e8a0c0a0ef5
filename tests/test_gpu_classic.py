"""CUDA runs of SMOTE, k-means and COG agree with the CPU (skipped without CUDA)."""

import numpy as np
import pytest
import torch

from ltutorial.classic import COG, kmeans
from ltutorial.data.synthetic import make_multimodal_rare
from ltutorial.sampling import SMOTE, RandomOverSampler, RandomUnderSampler
from ltutorial.sampling.neighbors import kneighbors

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def _data(seed=0):
    rng = np.random.default_rng(seed)
    counts = (3000, 700, 90, 40)
    y = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
    X = (rng.normal(size=(len(y), 16)) + y[:, None]).astype(np.float32)
    return X, y


def test_kneighbors_cuda_equals_cpu():
    X = torch.from_numpy(_data()[0][:2000])
    np.testing.assert_array_equal(kneighbors(X.cuda(), 5).cpu().numpy(), kneighbors(X, 5).numpy())


def test_smote_cuda_equals_cpu_and_stays_on_device():
    X, y = _data()
    cpu_X, cpu_y = SMOTE(random_state=0).fit_resample(X, y)
    # numpy in, computed on the GPU, numpy out
    gpu_X, gpu_y = SMOTE(random_state=0, device="cuda").fit_resample(X, y)
    assert isinstance(gpu_X, np.ndarray)
    np.testing.assert_array_equal(gpu_y, cpu_y)
    np.testing.assert_allclose(gpu_X, cpu_X, rtol=1e-5, atol=1e-5)
    # CUDA tensors in: CUDA tensors out
    tX, ty = SMOTE(random_state=0).fit_resample(torch.from_numpy(X).cuda(), torch.from_numpy(y).cuda())
    assert tX.is_cuda and ty.is_cuda
    np.testing.assert_allclose(tX.cpu().numpy(), cpu_X, rtol=1e-5, atol=1e-5)


def test_random_samplers_cuda_equal_cpu():
    X, y = _data()
    for cls in (RandomOverSampler, RandomUnderSampler):
        a = cls(random_state=0).fit_resample(X, y)[0]
        b = cls(random_state=0).fit_resample(torch.from_numpy(X).cuda(), torch.from_numpy(y).cuda())[0]
        np.testing.assert_array_equal(b.cpu().numpy(), a)


def test_kmeans_and_cog_on_cuda():
    X, y = make_multimodal_rare(600, 30, 4, random_state=0)
    a = kmeans(X, 4, random_state=0)
    b = kmeans(torch.from_numpy(X).cuda(), 4, random_state=0)
    assert b.labels.is_cuda
    # the same partition (labels may only be permuted) and the same inertia
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(a.labels, b.labels.cpu().numpy()) == 1.0
    assert b.inertia == pytest.approx(a.inertia, rel=1e-4)
    p_cpu = COG(4, random_state=0).fit(X, y).predict(X)
    p_gpu = COG(4, random_state=0, device="cuda").fit(X, y).predict(X)
    assert np.mean(p_gpu == p_cpu) > 0.999


def test_cog_clusters_where_cuda_input_lives(monkeypatch):
    import ltutorial.classic.cog as cog_module

    seen = []

    def spy(X, k, **kwargs):
        seen.append(torch.device(kwargs["device"]).type)
        return kmeans(X, k, **kwargs)

    monkeypatch.setattr(cog_module, "kmeans", spy)
    X, y = make_multimodal_rare(600, 30, 4, random_state=0)
    cog = COG(4, random_state=0).fit(torch.from_numpy(X).cuda(), torch.from_numpy(y).cuda())
    assert seen == ["cuda"]
    pred = cog.predict(torch.from_numpy(X).cuda())
    assert pred.is_cuda
    assert np.mean(pred.cpu().numpy() == COG(4, random_state=0).fit(X, y).predict(X)) > 0.999


def test_smote_cifar_shape_is_fast_on_gpu():
    import time

    counts = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]  # CIFAR-10-LT, imbalance 100
    g = torch.Generator(device="cuda").manual_seed(0)
    y = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)]).cuda()
    X = torch.rand(len(y), 3072, generator=g, device="cuda") * 255
    SMOTE(random_state=0).fit_resample(X[::6], y[::6])  # warm-up (CUDA context, cuBLAS handle)
    torch.cuda.synchronize()
    t = time.perf_counter()
    Xo, yo = SMOTE(random_state=0).fit_resample(X, y)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t
    assert torch.bincount(yo).tolist() == [5000] * 10
    assert seconds < 1.0, seconds


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_sampler_keeps_cuda_tensors_on_cuda(dtype):
    # issue 13: tensors in, tensors out on the same device and dtype, for each sampler; the same
    # seed gives the same labels as the CPU run
    from ltutorial.sampling import SMOTEUnderSampler, make_smote_under

    X, y = _data()
    Xc, yc = torch.from_numpy(X).to(dtype).cuda(), torch.from_numpy(y).cuda()
    samplers = [SMOTE(random_state=0), RandomOverSampler(random_state=0),
                RandomUnderSampler(random_state=0), make_smote_under("median", random_state=0),
                SMOTEUnderSampler({1: 800, 2: 800, 3: 800}, {0: 800}, random_state=0)]
    for sampler in samplers:
        Xo, yo = sampler.fit_resample(Xc, yc)
        assert Xo.is_cuda and yo.is_cuda and Xo.dtype == dtype and yo.dtype == torch.int64, sampler
        _, y_cpu = sampler.fit_resample(Xc.cpu(), yc.cpu())
        np.testing.assert_array_equal(yo.cpu().numpy(), y_cpu.numpy())
    # numpy in, computed on the GPU (device="cuda"), numpy out with the dtype kept
    Xn, _ = SMOTE(random_state=0, device="cuda").fit_resample(X.astype(np.float64), y)
    assert isinstance(Xn, np.ndarray) and Xn.dtype == np.float64
    np.testing.assert_array_equal(Xn[: len(X)], X.astype(np.float64))
