"""Training the two stages of the flow-matching encoder on planted data."""

from __future__ import annotations

import numpy as np
import pytest

from nforge_app.analysis import train_stage1, train_stage2
from nforge_app.errors import UserInputError
from nforge_app.models._flow_net import FlowMatchingDecoder

from _releases import SMALL_FLOW_STAGE2

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_training_entry_points_on_clips_of_different_lengths():
    rng = np.random.default_rng(0)
    lengths = (12, 9, 10)
    latent = [rng.standard_normal((n, 3), dtype=np.float32) for n in lengths]
    to_features = rng.standard_normal((3, 6), dtype=np.float32)
    features = [{"text": x @ to_features} for x in latent]
    mixing = rng.standard_normal((4, 3, 10), dtype=np.float32)
    fmri = [np.einsum("tk,skv->stv", x, mixing) + 0.1 * rng.standard_normal((4, len(x), 10), dtype=np.float32)
            for x in latent]
    with pytest.raises(UserInputError, match="window_trs"):
        train_stage1(features, fmri, epochs=1, val_fraction=0.0, device="cpu")
    stage1, history1 = train_stage1(features, fmri, epochs=30, lr=3e-2, batch_size=2, val_fraction=0.34,
                                    window_trs=8, device="cpu", model_config={"embed_dim": 8, "kernel_size": 3})
    assert len(history1["train_loss"]) == len(history1["val_r"]) == 30
    assert history1["train_loss"][-1] < history1["train_loss"][0]
    assert history1["val_r"][history1["best_epoch"] - 1] == max(history1["val_r"]) > 0.8
    stage2, history2 = train_stage2(stage1, features, fmri, epochs=3, lr=3e-3, batch_size=8, val_fraction=0.34,
                                    window_trs=8, n_steps=2, device="cpu", model_config=SMALL_FLOW_STAGE2)
    assert isinstance(stage2, FlowMatchingDecoder) and not stage2.training
    assert set(history2) == {"train_loss", "train_cfm", "train_recon", "val_r", "val_r_stage1"}
    assert all(len(history2[k]) == 3 for k in ("train_loss", "train_cfm", "train_recon", "val_r"))
    assert np.isfinite(history2["val_r"]).all() and history2["val_r_stage1"] == pytest.approx(max(history1["val_r"]))


def test_stage2_training_lowers_the_flow_loss():
    rng = np.random.default_rng(0)
    features = {"text": rng.standard_normal((2, 8, 6), dtype=np.float32)}
    fmri = np.einsum("ntk,kv->ntv", rng.standard_normal((2, 8, 4)), rng.standard_normal((4, 12)))
    fmri = np.repeat(fmri[:, None], 4, axis=1).astype(np.float32)
    stage1, _ = train_stage1(features, fmri, epochs=2, val_fraction=0.0, device="cpu",
                             model_config={"embed_dim": 8, "kernel_size": 3})
    _, history = train_stage2(stage1, features, fmri, epochs=40, lr=5e-3, batch_size=8, val_fraction=0.0,
                              device="cpu", model_config={**SMALL_FLOW_STAGE2, "channels": [32, 32], "head_dim": 16})
    first, last = np.mean(history["train_cfm"][:3]), np.mean(history["train_cfm"][-5:])
    assert last < 0.7 * first
    assert history["train_recon"][-1] < 0.5 * history["train_recon"][0]
