"""Release folders of the models in their real formats, small and seeded, for tests and benchmarks.

- :func:`write_tribe_release`: a TRIBE v2 release (``config.yaml`` with its Python tags + ``best.ckpt`` with
  ``model.``-prefixed keys), by default the small one of :data:`SMALL_CONFIG` / :data:`SMALL_BUILD_ARGS`;
- :func:`write_flow_release`: a flow-matching model directory (``stage1_best.pt`` + ``stage2.pt``).

The benchmarks import this module too (``bench/`` puts ``tests/`` on the path), so each format is written in
one place.
"""

from __future__ import annotations

from pathlib import Path

import torch

SMALL_BUILD_ARGS = {"feature_dims": {"text": (2, 24), "audio": (2, 16), "video": (2, 20)}, "n_outputs": 40,
                    "n_output_timesteps": 100}
SMALL_FLOW_STAGE2 = dict(latent_dim=16, channels=[16, 16], n_heads=2, head_dim=8, n_mid_blocks=1, dropout=0.0)

# The structure of the released config.yaml (see tests/data/tribev2_config.yaml), with small sizes and the
# two Python tags a release carries.
SMALL_CONFIG = """\
infra:
    folder: .
    gpus_per_node: 1
data:
    study:
        names:
        - Algonauts2025Bold
        path: .
        transforms: !!python/object/apply:collections.OrderedDict
        -   -   - extractaudio
                -   infra: null
                    overwrite: false
                    name: ExtractAudioFromVideo
            -   - chunkvideos
                -   infra:
                        folder: !!python/object/apply:pathlib.PosixPath
                        - cache
                        - features
                        mode: cached
                    max_duration: 60.0
                    name: ChunkEvents
        name: MultiStudyLoader
    neuro:
        frequency: 1.0
        offset: 5.0
        name: FmriExtractor
    text_feature:
        model_name: meta-llama/Llama-3.2-3B
        device: {device}
        layers: [0.5, 0.75, 1.0]
        cache_n_layers: 20
        layer_aggregation: group_mean
        frequency: 2.0
        batch_size: 4
        name: HuggingFaceText
    audio_feature:
        model_name: facebook/w2v-bert-2.0
        device: {device}
        layers: [0.5, 0.75, 1.0]
        cache_n_layers: 20
        frequency: 2.0
        name: Wav2VecBert
    video_feature:
        image:
            model_name: facebook/vjepa2-vitg-fpc64-256
            device: {device}
            layers: [0.5, 0.75, 1.0]
            cache_n_layers: 20
            name: HuggingFaceImage
        clip_duration: 4.0
        frequency: 2.0
        name: HuggingFaceVideo
    frequency: 2.0
    features_to_use: [text, audio, video]
    duration_trs: 100
    overlap_trs_train: 0
    stride_drop_incomplete: false
seed: 33
brain_model_config:
    projector:
        input_size: null
        hidden_sizes: null
        norm_layer: layer
        activation_layer: gelu
        bias: true
        dropout: 0.0
        name: Mlp
    combiner: null
    encoder:
        heads: 2
        depth: 2
        cross_attend: false
        causal: false
        attn_flash: false
        ff_mult: 2
        use_scalenorm: true
        use_rmsnorm: {use_rmsnorm}
        rel_pos_bias: false
        alibi_pos_bias: false
        rotary_pos_emb: true
        rotary_xpos: false
        residual_attn: false
        scale_residual: true
        name: TransformerEncoder
    time_pos_embedding: true
    subject_embedding: false
    subject_layers:
        n_subjects: 200
        bias: true
        name: SubjectLayers
    hidden: 96
    max_seq_len: 256
    extractor_aggregation: cat
    layer_aggregation: cat
    linear_baseline: false
    modality_dropout: 0.3
    low_rank_head: 32
    temporal_smoothing: null
    name: FmriEncoder
checkpoint_path: ./best.ckpt
"""


def small_config(device: str = "cuda", use_rmsnorm: str = "false") -> str:
    """The text of :data:`SMALL_CONFIG` with its extractors pinned to ``device``."""
    return SMALL_CONFIG.format(device=device, use_rmsnorm=use_rmsnorm)


