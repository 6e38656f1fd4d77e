"""A tiny TRIBE v2 encoder with planted truth: region A reads only audio, region B only text.

The release is written in the real format (``config.yaml`` + ``best.ckpt``, :func:`_releases.write_tribe_release`,
the small sizes of :data:`_releases.SMALL_BUILD_ARGS`: hidden 96, 2 (attention, feed-forward) pairs, 2 heads,
40 outputs, 100-s windows at 2 Hz) and loads through :class:`~nforge_app.models.tribe.TribeModel` like any
release; only its weights are chosen by hand.

How the weights are built (hidden channels 0-31 are text, 32-63 audio, 64-95 video, as the modality order):

- projectors: the identity from the first 32 feature values of a modality to its 32 channels, no bias (so
  zero features and an absent modality both give zeros); the video projector leaves channel 95 alone;
- ``time_pos_embed``: a constant :data:`CONSTANT` on channel 95 at every step and nothing else. Every
  ScaleNorm divides by the norm of the whole stream, which would mix the modalities; with this constant
  dominating that norm (|features| ~ 3 against 100), the mixing is about 1e-3 of a modality's own part;
- first attention layer: zero queries and keys (so the softmax is uniform over the 200 steps of a window),
  identity values, output ``GAMMA`` times the identity except channel 95 (the constant stays constant), and
  the norm gain ``CONSTANT / sqrt(96)`` so that the normed stream is the stream (up to the mixing above).
  Each channel at step t becomes ``x_t + GAMMA * mean_s x_s``: every output time hears every stimulus
  moment of its own channels, as a transformer does, not only its own step;
- second attention layer and both feed-forward layers: zero outputs (the residual stream passes unchanged);
- final norm gain ``CONSTANT / sqrt(96)``; low-rank head row 0 = mean of the audio channels, row 1 = mean
  of the text channels, row 2 = mean of the video channels; predictor: outputs :data:`REGION_A` read row 0,
  :data:`REGION_B` row 1, :data:`REGION_MIXED` half of each, :data:`REGION_VIDEO` row 2; no bias.

So region A's prediction is ``a_t + GAMMA * mean_s a_s`` of the audio channels' mean ``a`` (likewise B with
text), up to about 1e-3 through the norms.

The stimulus of :func:`planted_inputs` (:data:`DURATION_S` long, one window) has small seeded noise in every
modality (std :data:`NOISE`), an audio event (every audio feature = :data:`EVENT`) during the second
starting at :data:`AUDIO_EVENT_S` and a text event during the second starting at :data:`TEXT_EVENT_S`. With
``GAMMA`` 50 and 200 steps per window, the audio event adds ``50 * 2 / 200 = 0.5`` to region A at every
output time and 1 more at its own second; the noise moves a step's mean by about 0.1 / sqrt(32) ~ 0.02.
So, robustly: A is > 99 % audio and B > 99 % text (exact Shapley), and at every output time the stimulus
moment that drives A most is the audio event, and for B the text event.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from _releases import SMALL_BUILD_ARGS, load_config_text, small_config, write_tribe_release

CONSTANT = 100.0
GAMMA = 50.0
EVENT = 1.0
NOISE = 0.1
DURATION_S = 40.0
RATE_HZ = 2.0
AUDIO_EVENT_S = 8.0
TEXT_EVENT_S = 26.0
REGION_A = np.arange(0, 10)  # audio only
REGION_B = np.arange(10, 20)  # text only
REGION_MIXED = np.arange(20, 30)  # half audio, half text
REGION_VIDEO = np.arange(30, 40)  # video only
_WIDTH = 32  # channels per modality (hidden 96 / 3)
_CONSTANT_CHANNEL = 95


def planted_state_dict() -> dict[str, torch.Tensor]:
    """The planted weights, as a ``TribeEncoder`` state dict of the small release's sizes."""
    from nforge_app.models._tribe_net import TribeEncoder
    from nforge_app.models._tribe_release import spec_from_release

    spec = spec_from_release(load_config_text(small_config()), SMALL_BUILD_ARGS)
    state = {key: torch.zeros_like(value) for key, value in TribeEncoder(spec, device="cpu").state_dict().items()}
    hidden = spec.hidden
    for modality in spec.feature_dims:
        weight = state[f"projectors.{modality}.weight"]
        weight[:, :_WIDTH] = torch.eye(_WIDTH)
        if modality == "video":
            weight[_CONSTANT_CHANNEL - 2 * _WIDTH] = 0.0
    state["time_pos_embed"][..., _CONSTANT_CHANNEL] = CONSTANT
    gain = CONSTANT / math.sqrt(hidden)
    for key in state:
        if key.endswith(".g"):
            state[key].fill_(gain)
        elif key.endswith("residual_scale"):
            state[key].fill_(1.0)
        elif key.endswith("inv_freq"):
            steps = torch.arange(0, spec.rotary_dim, 2, dtype=torch.float32)
            state[key] = 1.0 / 10000.0 ** (steps / spec.rotary_dim)
    state["encoder.layers.0.1.to_v.weight"] = torch.eye(hidden)
    mixing = GAMMA * torch.eye(hidden)
    mixing[_CONSTANT_CHANNEL, _CONSTANT_CHANNEL] = 0.0
    state["encoder.layers.0.1.to_out.weight"] = mixing
    head = state["low_rank_head.weight"]
    head[0, _WIDTH:2 * _WIDTH] = 1.0 / _WIDTH  # audio
    head[1, :_WIDTH] = 1.0 / _WIDTH  # text
    head[2, 2 * _WIDTH:_CONSTANT_CHANNEL] = 1.0 / (_WIDTH - 1)  # video
    weights = state["predictor.weights"]
    weights[0, 0, REGION_A] = 1.0
    weights[0, 1, REGION_B] = 1.0
    weights[0, 0, REGION_MIXED] = 0.5
    weights[0, 1, REGION_MIXED] = 0.5
    weights[0, 2, REGION_VIDEO] = 1.0
    return state


def write_planted_release(folder: Path) -> Path:
    """Write the planted release folder (real format) and return it."""
    return write_tribe_release(folder, state_dict=planted_state_dict())


def planted_model(folder: Path, cache_dir: Path):
    """A loaded :class:`TribeModel` (fp32) of the planted release written to ``folder``."""
    from nforge_app.config import Settings
    from nforge_app.models.tribe import TribeModel

    model = TribeModel(Settings(cache_dir=cache_dir), variant=str(write_planted_release(folder)), device="cpu",
                       precision="fp32")
    model.load()
    return model


def planted_inputs(seed: int = 0):
    """``(FeatureSet, Stimulus)`` of the planted stimulus: noise, an audio event and a text event."""
    from nforge_app.features import FeatureSet
    from nforge_app.stimuli import Stimulus

    n = round(DURATION_S * RATE_HZ)
    rng = np.random.default_rng(seed)
    arrays = {m: (NOISE * rng.standard_normal((*dims, n))).astype(np.float32)
              for m, dims in SMALL_BUILD_ARGS["feature_dims"].items()}
    for modality, onset_s in (("audio", AUDIO_EVENT_S), ("text", TEXT_EVENT_S)):
        start = round(onset_s * RATE_HZ)
        arrays[modality][..., start:start + round(RATE_HZ)] = EVENT
    features = FeatureSet(arrays, rate_hz=RATE_HZ, n_steps=n, duration_s=DURATION_S,
                          extractor_ids={m: f"planted-{m}" for m in arrays})
    stimulus = Stimulus(kind="video", source="<planted>", content_hash="planted", duration_s=DURATION_S)
    return features, stimulus
