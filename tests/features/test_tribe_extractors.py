"""The TRIBE v2 extractors on tiny random models: shapes, determinism, and the numbers the spec defines."""

import numpy as np
import pytest
import torch

from nforge_app.features import FeatureExtractor, n_steps
from nforge_app.features._hf import load_hf_model
from nforge_app.features._layers import group_hidden_states, layer_group_indices
from nforge_app.features.tribe import TribeAudioExtractor, TribeTextExtractor, TribeVideoExtractor
from nforge_app.stimuli import AudioTrack, Stimulus, VideoReader, Word

from _tiny_models import HIDDEN, save_tiny_llama, save_tiny_vjepa2, save_tiny_w2v_bert

GROUPS_20 = layer_group_indices(5, cache_n_layers=20)  # the tiny models have 5 hidden states
GROUPS_PLAIN = layer_group_indices(5)


pytestmark = pytest.mark.usefixtures("one_torch_thread", "float32_features")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-extractors")
    return {"text": save_tiny_llama(root / "llama"), "audio": save_tiny_w2v_bert(root / "w2v"),
            "video": save_tiny_vjepa2(root / "vjepa2")}


class SyntheticVideo(VideoReader):
    """A moving gradient; records which frames were asked for."""

    def __init__(self, duration_s: float, fps: float = 25.0, width: int = 48, height: int = 40):
        self.path, self.fps, self.width, self.height, self.duration_s = "synthetic", fps, width, height, duration_s
        self.requested: list[np.ndarray] = []

    def frames_at(self, times_s, size=None):
        index = np.clip(np.rint(np.asarray(times_s) * self.fps).astype(int), 0, int(self.duration_s * self.fps) - 1)
        self.requested.append(index)
        yy, xx = np.mgrid[0:self.height, 0:self.width]
        return np.stack([np.stack([(3 * xx + k) % 256, (5 * yy + 2 * k) % 256, (xx + yy + 7 * k) % 256], axis=-1)
                         for k in index]).astype(np.uint8)


WORDS = "the quick brown fox jumps over the lazy dog while people listen".split()


def stimulus(duration_s=8.0, words=None, audio_s=None, video=None):
    words = tuple(Word(w, 0.5 * i + 0.1, 0.3) for i, w in enumerate(WORDS)) if words is None else tuple(words)
    audio = None
    if audio_s is not None:
        t = np.arange(int(audio_s * 16000)) / 16000
        audio = AudioTrack((0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(t))).astype(np.float32), 16000)
    return Stimulus(kind="video", source="test", content_hash="h", duration_s=duration_s, words=words, audio=audio,
                    video=video)


# ---------------------------------------------------------------------------------------------------------------
# text
def test_text_features_shape_dtype_and_protocol(tiny):
    extractor = TribeTextExtractor(tiny["text"])
    assert isinstance(extractor, FeatureExtractor) and extractor.rate_hz == 2.0
    features = extractor.extract(stimulus())
    assert features.shape == (2, HIDDEN, n_steps(8.0, 2.0)) and features.dtype == np.float32
    assert np.isfinite(features).all()
    np.testing.assert_array_equal(features, extractor.extract(stimulus()))


def test_text_bins_without_words_are_zero_and_words_sum(tiny):
    words = [Word("hello", 0.0, 0.2), Word("world", 0.1, 0.2), Word("again", 2.0, 1.4)]
    features = TribeTextExtractor(tiny["text"]).extract(stimulus(6.0, words))
    used = np.abs(features).sum(axis=(0, 1)) > 0
    assert used.tolist() == [True, False, False, False, True, True, True, False, False, False, False, False]
    np.testing.assert_allclose(features[..., 4], features[..., 6], rtol=1e-6)  # "again" spans bins 4-6


def _context_vector(tokenizer, model, words, n_own_tokens=None):
    """The spec's word vector, computed directly: mean over the word's own tokens, per state, then groups."""
    ids = tokenizer(" ".join(words), add_special_tokens=False)["input_ids"]
    prefix = tokenizer(" ".join(words[:-1]), add_special_tokens=False)["input_ids"] if len(words) > 1 else []
    n_own = n_own_tokens or len(ids) - len(prefix)
    with torch.inference_mode():
        states = model(torch.tensor([ids]), output_hidden_states=True).hidden_states
    return group_hidden_states([s[0, -n_own:].mean(dim=0) for s in states], GROUPS_20).numpy()


