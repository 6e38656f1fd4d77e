"""Tiny random transformers models saved to a folder, for tests that must not download anything.

Each ``save_tiny_*`` function builds a seeded random model from a small transformers config, saves it
with its tokenizer / feature extractor / video processor settings to ``directory`` and returns that
folder, which loads through ``nforge_app.features._hf.load_hf_model`` like a hub snapshot. They run in
well under a second each. Reuse them with a module- or session-scoped ``tmp_path_factory`` fixture.

- ``save_tiny_llama``: ``LlamaModel`` + byte-level BPE tokenizer (Llama 3 special tokens);
- ``save_tiny_w2v_bert``: ``Wav2Vec2BertModel`` + ``SeamlessM4TFeatureExtractor`` (16 kHz, 80 mel bins);
- ``save_tiny_qwen2``: ``Qwen2ForCausalLM`` + byte-level BPE tokenizer split like Qwen2's (Text2fMRI);
- ``save_tiny_vjepa2``: ``VJEPA2Model`` (patch 8, 4 frames, crop 32) + video processor settings.

All have 4 layers (5 hidden states, so the release's layer fractions give 2 groups) and hidden size 32.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

SEED = 0
HIDDEN = 32
N_LAYERS = 4

# Special tokens named as in the Llama 3 tokenizer; the pad token is the one TRIBE v2 pads with.
LLAMA_BOS, LLAMA_EOS, LLAMA_PAD = "<|begin_of_text|>", "<|end_of_text|>", "<|finetune_right_pad_id|>"

_CORPUS = (
    "the quick brown fox jumps over the lazy dog while a small cat watches from the window; "
    "people listen to music, watch movies and read stories about brains, neurons and language. "
    "Hello world! It's a test: numbers 12 345 and words like encoding, prediction, cortex."
)


def save_tiny_llama(directory: str | Path, *, max_position_embeddings: int = 512) -> Path:
    """Save a random 4-layer ``LlamaModel`` and a byte-level BPE tokenizer (Llama 3 style) to ``directory``.

    The tokenizer has no pad token set (like Llama 3) but knows ``<|finetune_right_pad_id|>``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaModel, PreTrainedTokenizerFast

    directory = Path(directory)
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=[LLAMA_BOS, LLAMA_EOS, LLAMA_PAD],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    backend.train_from_iterator([_CORPUS] * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=LLAMA_BOS, eos_token=LLAMA_EOS)
    tokenizer.model_max_length = max_position_embeddings

    torch.manual_seed(SEED)
    config = LlamaConfig(
        vocab_size=backend.get_vocab_size(), hidden_size=HIDDEN, intermediate_size=2 * HIDDEN,
        num_hidden_layers=N_LAYERS, num_attention_heads=2, num_key_value_heads=1,
        max_position_embeddings=max_position_embeddings, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    LlamaModel(config).eval().save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def save_tiny_w2v_bert(directory: str | Path) -> Path:
    """Save a random 4-layer ``Wav2Vec2BertModel`` and its ``SeamlessM4TFeatureExtractor`` (80 mel bins)."""
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

    directory = Path(directory)
    extractor = SeamlessM4TFeatureExtractor(feature_size=80, num_mel_bins=80, stride=2, sampling_rate=16000)
    torch.manual_seed(SEED)
    config = Wav2Vec2BertConfig(
        hidden_size=HIDDEN, num_hidden_layers=N_LAYERS, num_attention_heads=2, intermediate_size=2 * HIDDEN,
        feature_projection_input_dim=160, conv_depthwise_kernel_size=3, output_hidden_size=HIDDEN,
        add_adapter=False, position_embeddings_type="relative_key", left_max_position_embeddings=16,
        right_max_position_embeddings=4,
    )
    Wav2Vec2BertModel(config).eval().save_pretrained(directory)
    extractor.save_pretrained(directory)
    return directory


def save_tiny_vjepa2(directory: str | Path, *, crop_size: int = 32, frames_per_clip: int = 4) -> Path:
    """Save a random 4-layer ``VJEPA2Model`` (patch 8, tubelet 2) and its video processor settings.

    The processor settings are those ``VJEPA2VideoProcessor`` saves (shortest edge ``crop * 256 / 224``,
    bilinear, centre crop, ImageNet mean and std), written as JSON so that no torchvision is needed.
    """
    from transformers import VJEPA2Config, VJEPA2Model

    directory = Path(directory)
    torch.manual_seed(SEED)
    config = VJEPA2Config(
        patch_size=8, crop_size=crop_size, frames_per_clip=frames_per_clip, tubelet_size=2, hidden_size=HIDDEN,
        num_attention_heads=2, num_hidden_layers=N_LAYERS, mlp_ratio=2.0, pred_hidden_size=16,
        pred_num_attention_heads=2, pred_num_hidden_layers=1, pred_num_mask_tokens=2,
    )
    VJEPA2Model(config).eval().save_pretrained(directory)
    processor = {
        "video_processor_type": "VJEPA2VideoProcessor",
        "do_resize": True, "size": {"shortest_edge": int(crop_size * 256 / 224)}, "resample": 2,
        "do_center_crop": True, "crop_size": {"height": crop_size, "width": crop_size},
        "do_rescale": True, "rescale_factor": 1 / 255,
        "do_normalize": True, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
        "do_convert_rgb": True,
    }
    (directory / "video_preprocessor_config.json").write_text(json.dumps(processor, indent=2))
    return directory


# The pre-tokenizer pattern of the Qwen2 tokenizer: line breaks are grouped, punctuation takes the line
# breaks after it, letters never take a line break before them.
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN2_CORPUS = ("Hello, are you\nawake? Yes,\n\nI am here.\n", "The café serves crème brûlée.\n\n\n",
           "日本語 😀 emoji\n", "people listen to music and watch movies\n\nabout brains, neurons and language.\n")


def save_tiny_qwen2(directory: str | Path, *, max_position_embeddings: int = 64) -> Path:
    """Save a seeded 4-layer ``Qwen2ForCausalLM`` (hidden 32) and a byte-level BPE tokenizer built like Qwen2's."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    directory = Path(directory)
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    backend.train_from_iterator(list(_QWEN2_CORPUS) * 8, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>")
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=backend.get_vocab_size(), hidden_size=HIDDEN, intermediate_size=2 * HIDDEN,
                         num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=max_position_embeddings, tie_word_embeddings=True)
    Qwen2ForCausalLM(config).eval().save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


TINY_TEXT2FMRI = dict(num_rois=1000, num_transformer_layers=1, num_transformer_heads=2, transformer_dim=16,
            subject_embedding_dim=4, extractor_LLM_feature_size=HIDDEN)


def filled_state(head, seed: int = 0, scale: float = 0.3) -> dict:
    """Every parameter drawn from a seeded numpy generator (independent of torch's initialisers)."""
    rng = np.random.default_rng(seed)
    state = head.state_dict()
    for name in sorted(state):
        if not name.endswith("inv_freq"):
            state[name] = torch.as_tensor(rng.standard_normal(tuple(state[name].shape)) * scale, dtype=torch.float32)
    return state


def save_tiny_text2fmri(directory: Path, lm_dir: Path, **config) -> Path:
    """A Text2fMRI release folder (config.json + model.pt) whose head reads the tiny LM."""
    directory.mkdir(parents=True, exist_ok=True)
    values = {"tr": 1.49, "num_subjects": 4, **TINY_TEXT2FMRI, "extractor_LLM": str(lm_dir),
              "extractor_LLM_num_last_hidden_states": 4, "extractor_LLM_dtype": "float16",
              "architectures": ["Text2fMRIModel"], **config}
    (directory / "config.json").write_text(json.dumps(values))
    from nforge_app.models._text2fmri_net import Text2fMRIConfig, Text2fMRIHead

    head = Text2fMRIHead(Text2fMRIConfig.from_dict(values))
    torch.save(filled_state(head), directory / "model.pt")
    return directory