def load_config_text(text: str) -> dict:
    """A ``config.yaml`` text read as NForge reads a release's."""
    import yaml

    from nforge_app.models._tribe_release import ReleaseConfigLoader

    return yaml.load(text, Loader=ReleaseConfigLoader)  # noqa: S506


def small_spec():
    """The encoder sizes of the small release."""
    from nforge_app.models._tribe_release import spec_from_release

    return spec_from_release(load_config_text(small_config()), SMALL_BUILD_ARGS)


SMALL_FEATURE_DIMS = {"text": (2, 24), "audio": (2, 16), "video": (2, 20)}
"""(layers, dims) of each modality's features in the small release."""


def small_inputs(duration_s: float, modalities=("text", "audio", "video"), seed: int = 0):
    """Random 2-Hz features of the small release for ``duration_s`` seconds, and a matching stimulus."""
    import numpy as np

    from nforge_app.features import FeatureSet
    from nforge_app.stimuli import Stimulus

    n = int(np.ceil(duration_s * 2 - 1e-9))
    rng = np.random.default_rng(seed)
    arrays = {m: rng.standard_normal((*SMALL_FEATURE_DIMS[m], n)).astype(np.float32) for m in modalities}
    features = FeatureSet(arrays, rate_hz=2.0, n_steps=n, duration_s=duration_s,
                          extractor_ids={m: f"test-{m}" for m in modalities})
    return features, Stimulus(kind="video", source="<test>", content_hash="h", duration_s=duration_s)


def write_tribe_release(folder: Path, config_text: str | None = None, build_args: dict = SMALL_BUILD_ARGS, *,
                        state_dict: dict | None = None, extra: dict | None = None, seed: int = 0,
                        **save_options) -> Path:
    """Write a TRIBE v2 release folder in the real format and return it.

    Parameters
    ----------
    folder : Path
        Created if needed.
    config_text : str, optional
        The ``config.yaml`` text (default: :func:`small_config`).
    build_args : dict
        ``model_build_args`` of the checkpoint (with ``config_text``, they give the encoder's sizes).
    state_dict : dict, optional
        The weights; by default a ``TribeEncoder`` of those sizes initialised after ``torch.manual_seed(seed)``.
    extra : dict, optional
        More top-level checkpoint entries (to test refusals).
    **save_options
        Passed to ``torch.save``.
    """
    from nforge_app.models._tribe_net import TribeEncoder
    from nforge_app.models._tribe_release import spec_from_release

    config_text = small_config() if config_text is None else config_text
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(config_text)
    if state_dict is None:
        torch.manual_seed(seed)
        state_dict = TribeEncoder(spec_from_release(load_config_text(config_text), build_args)).state_dict()
    checkpoint = {"state_dict": {"model." + k: v for k, v in state_dict.items()},
                  "model_build_args": build_args, **(extra or {})}
    torch.save(checkpoint, folder / "best.ckpt", **save_options)
    return folder


def write_flow_release(directory: Path, feature_dims: dict | None = None, *, stage2_name: str = "stage2.pt",
                       extractors=("lite-audio",), n_outputs: int = 1000, seed: int = 0):
    """A small untrained flow-matching model directory (by default: lite-audio features, 8 channels, into 1000
    parcels); returns the two stages ``(stage1, stage2)`` in eval mode."""
    from nforge_app.models._flow_net import FlowMatchingDecoder, MultiSubjectConvLinearEncoder
    from nforge_app.models.flow import save_checkpoint

    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    stage1 = MultiSubjectConvLinearEncoder(feature_dims or {"audio": 8}, n_subjects=4, n_outputs=n_outputs,
                                           embed_dim=8, kernel_size=5)
    stage2 = FlowMatchingDecoder(n_outputs=n_outputs, n_subjects=4, **SMALL_FLOW_STAGE2)
    save_checkpoint(stage1, directory / "stage1_best.pt", extractors=extractors)
    save_checkpoint(stage2, directory / stage2_name)
    return stage1.eval(), stage2.eval()