def test_text_word_vector_is_the_mean_of_its_own_tokens_in_context(tiny):
    tokenizer, model = load_hf_model("tokenizer", tiny["text"]), load_hf_model("model", tiny["text"])
    words = [Word(w, 2.0 * i, 0.2) for i, w in enumerate(["Hello", "neurons", "listening"])]
    features = TribeTextExtractor(tiny["text"], reference_batching=False).extract(stimulus(6.0, words))
    for i in range(3):
        expected = _context_vector(tokenizer, model, [w.text for w in words[:i + 1]])
        np.testing.assert_allclose(features[..., 4 * i], expected, rtol=1e-4, atol=1e-5)


def test_text_reference_batching_averages_the_padded_batch_length(tiny):
    """Word 1 of a batch ("Hello") sits in a row padded to the longest; the reference averages all of it."""
    tokenizer, model = load_hf_model("tokenizer", tiny["text"]), load_hf_model("model", tiny["text"])
    words = [Word("Hello", 0.0, 0.2), Word("neurons", 2.0, 0.2)]
    features = TribeTextExtractor(tiny["text"], batch_size=2).extract(stimulus(4.0, words))
    short = tokenizer("Hello", add_special_tokens=False)["input_ids"]
    long = tokenizer("Hello neurons", add_special_tokens=False)["input_ids"]
    pad = tokenizer.convert_tokens_to_ids("<|finetune_right_pad_id|>")
    ids = torch.tensor([[pad] * (len(long) - len(short)) + short, long])
    mask = (torch.arange(len(long)) >= len(long) - len(short)).long()
    with torch.inference_mode():
        states = model(ids, attention_mask=torch.stack([mask, torch.ones_like(mask)]),
                       output_hidden_states=True).hidden_states
    expected = group_hidden_states([s[0].mean(dim=0) for s in states], GROUPS_20).numpy()  # all positions
    np.testing.assert_allclose(features[..., 0], expected, rtol=1e-4, atol=1e-5)
    # the longest row of the batch is not affected: exactly its own tokens
    np.testing.assert_allclose(features[..., 4], _context_vector(tokenizer, model, ["Hello", "neurons"]),
                               rtol=1e-4, atol=1e-5)


def test_text_batching_quirk_vanishes_with_one_word_per_batch(tiny):
    quirk = TribeTextExtractor(tiny["text"], batch_size=1, reference_batching=True).extract(stimulus())
    exact = TribeTextExtractor(tiny["text"], batch_size=3, reference_batching=False).extract(stimulus())
    np.testing.assert_allclose(quirk, exact, rtol=1e-4, atol=1e-5)
    assert not np.allclose(TribeTextExtractor(tiny["text"], batch_size=4).extract(stimulus()), exact, atol=1e-4)


def test_text_context_is_limited_to_max_context_words(tiny):
    base = stimulus(8.0)
    changed = stimulus(8.0, [Word("banana", base.words[0].start_s, 0.3), *base.words[1:]])
    extractor = TribeTextExtractor(tiny["text"], max_context_words=3, reference_batching=False)
    a, b = extractor.extract(base), extractor.extract(changed)
    assert not np.allclose(a[..., 0:3], b[..., 0:3])  # words 0-2 see the first word
    np.testing.assert_allclose(a[..., 6:], b[..., 6:], rtol=1e-5, atol=1e-6)  # word 3 on does not


def test_text_contexts_longer_than_the_model_are_cut_on_the_left(tmp_path):
    folder = save_tiny_llama(tmp_path / "short-llama", max_position_embeddings=8)
    features = TribeTextExtractor(folder, reference_batching=False).extract(stimulus())
    assert features.shape == (2, HIDDEN, 16) and np.isfinite(features).all()


def test_text_without_words_is_all_zero(tiny):
    features = TribeTextExtractor(tiny["text"]).extract(stimulus(3.0, words=[]))
    assert features.shape == (2, HIDDEN, 6) and not features.any()


