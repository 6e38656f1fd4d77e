"""The TRIBE v2 encoder module: release layout, and the fast forward pass against a plain reading of the spec."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nforge_app.errors import UserInputError
from nforge_app.models import _tribe_net
from nforge_app.models._tribe_net import (
    EncoderSpec,
    TribeEncoder,
    bf16_supported,
    int8_supported,
    resolve_fast,
    resolve_precision,
)

from _reference import WEIGHT_KINDS, correlation, oracle, spread_weights

SPEC_DIR = Path(__file__).resolve().parents[1] / "data"
SMALL = EncoderSpec(feature_dims={"text": (2, 24), "audio": (2, 16), "video": (2, 20)}, n_outputs=40,
                    n_output_timesteps=10, hidden=96, depth=2, heads=2, ff_mult=2, max_seq_len=64, low_rank=32)


def small_encoder(spec: EncoderSpec = SMALL, seed: int = 0) -> TribeEncoder:
    """A seeded random encoder whose norms and residual scales are not all ones (so mistakes show)."""
    torch.manual_seed(seed)
    encoder = TribeEncoder(spec, fast=False)
    with torch.no_grad():
        for name, parameter in encoder.named_parameters():
            if name.endswith(".g") or name.endswith("residual_scale"):
                parameter.uniform_(0.5, 1.5)
            elif name == "predictor.bias":
                parameter.normal_()
    return encoder.eval()


def random_features(spec: EncoderSpec, batch: int, n_steps: int, seed: int = 1, skip: tuple = ()) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {m: torch.randn(batch, n_layers, dim, n_steps, generator=generator)
            for m, (n_layers, dim) in spec.feature_dims.items() if m not in skip}


# ---------------------------------------------------------------------------------------------------------
def test_default_architecture_has_the_release_parameter_count():
    encoder = TribeEncoder(EncoderSpec(), device="meta")
    assert sum(p.numel() for p in encoder.parameters()) == 177_205_397
    assert encoder.state_dict()["encoder.rotary_pos_emb.inv_freq"].shape == (36,)


def test_state_dict_names_and_shapes_match_the_release_listing():
    listing = SPEC_DIR / "tribev2_state_dict.txt"
    if not listing.is_file():
        pytest.skip(f"{listing} is not here")
    expected = {}
    for line in listing.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, shape = line.split(maxsplit=1)
            expected[name] = tuple(int(n) for n in shape.strip("()").replace(",", " ").split())
    found = {k: tuple(v.shape) for k, v in TribeEncoder(EncoderSpec(), device="meta").state_dict().items()}
    assert found == expected
    assert list(found) == list(TribeEncoder(EncoderSpec(), device="meta").state_dict())


@pytest.mark.parametrize("skip", [(), ("video",), ("text", "audio")])
def test_fp32_forward_matches_the_plain_reading_of_the_spec(skip):
    encoder = small_encoder()
    features = random_features(SMALL, batch=2, n_steps=23, skip=skip)
    for pool in (True, False):
        got = encoder(features, pool_outputs=pool, fast=False)
        want = oracle(encoder, features, pool_outputs=pool)
        assert got.shape == want.shape == (2, 40, 10 if pool else 23)
        torch.testing.assert_close(got.double(), want, atol=1e-4, rtol=1e-4)


def test_three_dimensional_input_means_one_layer():
    spec = EncoderSpec(feature_dims={"text": (1, 24), "audio": (2, 16)}, n_outputs=12, n_output_timesteps=5,
                       hidden=96, depth=1, heads=2, ff_mult=2, max_seq_len=32, low_rank=16)
    encoder = small_encoder(spec)
    features = {"text": torch.randn(1, 24, 10), "audio": torch.randn(1, 2, 16, 10)}
    torch.testing.assert_close(encoder(features, fast=False).double(), oracle(encoder, features), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(encoder(features, fast=False), encoder({**features, "text": features["text"][:, None]},
                                                                        fast=False))


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_fast_paths_correlate_with_fp32(monkeypatch, precision):
    if precision == "int8" and not int8_supported("cpu"):
        pytest.skip("this CPU has no int8 dot products (AVX512-VNNI or AMX)")
    monkeypatch.setenv(_tribe_net.INT8_ENV, "1" if precision == "int8" else "0")
    encoder = small_encoder()
    features = random_features(SMALL, batch=2, n_steps=40)
    exact, fast = encoder(features, fast=False), encoder(features, fast=True)
    assert encoder.precision(True) == precision and encoder.precision(False) == "fp32"
    assert fast.dtype == torch.float32 and fast.shape == exact.shape
    assert correlation(fast, exact) > 0.999
    linears = [linear for layer in encoder._plan(precision).layers for linear in layer[3:]]
    assert all(isinstance(linear, _tribe_net._Int8Linear) == (precision == "int8") for linear in linears)


needs_int8 = pytest.mark.skipif(not int8_supported("cpu"), reason="this CPU has no int8 dot products")


@needs_int8
def test_int8_product_is_close_and_falls_back_on_outlier_inputs(caplog):
    generator = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(64, 48, generator=generator), torch.randn(64, generator=generator)
    linear = _tribe_net._Int8Linear(weight, bias, rows=30)
    x = torch.randn(2, 30, 48, generator=generator)

    def relative_error(got, want):
        return float((got - want).norm() / want.norm())

    got = linear(x, gelu=True)
    assert got.shape == (2, 30, 64) and got.dtype == torch.float32
    assert relative_error(got, F.gelu(F.linear(x, weight, bias))) < 0.03 and linear._fallback is None
    x[..., 5] *= 200.0  # one outlier channel: 8 bits over its range would leave the others a level or two
    with caplog.at_level("INFO", logger=_tribe_net.__name__):
        got = linear(x)
    assert linear._fallback is not None and "outliers" in caplog.text
    assert relative_error(got, F.linear(x, weight, bias)) < 0.01


@needs_int8
def test_a_weight_int8_would_spoil_stays_bf16(monkeypatch, caplog):
    monkeypatch.setenv(_tribe_net.INT8_ENV, "1")
    encoder = small_encoder()
    with torch.no_grad():  # one entry per row 40x the row's largest: 8 bits leave the rest a level or two
        weight = encoder.encoder.layers[1][1].ff[2].weight
        weight[:, 0] = 40 * weight.abs().amax(1)
    assert _tribe_net._Int8Linear(weight, None, rows=20).weight_error > 1.4 * _tribe_net.INT8_MAX_WEIGHT_ERROR
    features = random_features(SMALL, batch=1, n_steps=20)
    with caplog.at_level("INFO", logger=_tribe_net.__name__):
        fast = encoder(features, fast=True)
    first, last = encoder._plan("int8").layers[1][3:]
    assert isinstance(first, _tribe_net._Int8Linear) and isinstance(last, _tribe_net._Linear)
    assert "stays bfloat16" in caplog.text
    assert correlation(fast, encoder(features, fast=False)) > 0.999


def test_pooling_before_the_head_equals_pooling_after():
    encoder = small_encoder()
    features = random_features(SMALL, batch=1, n_steps=20)
    unpooled = encoder(features, pool_outputs=False, fast=False)
    torch.testing.assert_close(encoder(features, fast=False), F.adaptive_avg_pool1d(unpooled, 10), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("fast", [False, True])
def test_output_selection_equals_slicing(fast):
    encoder = small_encoder()
    features = random_features(SMALL, batch=2, n_steps=20)
    indices = torch.tensor([39, 0, 7, 7, 21])
    full = encoder(features, fast=fast)
    tolerance = 1e-5 if not fast else 2e-2
    torch.testing.assert_close(encoder(features, indices=indices, fast=fast), full[:, indices], atol=tolerance,
                               rtol=tolerance)
    with pytest.raises(UserInputError, match="accepted: 0 to 39"):
        encoder(features, indices=torch.tensor([40]))


def test_wrong_feature_shapes_are_named():
    encoder = small_encoder()
    with pytest.raises(ValueError, match=r"audio features have \(L, D\) = \(2, 17\).*expects \(L, D\) = \(2, 16\)"):
        encoder({"audio": torch.randn(1, 2, 17, 8)})
    with pytest.raises(UserInputError, match="unknown: 'image'; accepted: text, audio, video"):
        encoder({"image": torch.randn(1, 2, 16, 8)})
    with pytest.raises(UserInputError, match="none given; accepted"):
        encoder({})
    with pytest.raises(UserInputError, match="disagree"):
        encoder({"audio": torch.randn(1, 2, 16, 8), "text": torch.randn(1, 2, 24, 9)})
    with pytest.raises(UserInputError, match="1 to 64"):
        encoder({"audio": torch.randn(1, 2, 16, 65)})


def test_weights_changed_in_place_are_seen():
    encoder = small_encoder()
    features = random_features(SMALL, batch=1, n_steps=12)
    before = encoder(features, fast=False)
    with torch.no_grad():
        encoder.encoder.layers[0][1].to_q.weight.mul_(2.0)
        encoder.predictor.bias.add_(1.0)
    after = encoder(features, fast=False)
    assert not torch.allclose(before + 1.0, after, atol=1e-3)
    torch.testing.assert_close(after.double(), oracle(encoder, features), atol=1e-4, rtol=1e-4)


def test_an_encoder_made_under_inference_mode_runs():
    with torch.inference_mode():
        encoder = small_encoder()
    features = random_features(SMALL, batch=1, n_steps=12)
    torch.testing.assert_close(encoder(features, fast=False).double(), oracle(encoder, features), atol=1e-4, rtol=1e-4)


def test_precision_choice(monkeypatch):
    monkeypatch.delenv(_tribe_net.PRECISION_ENV, raising=False)
    assert resolve_precision(None, "cpu") == "fp32" and resolve_fast(None, "cpu") is False  # exact by default
    assert TribeEncoder(SMALL, device="meta").precision() == "fp32"
    assert resolve_fast(False, "cpu") is False and resolve_fast(True, "cpu") is True
    assert resolve_precision("bf16", "cpu") == "bf16" and resolve_precision("FP32", "cpu") == "fp32"
    monkeypatch.setenv(_tribe_net.INT8_ENV, "1")
    assert resolve_precision(True, "cpu") == ("int8" if int8_supported("cpu") else "bf16")
    assert resolve_precision("fast", "cuda") == "bf16" and resolve_precision(False, "cpu") == "fp32"
    monkeypatch.setenv(_tribe_net.INT8_ENV, "0")
    assert resolve_precision(True, "cpu") == "bf16"
    monkeypatch.setenv(_tribe_net.PRECISION_ENV, "bf16")  # the environment opts in ...
    assert resolve_precision(None, "cpu") == "bf16" and TribeEncoder(SMALL, device="meta").precision() == "bf16"
    assert resolve_precision("fp32", "cpu") == "fp32"  # ... and an explicit choice wins
    monkeypatch.setenv(_tribe_net.PRECISION_ENV, "fp16")
    with pytest.raises(UserInputError, match="NFORGE_TRIBE_PRECISION must be one of fp32, bf16, int8 or fast"):
        resolve_precision(None, "cpu")
    monkeypatch.setattr(_tribe_net, "int8_supported", lambda device: False)
    with pytest.raises(UserInputError, match="int8 dot products"):
        resolve_precision("int8", "cpu")


def test_cpu_features_are_read_from_the_kernel(monkeypatch):
    flags = _tribe_net.cpu_flags()
    if not flags:
        pytest.skip("no /proc/cpuinfo here")
    assert {"sse2"} <= flags  # every x86-64 CPU; the list is real, not empty or made up
    for check in ("_is_avx512_bf16_supported", "_is_amx_tile_supported", "_is_vnni_supported"):
        monkeypatch.setattr(torch.cpu, check, lambda: False, raising=False)
    assert bf16_supported("cpu") == bool({"avx512_bf16", "amx_bf16"} & flags)
    assert int8_supported("cpu") == (bool({"avx512_vnni", "amx_int8"} & flags) and hasattr(torch.ops.onednn,
                                                                                           "qlinear_pointwise"))


@pytest.mark.parametrize("kind", WEIGHT_KINDS)
def test_default_path_matches_the_reference_on_each_weight_spread(kind):
    spec = EncoderSpec(feature_dims={"text": (2, 48), "audio": (2, 32), "video": (2, 40)}, n_outputs=60,
                       n_output_timesteps=10, hidden=192, depth=2, heads=3, ff_mult=4, max_seq_len=64, low_rank=48)
    encoder = spread_weights(TribeEncoder(spec).eval(), kind, seed=4)
    features = random_features(spec, batch=2, n_steps=40)
    want = oracle(encoder, features)
    got = encoder(features).double()  # the default precision: fp32
    assert encoder.precision() == "fp32"
    scale = float(want.abs().max())
    torch.testing.assert_close(got, want, atol=1e-4 * scale, rtol=1e-4)


@pytest.mark.slow
def test_release_size_fast_windows_correlate_with_fp32(monkeypatch):
    torch.manual_seed(0)
    encoder = TribeEncoder(EncoderSpec()).eval()
    features = random_features(encoder.spec, batch=1, n_steps=200)
    exact = encoder(features, fast=False)
    assert exact.shape == (1, 20484, 100)
    for int8 in ("0", "1"):
        monkeypatch.setenv(_tribe_net.INT8_ENV, int8)
        assert correlation(encoder(features, fast=True), exact) >= 0.9995, encoder.precision(True)


@pytest.mark.gpu
def test_cuda_forward_matches_the_cpu_oracle():
    encoder = small_encoder()
    features = random_features(SMALL, batch=2, n_steps=30, skip=("text",))
    want = oracle(encoder, features)
    on_gpu = encoder.to("cuda")
    assert resolve_fast(None, "cuda") is False and resolve_precision("fast", "cuda") == "bf16"  # fp32 by default
    torch.testing.assert_close(on_gpu(features, fast=False).cpu().double(), want, atol=1e-4, rtol=1e-4)
    assert correlation(on_gpu(features, fast=True).cpu(), want) > 0.999
    hidden = on_gpu.hidden(features, fast=False)
    assert torch.equal(on_gpu.readout(hidden, fast=False), on_gpu(features, fast=False))
    alpha = torch.tensor([0.5, 1.0], device="cuda", requires_grad=True)
    plain = on_gpu.hidden(features, modality_scale={"audio": alpha})
    on_gpu.readout(plain).sum().backward()
    assert torch.isfinite(alpha.grad).all() and alpha.grad.abs().sum() > 0
    torch.testing.assert_close(plain[1].detach(), hidden[1], atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------------------------------------------------
# The trunk / readout seam, the absent-modality rule, modality scales and the differentiable path


@pytest.mark.parametrize("pool", [True, False])
def test_forward_is_the_readout_of_the_trunk(pool):
    encoder = small_encoder()
    features = random_features(SMALL, batch=2, n_steps=23, skip=("video",))
    hidden = encoder.hidden(features, pool_outputs=pool, fast=False)
    assert hidden.shape == (2, 10 if pool else 23, SMALL.hidden) and hidden.dtype == torch.float32
    assert torch.equal(encoder.readout(hidden, fast=False), encoder(features, pool_outputs=pool, fast=False))
    indices = torch.tensor([3, 0, 39])
    assert torch.equal(encoder.readout(hidden, indices, fast=False),
                       encoder(features, pool_outputs=pool, indices=indices, fast=False))
    assert torch.equal(encoder.hidden(embeddings=encoder.project(features, fast=False), pool_outputs=pool, fast=False),
                       hidden)


def test_the_head_is_affine():
    encoder = small_encoder()
    first, second = (encoder.hidden(random_features(SMALL, batch=1, n_steps=20, seed=s), fast=False) for s in (1, 2))
    zero = encoder.readout(torch.zeros_like(first), fast=False)
    torch.testing.assert_close(encoder.readout(0.3 * first + 0.7 * second, fast=False) - zero,
                               0.3 * (encoder.readout(first, fast=False) - zero)
                               + 0.7 * (encoder.readout(second, fast=False) - zero), atol=1e-5, rtol=1e-5)


def test_an_absent_modality_is_zeros_after_the_projector():
    encoder = small_encoder()
    features = random_features(SMALL, batch=2, n_steps=20)
    without = {m: x for m, x in features.items() if m != "audio"}
    absent = encoder.hidden(without, fast=False)
    # alpha 0 gives exactly the numbers of the modality left out, as a float or per batch row
    assert torch.equal(encoder.hidden(features, fast=False, modality_scale={"audio": 0.0}), absent)
    assert torch.equal(encoder.hidden(features, fast=False, modality_scale={"audio": torch.zeros(2)}), absent)
    half = encoder.hidden(features, fast=False, modality_scale={"audio": torch.tensor([0.0, 1.0])})
    assert torch.equal(half[0], absent[0]) and torch.equal(half[1], encoder.hidden(features, fast=False)[1])
    assert torch.equal(encoder.hidden(features, fast=False, modality_scale={"audio": 1.0}),
                       encoder.hidden(features, fast=False))
    # raw zero features are not the same: they go through the projector's bias
    zero_audio = encoder.hidden({**without, "audio": torch.zeros_like(features["audio"])}, fast=False)
    assert (zero_audio - absent).abs().max() > 1e-3
    # the oracle of the spec agrees: zeros after the projector
    torch.testing.assert_close(encoder.readout(absent, fast=False).double(), oracle(encoder, without), atol=1e-4,
                               rtol=1e-4)


def test_bad_scales_and_embeddings_are_refused():
    encoder = small_encoder()
    features = random_features(SMALL, batch=2, n_steps=12)
    for scale in (1.5, -0.1, torch.tensor([0.5, 2.0]), torch.tensor(0.5)):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            encoder.hidden(features, fast=False, modality_scale={"audio": scale})
    with pytest.raises(UserInputError, match="unknown: 'image'"):
        encoder.hidden(features, fast=False, modality_scale={"image": 0.5})
    with pytest.raises(ValueError, match="either features or embeddings"):
        encoder.hidden()
    with pytest.raises(ValueError, match=r"\(B, T, 32\)"):
        encoder.hidden(embeddings={"audio": torch.zeros(2, 12, 31)})


def test_the_differentiable_path_matches_fp32_and_carries_gradients():
    encoder = small_encoder()
    features = random_features(SMALL, batch=2, n_steps=20)
    exact = encoder.hidden(features, fast=False)
    plain = encoder.hidden(features, differentiable=True)
    assert not plain.is_inference()
    torch.testing.assert_close(plain, exact, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(encoder.readout(plain, differentiable=True), encoder.readout(exact, fast=False),
                               atol=1e-5, rtol=1e-5)

    def total(alpha: torch.Tensor) -> torch.Tensor:
        return encoder.readout(encoder.hidden(features, modality_scale={"video": alpha})).sum()

    alpha = torch.tensor([0.3, 0.8], requires_grad=True)
    total(alpha).backward()
    assert alpha.grad is not None and alpha.grad.abs().min() > 0
    step = 1e-2  # central differences of the float32 path
    for row in range(2):
        shift = torch.zeros(2)
        shift[row] = step
        with torch.no_grad():
            numeric = (total(alpha.detach() + shift) - total(alpha.detach() - shift)) / (2 * step)
        torch.testing.assert_close(alpha.grad[row], numeric, rtol=2e-2, atol=1e-2)

    embeddings = encoder.project(features, differentiable=True)
    torch.testing.assert_close(embeddings["text"], encoder.project(features, fast=False)["text"], atol=1e-5,
                               rtol=1e-5)
    text = embeddings["text"].clone().requires_grad_()
    out = encoder.readout(encoder.hidden(embeddings={**embeddings, "text": text}))
    direction = torch.randn(text.shape, generator=torch.Generator().manual_seed(3))
    out.sum().backward()
    assert text.grad.shape == text.shape and text.grad.abs().sum() > 0
    with torch.no_grad():
        shifted = [encoder.readout(encoder.hidden(embeddings={**embeddings, "text": text + sign * 1e-2 * direction}))
                   .sum() for sign in (1, -1)]
    torch.testing.assert_close((text.grad * direction).sum(), (shifted[0] - shifted[1]) / 2e-2, rtol=2e-2, atol=1e-2)


def test_the_differentiable_path_runs_on_an_encoder_made_under_inference_mode():
    with torch.inference_mode():
        encoder = small_encoder()
    features = random_features(SMALL, batch=1, n_steps=12)
    alpha = torch.tensor([0.5], requires_grad=True)
    encoder.readout(encoder.hidden(features, modality_scale={"text": alpha})).sum().backward()
    assert torch.isfinite(alpha.grad).all() and alpha.grad.abs().sum() > 0
