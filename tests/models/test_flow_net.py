"""The networks of the flow-matching encoder: shapes, padding, sampling and tiny-batch overfitting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nforge_app.analysis import train_stage1
from nforge_app.models._flow_net import (
    FlowMatchingDecoder,
    MultiSubjectConvLinearEncoder,
    UNet1DEstimator,
    build_module,
)

SMALL_STAGE2 = dict(latent_dim=16, channels=[16, 16], n_heads=2, head_dim=8, n_mid_blocks=1, dropout=0.0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_stage1_shapes_and_stream_subsets():
    torch.manual_seed(0)
    model = MultiSubjectConvLinearEncoder({"text": 6, "audio": 3}, n_subjects=4, n_outputs=7, embed_dim=8,
                                          kernel_size=5)
    text, audio = torch.randn(2, 11, 6), torch.randn(2, 11, 3)
    both = model({"text": text, "audio": audio})
    assert both.shape == (2, 4, 11, 7)
    # Subjects differ only through their own decoders.
    assert not torch.allclose(both[:, 0], both[:, 1])
    assert model({"text": text}).shape == (2, 4, 11, 7)
    with pytest.raises(ValueError, match="video"):
        model({"video": text})


def test_stage1_uses_a_temporal_kernel():
    torch.manual_seed(0)
    model = MultiSubjectConvLinearEncoder({"text": 2}, n_subjects=1, n_outputs=3, embed_dim=4, kernel_size=5)
    x = torch.zeros(1, 20, 2)
    x[0, 10] = 1.0
    baseline = model({"text": torch.zeros(1, 20, 2)})
    changed = (model({"text": x}) - baseline).abs().sum(dim=(0, 1, 3)) > 1e-6
    # An impulse at step 10 reaches steps 8..12 and nothing else (kernel 5, same padding).
    assert changed.nonzero().flatten().tolist() == [8, 9, 10, 11, 12]


def test_estimator_needs_a_multiple_of_its_time_factor():
    net = UNet1DEstimator(latent_dim=4, n_subjects=2, channels=[8, 8, 8], n_heads=1, head_dim=4)
    assert net.time_factor == 4
    x, mu, mask = torch.randn(3, 4, 12), torch.randn(3, 4, 12), torch.ones(3, 1, 12)
    field = net(x, mask, mu, torch.rand(3), torch.tensor([0, 1, 0]))
    assert field.shape == (3, 4, 12)
    with pytest.raises(ValueError, match="multiples of 8"):
        UNet1DEstimator(latent_dim=4, n_subjects=2, channels=[12])


@pytest.mark.parametrize("n_time", [13, 4, 1])
def test_stage2_loss_and_sample_for_any_length(n_time):
    torch.manual_seed(0)
    model = FlowMatchingDecoder(n_outputs=10, n_subjects=4, **{**SMALL_STAGE2, "channels": [16, 16, 16]})
    assert model.estimator.time_factor == 4
    x1, mu = torch.randn(2, 10, n_time), torch.randn(2, 10, n_time)
    subjects = torch.tensor([0, 3])
    total, cfm, recon = model.loss(x1, mu, subjects)
    assert all(torch.isfinite(v) for v in (total, cfm, recon))
    assert torch.isclose(total, cfm + 0.1 * recon)
    total.backward()
    assert model.proj_in.weight.grad is not None and model.proj_in.weight.grad.abs().sum() > 0
    assert model.eval().sample(mu, subjects, n_steps=3).shape == (2, 10, n_time)


def test_padding_does_not_leak_into_real_steps():
    """Steps past the end are masked: the field on real steps ignores what padding holds."""
    torch.manual_seed(0)
    net = UNet1DEstimator(latent_dim=4, n_subjects=1, channels=[8, 8], n_heads=1, head_dim=4).eval()
    x, mu = torch.randn(1, 4, 8), torch.randn(1, 4, 8)
    mask = torch.ones(1, 1, 8)
    mask[:, :, 7:] = 0
    noisy = x.clone()
    noisy[:, :, 7:] = 100.0
    args = (torch.tensor([0.3]), torch.tensor([0]))
    with torch.no_grad():
        a, b = net(x, mask, mu, *args), net(noisy, mask, mu, *args)
    assert torch.allclose(a[..., :7], b[..., :7], atol=1e-5)


def test_sampling_is_seeded():
    torch.manual_seed(0)
    model = FlowMatchingDecoder(n_outputs=10, n_subjects=4, **SMALL_STAGE2).eval()
    mu, subjects = torch.randn(3, 10, 9), torch.tensor([0, 1, 2])

    def draw(seed):
        return model.sample(mu, subjects, n_steps=4, generator=torch.Generator().manual_seed(seed))

    first = draw(0)
    assert first.shape == (3, 10, 9)
    assert torch.equal(first, draw(0))
    assert not torch.allclose(first, draw(1))
    steps = []
    model.sample(mu, subjects, n_steps=4, on_step=lambda done, total: steps.append((done, total)))
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_stage1_overfits_a_tiny_batch():
    rng = np.random.default_rng(0)
    # 2 x 10 time points, 32 feature channels: enough to fit random targets exactly.
    features = {"text": rng.standard_normal((2, 10, 24), dtype=np.float32),
                "audio": rng.standard_normal((2, 10, 8), dtype=np.float32)}
    fmri = rng.standard_normal((2, 4, 10, 20), dtype=np.float32)
    _, history = train_stage1(features, fmri, epochs=100, lr=3e-2, batch_size=2, val_fraction=0.0, device="cpu",
                              model_config={"embed_dim": 32, "kernel_size": 5})
    assert history["train_loss"][-1] < 0.05 * history["train_loss"][0]
    assert np.isnan(history["val_r"]).all() and history["best_epoch"] == 100


def test_stage2_overfits_a_tiny_batch():
    """Stage 2 memorises one batch together with its noise draw (t and z fixed), as its loss must allow.

    With fresh noise at every step the OT-CFM loss has a floor that falls only slowly (the field must
    undo the noise with a 1 / (1 - t) gain), so that is checked less strictly in test_flow_model.py.
    """
    torch.manual_seed(0)
    model = FlowMatchingDecoder(n_outputs=20, n_subjects=4, **{**SMALL_STAGE2, "channels": [32, 32],
                                                                 "head_dim": 16})
    optimiser = torch.optim.AdamW(model.parameters(), lr=5e-3)
    low_rank = torch.randn(8, 6, 12)  # fMRI is low-rank across parcels; the 16-d latent can hold it
    x1 = torch.einsum("bkt,kv->bvt", low_rank, torch.randn(6, 20) / 6**0.5)
    mu, subjects = x1 + 0.5 * torch.randn_like(x1), torch.arange(8) % 4
    losses = []
    for _ in range(80):
        total = model.loss(x1, mu, subjects, generator=torch.Generator().manual_seed(0))[0]
        optimiser.zero_grad()
        total.backward()
        optimiser.step()
        losses.append(total.item())
    assert losses[-1] < 0.05 * losses[0]


def test_build_module_rebuilds_from_config():
    stage2 = FlowMatchingDecoder(n_outputs=10, n_subjects=2, **SMALL_STAGE2)
    rebuilt = build_module({**stage2.config, "extractors": ["lite-audio"]})
    assert rebuilt.config == stage2.config
    rebuilt.load_state_dict(stage2.state_dict())
    with pytest.raises(ValueError, match="kind"):
        build_module({"kind": "stage3"})