# ---------------------------------------------------------------------------------------------------------------
# audio
def test_audio_features_follow_the_spec_on_a_short_clip(tiny):
    extractor = TribeAudioExtractor(tiny["audio"])
    stim = stimulus(3.2, audio_s=3.2)
    features = extractor.extract(stim)
    assert features.shape == (2, HIDDEN, 7) and features.dtype == np.float32
    np.testing.assert_array_equal(features, extractor.extract(stim))

    wave = stim.audio.samples
    wave = (wave - wave.mean()) / (wave.std() + 1e-7)
    feature_extractor, model = load_hf_model("feature_extractor", tiny["audio"]), load_hf_model("model", tiny["audio"])
    with torch.inference_mode():
        states = model(**feature_extractor(wave, sampling_rate=16000, return_tensors="pt"),
                       output_hidden_states=True).hidden_states
    grouped = group_hidden_states([s[0] for s in states], GROUPS_PLAIN)  # (L, frames, D): no sub-selection
    frames = grouped.shape[1]
    nearest = np.floor(np.arange(6) * frames / 6).astype(int)  # round(3.2 * 2) = 6 steps, then a zero step
    np.testing.assert_allclose(features[..., :6], grouped[:, nearest].permute(0, 2, 1).numpy(), rtol=1e-4, atol=1e-5)
    assert not features[..., 6].any()


def test_audio_chunks_are_separate_forward_passes_placed_one_after_the_other(tiny):
    extractor = TribeAudioExtractor(tiny["audio"], chunk_min_s=3.0, chunk_max_s=4.0)
    whole = extractor.extract(stimulus(10.0, audio_s=10.0))  # chunks [0, 4], [4, 10]
    full = stimulus(10.0, audio_s=10.0).audio.samples
    first = TribeAudioExtractor(tiny["audio"]).extract(
        Stimulus(kind="audio", source="a", content_hash="a", duration_s=4.0, audio=AudioTrack(full[:64000], 16000)))
    second = TribeAudioExtractor(tiny["audio"]).extract(
        Stimulus(kind="audio", source="b", content_hash="b", duration_s=6.0, audio=AudioTrack(full[64000:], 16000)))
    np.testing.assert_allclose(whole, np.concatenate([first, second], axis=-1), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# video
def test_video_features_shape_determinism_and_shared_frames(tiny):
    video = SyntheticVideo(6.0)
    extractor = TribeVideoExtractor(tiny["video"], batch_size=5)
    features = extractor.extract(stimulus(6.0, video=video))
    assert features.shape == (2, HIDDEN, 12) and features.dtype == np.float32 and np.isfinite(features).all()
    decoded = np.concatenate(video.requested)
    assert len(decoded) == len(np.unique(decoded))  # every source frame decoded once across batches
    np.testing.assert_array_equal(features, extractor.extract(stimulus(6.0, video=SyntheticVideo(6.0))))


def test_video_step_is_the_token_mean_of_its_preprocessed_clip(tiny):
    video = SyntheticVideo(3.0, fps=10.0)
    features = TribeVideoExtractor(tiny["video"]).extract(stimulus(3.0, video=video))
    # step 4 ends at t = 2.5 s and sees 4 frames 1 s apart (tiny model: 4 frames over 4 s): 0, 0.5, 1.5, 2.5 s
    clip = video.frames_at(np.maximum(0.0, 2.5 - np.array([3.0, 2.0, 1.0, 0.0])))
    x = torch.from_numpy(clip).permute(0, 3, 1, 2)  # uint8 in and out, as torchvision resizes on x86/ARM CPUs
    x = torch.nn.functional.interpolate(x, size=(36, 43), mode="bilinear", antialias=True).float()
    x = x[..., 2:34, 5:37] / 255.0  # centre crop 32 of 36 x 43
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    model = load_hf_model("model", tiny["video"])
    with torch.inference_mode():
        states = model(pixel_values_videos=x[None], skip_predictor=True, output_hidden_states=True).hidden_states
    expected = group_hidden_states([s[0].mean(dim=0) for s in states], GROUPS_20).numpy()
    np.testing.assert_allclose(features[..., 4], expected, rtol=1e-4, atol=1e-5)


def test_frame_preprocessing_matches_the_transformers_video_processor():
    pytest.importorskip("torchvision")
    from transformers import VJEPA2VideoProcessor

    from nforge_app.features.tribe import _normalization, _resize_crop

    frames = np.random.default_rng(0).integers(0, 256, (3, 90, 160, 3), dtype=np.uint8)
    processor = VJEPA2VideoProcessor(crop_size=64)
    expected = processor([frames], return_tensors="pt")["pixel_values_videos"][0]
    mean, std = _normalization(processor.to_dict())
    ours = (_resize_crop(frames, processor.to_dict()).float() - mean) / std
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# memory
def test_models_stay_loaded_unless_low_mem_use(tiny):
    kept = TribeAudioExtractor(tiny["audio"])
    freed = TribeAudioExtractor(tiny["audio"], low_mem_use=True)
    stim = stimulus(1.0, audio_s=1.0)
    np.testing.assert_array_equal(kept.extract(stim), freed.extract(stim))
    assert kept.loaded and not freed.loaded
    stages = []
    freed.extract(stim, progress=lambda fraction, stage: stages.append((fraction, stage)))
    assert stages[0][1].startswith("audio: loading") and stages[-1] == (1.0, "audio: done")


# ---------------------------------------------------------------------------------------------------------------
# from files, through load_stimulus
def test_a_generated_video_through_load_stimulus(tiny, tmp_path):
    from nforge_app.stimuli import load_stimulus

    from _media import make_video

    stim = load_stimulus(make_video(tmp_path / "clip.mp4", 3.0, fps=12))
    video = TribeVideoExtractor(tiny["video"]).extract(stim)
    audio = TribeAudioExtractor(tiny["audio"]).extract(stim)
    assert video.shape == audio.shape == (2, HIDDEN, 6)
    assert np.isfinite(video).all() and np.abs(video).sum(axis=(0, 1)).all()
    assert np.isfinite(audio).all() and np.abs(audio).sum(axis=(0, 1)).all()


def test_a_text_file_spoken_through_load_stimulus(tiny, tmp_path):
    from nforge_app.stimuli import load_stimulus

    path = tmp_path / "story.txt"
    path.write_text("The cat sat on the mat. Then it slept.", encoding="utf-8")
    stim = load_stimulus(path)
    features = TribeTextExtractor(tiny["text"]).extract(stim)
    assert features.shape == (2, HIDDEN, n_steps(stim.duration_s, 2.0))
    first_word = round(stim.words[0].start_s * 2)
    assert np.abs(features[..., first_word]).sum() > 0


def test_text_words_past_60_s_keep_their_own_times(tiny):
    # The reference adds the 60-s chunk offset to word times a second time; here times stay absolute.
    words = [Word("hello", 10.0, 0.4), Word("brave", 75.0, 0.4), Word("world", 125.2, 0.3)]
    features = TribeTextExtractor(tiny["text"]).extract(stimulus(130.0, words))
    assert features.shape[-1] == 260
    assert set(np.flatnonzero(np.abs(features).sum(axis=(0, 1)))) == {20, 150, 250}


def test_video_batches_are_sized_to_the_free_memory():
    from types import SimpleNamespace

    from nforge_app.features.tribe import clips_fitting_memory

    giant = SimpleNamespace(tubelet_size=2, crop_size=256, patch_size=16, hidden_size=1408, num_hidden_layers=40)
    # 8192 tokens x 1408 x 4 bytes x (12 + 20) = 1.38 GiB per clip in float32
    per_clip = 8192 * 1408 * 4 * 32
    assert clips_fitting_memory(giant, 64, torch.float32, 32, available=16 * 2**30) == int(8 * 2**30 // per_clip)
    assert clips_fitting_memory(giant, 64, torch.bfloat16, 32, available=16 * 2**30) == int(8 * 2**30 // (per_clip // 2))
    assert clips_fitting_memory(giant, 64, torch.float32, 32, available=2**30) == 1  # always at least one
    assert clips_fitting_memory(giant, 64, torch.float32, 4, available=2**40) == 4  # never above the asked size
