"""TRIBE v2 on this CPU, per minute of stimulus: text (per-word reference vs one causal pass), audio, encoder.

Random weights from the released configurations (nothing downloaded): Llama-3.2-3B (hidden 3072, 24 heads,
8 key/value heads, feed-forward 8192), w2v-BERT 2.0 (hidden 1024, feed-forward 4096, conformer) and the TRIBE
v2 encoder at its full size. On 2 shared cores a full Llama-3.2-3B or w2v-BERT would take many minutes
per measurement, so ONE transformer layer of each is timed at the real width and the time is multiplied
by the real depth (28 and 24 layers): layers are identical in cost, so this extrapolation is the full
model's time up to the embedding lookup (negligible); the vocabulary is cut to 1,000 rows for memory
(the lookup does not depend on it). Stated in the output as "extrapolated".

Text, reference vs fast, for a 5-minute transcript (750 words, 1.3 tokens per word): the reference runs 188
batches of 4 contexts, each context all the words so far (up to 1,024 words); the fast path one pass over the
975 tokens. Both are costed from timed passes of the layer: t(T) = a * T + b * T^2 fitted per batch size
(batch 1 on 256 and 1,024 tokens for the fast path, batch 4 on 128 and 512 for the reference). Video (V-JEPA2
giant, about 16 TFLOP per 64-frame clip, 120 clips per minute) is costed from this machine's measured matrix
speed, not run. Also measured on those layers: bf16 against fp32 (relative error of the output states), and
how much a word's states change when its context is 512 words instead of 1,024 (the chunked fast path's worst
case; one random layer, so only an indication of the size for trained weights). Peak RSS: this process
(reduced models) and the weights of the real models (computed). Other processes on the machine slow every
figure; each time is the minimum of ``repeats``, printed with the load average (``os.getloadavg``) and the
process CPU time of that run. The feature models run in the dtype the extractors use on this CPU (bfloat16 on
CPUs with native bf16, AVX512-BF16 or AMX; float32 elsewhere; ``NFORGE_FEATURE_DTYPE`` overrides), and the
w2v-BERT layer with the extractor's blocked relative-key attention (transformers' own path is timed beside
it). Run:
``.venv/bin/python bench/bench_tribe_cpu.py [repeats]``.

``--end-to-end [FOLDER]`` also builds the real-size models with random weights in FOLDER (Llama-3.2-3B saved
in bf16 and w2v-BERT 2.0 saved in fp32, as released; about 9 GB of disk, built once) and runs the text and
audio extractors on one minute of stimulus (the tokens of 150 words, a 60-s sound) in a child process:
measured end to end, not extrapolated, with the child's peak RSS (both models loaded at once). A second child
measures the extractors' bf16 features against fp32 on those models (20 s; the bf16 Llama checkpoint computed
in fp32 one layer at a time).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from _common import report

ROOT = Path(__file__).resolve().parents[1]

WORDS_PER_MINUTE = 150
TOKENS_PER_WORD = 1.3
LLAMA_LAYERS, W2V_LAYERS = 28, 24
LLAMA_PARAMS, W2V_PARAMS = 3.21e9, 0.58e9
FIVE_MINUTES_WORDS = 5 * WORDS_PER_MINUTE
VIDEO_TFLOP_PER_MINUTE = 1900.0


_CPU_SECONDS: dict[float, float] = {}  # wall minimum -> process CPU seconds of that run


def _best(run, repeats: int) -> float:
    """The shortest wall time of ``repeats`` runs (its CPU time is kept in ``_CPU_SECONDS``)."""
    times = []
    for _ in range(repeats):
        cpu, started = time.process_time(), time.perf_counter()
        run()
        times.append((time.perf_counter() - started, time.process_time() - cpu))
    wall, cpu = min(times)
    _CPU_SECONDS[wall] = cpu
    return wall


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _llama_layer():
    from transformers import LlamaConfig, LlamaModel

    config = LlamaConfig(vocab_size=1000, hidden_size=3072, intermediate_size=8192, num_hidden_layers=1,
                         num_attention_heads=24, num_key_value_heads=8, max_position_embeddings=131072,
                         rope_theta=500000.0)
    torch.manual_seed(0)
    return LlamaModel(config).eval()


def _w2v_config(n_layers: int):
    from transformers import Wav2Vec2BertConfig

    # w2v-BERT 2.0: conformer, relative-key positions clamped to [-64, 8], depthwise kernel 31
    return Wav2Vec2BertConfig(hidden_size=1024, num_hidden_layers=n_layers, num_attention_heads=16,
                              intermediate_size=4096, feature_projection_input_dim=160, hidden_act="swish",
                              position_embeddings_type="relative_key", left_max_position_embeddings=64,
                              right_max_position_embeddings=8, conv_depthwise_kernel_size=31, add_adapter=False)


def _w2v_layer():
    from transformers import Wav2Vec2BertModel

    torch.manual_seed(0)
    return Wav2Vec2BertModel(_w2v_config(1)).eval()


def main(repeats: int = 2, end_to_end: str | None = None) -> None:
    sys.path.insert(0, str(ROOT))
    from nforge_app.features._hf import resolve_dtype
    from nforge_app.features._w2v_bert import use_fast_relative_key_attention
    from nforge_app.models._tribe_estimate import machine_tflops
    from nforge_app.models._tribe_net import EncoderSpec, TribeEncoder

    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    dtype_name = resolve_dtype(None, "cpu", native_bf16_cpu=True)  # what the extractors load here
    dtype = getattr(torch, dtype_name)
    rows, extra, loads = [], {}, {"start": _load()}

    def timed(metric: str, seconds: float, note: str = "") -> tuple:
        cpu = _CPU_SECONDS.get(seconds)
        where = f"load {_load()}" + (f", CPU {cpu:.2f} s" if cpu is not None else "")
        return (metric, seconds, "s", f"{note} ({where})" if note else f"({where})")

    tflops = machine_tflops("float32", seconds=1.0)
    rows.append(("calibration: float32 matrix product", tflops * 1e3, "GFLOP/s", f"(load {_load()})"))
    if dtype != torch.float32:
        rows.append((f"calibration: {dtype_name} matrix product", machine_tflops(dtype_name, seconds=1.0) * 1e3,
                     "GFLOP/s", f"(load {_load()})"))

    with torch.inference_mode():
        # text ------------------------------------------------------------------------------------------------
        layer = _llama_layer()
        # bf16 against fp32 on the same layer, and the chunked fast path's context: a word's states after
        # 1,024 words of context against after 512 (the shortest in a chunk), in fp32.
        ids = torch.randint(0, 1000, (1, 256))
        exact = layer(input_ids=ids).last_hidden_state
        long_ids = torch.randint(0, 1000, (1, round(1024 * TOKENS_PER_WORD)))
        full = layer(input_ids=long_ids).last_hidden_state[0, -4:]
        half = layer(input_ids=long_ids[:, -round(512 * TOKENS_PER_WORD):]).last_hidden_state[0, -4:]
        layer.to(dtype)
        low = layer(input_ids=ids).last_hidden_state.float()

        def llama(batch: int, n_tokens: int) -> float:
            ids = torch.randint(0, 1000, (batch, n_tokens))
            return _best(lambda: layer(input_ids=ids), repeats)

        # per batch size, t(T) = a T + b T^2 through two measured points (batch 4: the reference's batches)
        measured = {(batch, n): llama(batch, n) for batch, n in ((1, 256), (1, 1024), (4, 128), (4, 512))}

        def text_costs(times: dict) -> tuple[float, float, dict]:
            """(fast, reference) seconds for the 5-min transcript from per-layer times, and the fits."""
            fits = {}
            for batch, (short, long) in ((1, (256, 1024)), (4, (128, 512))):
                slope = (times[batch, long] / long - times[batch, short] / short) / (long - short)
                fits[batch] = (times[batch, short] / short - max(slope, 0.0) * short, max(slope, 0.0))

            def cost(batch: int, n_tokens: float) -> float:
                a, b = fits[1 if batch == 1 else 4]
                return LLAMA_LAYERS * (batch / (1 if batch == 1 else 4)) * (a * n_tokens + b * n_tokens ** 2)

            n_tokens = FIVE_MINUTES_WORDS * TOKENS_PER_WORD
            return (cost(1, n_tokens), sum(cost(min(4, FIVE_MINUTES_WORDS - first), TOKENS_PER_WORD
                                                * min(first + 4, 1024)) for first in range(0, FIVE_MINUTES_WORDS, 4)),
                    fits)

        fast_s, reference_s, fits = text_costs(measured)
        # the same from CPU seconds / threads: the time on this many cores left to the run alone (load-robust;
        # OpenMP spin-waits of a descheduled thread inflate it on a loaded machine)
        fast_cpu_s = text_costs({k: _CPU_SECONDS[t] / threads for k, t in measured.items()})[0]
        efficiency = 2 * LLAMA_PARAMS / LLAMA_LAYERS * 1024 / measured[1, 1024] / 1e12 / tflops
        rows += [timed(f"text: one Llama layer ({dtype_name}), batch {batch} x {n} tokens (measured)", t)
                 for (batch, n), t in measured.items()]
        rows += [
            ("text fast: 5-min transcript, one pass (extrapolated, 28 layers)", fast_s, "s", ""),
            ("text reference: 5-min transcript, per word (extrapolated)", reference_s, "s", ""),
            ("text fast speed-up on a 5-min transcript", reference_s / fast_s, "x", ">= 20"),
            ("text fast per minute of stimulus (5-min transcript)", fast_s / 5, "s/min", ""),
            ("Llama layer speed / float32 calibration", efficiency, "", ""),
            ("Llama layer bf16 vs fp32, ||diff|| / ||fp32|| (256 tokens)",
             float((low - exact).norm() / exact.norm()), "", ""),
            ("Llama layer, last word after 512 vs 1,024 words of context, ||diff|| / ||states||",
             float((half - full).norm() / full.norm()), "", ""),
        ]
        layer = None  # frees it

        # audio -----------------------------------------------------------------------------------------------
        import copy

        from transformers import SeamlessM4TFeatureExtractor

        plain = _w2v_layer()
        w2v = copy.deepcopy(plain)
        use_fast_relative_key_attention(w2v)  # as the extractor runs it
        short = torch.randn(1, 500, 160)
        exact = w2v(input_features=short).last_hidden_state
        low = w2v.to(dtype)(input_features=short.to(dtype)).last_hidden_state.float()
        plain.to(dtype)
        frames = torch.randn(1, 3000, 160).to(dtype)  # 60 s at 50 frames/s, 160 = 2 x 80 mel bins stacked
        mask = torch.ones(1, 3000, dtype=torch.long)
        t_audio = _best(lambda: w2v(input_features=frames, attention_mask=mask), repeats)
        rows.append(timed(f"audio: one w2v-BERT layer ({dtype_name}), 60 s (measured)", t_audio))
        t_plain = _best(lambda: plain(input_features=frames, attention_mask=mask), repeats)
        rows.append(timed("audio: the same layer with transformers' relative-key attention", t_plain))
        audio_s = W2V_LAYERS * t_audio
        audio_cpu_s = W2V_LAYERS * _CPU_SECONDS[t_audio] / threads
        fbank = SeamlessM4TFeatureExtractor(feature_size=80, num_mel_bins=80, stride=2, sampling_rate=16000)
        wave = torch.randn(60 * 16000).numpy()
        t_fbank = _best(lambda: fbank(wave, sampling_rate=16000, return_tensors="pt"), repeats)
        rows += [("w2v-BERT layer bf16 vs fp32, ||diff|| / ||fp32|| (10 s)",
                  float((low - exact).norm() / exact.norm()), "", ""),
                 timed("audio: log-mel features of 60 s (numpy)", t_fbank),
                 ("audio per minute of stimulus (extrapolated, 24 layers, + log-mel)", audio_s + t_fbank, "s/min", "")]
        w2v = plain = None

        # encoder ---------------------------------------------------------------------------------------------
        torch.manual_seed(0)
        encoder = TribeEncoder(EncoderSpec()).eval()
        features = {m: torch.randn(1, n_layers, dim, 200) for m, (n_layers, dim) in encoder.spec.feature_dims.items()}
        encoder(features, fast="fp32")  # lays the weights out once
        t_window = _best(lambda: encoder(features, fast="fp32"), repeats)
        encoder_s = t_window * 60 / 100
        encoder_cpu_s = _CPU_SECONDS[t_window] / threads * 60 / 100
        rows += [timed("encoder fp32: one 100-s window (measured)", t_window),
                 ("encoder per minute of stimulus", encoder_s, "s/min", "")]
        encoder = None

    video_s = VIDEO_TFLOP_PER_MINUTE / (tflops * max(efficiency, 0.05))
    total = fast_s / 5 + audio_s + t_fbank + encoder_s
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    weights_gb = {"llama fp32": LLAMA_PARAMS * 4 / 2**30, "llama bf16": LLAMA_PARAMS * 2 / 2**30,
                  "w2v-bert fp32": W2V_PARAMS * 4 / 2**30, "w2v-bert bf16": W2V_PARAMS * 2 / 2**30,
                  "encoder fp32": 177_205_397 * 4 / 2**30}
    width = 2 if dtype == torch.bfloat16 else 4
    rows += [
        ("video per minute of stimulus (costed from the calibration, not run)", video_s / 60, "min/min", "no target"),
        ("audio + text + encoder per minute of stimulus (extrapolated)", total, "s/min", "<= 20"),
        (f"the same from CPU seconds / {threads} threads (text {fast_cpu_s / 5:.1f}, audio "
         f"{audio_cpu_s + _CPU_SECONDS[t_fbank]:.1f}, encoder {encoder_cpu_s:.1f})",
         fast_cpu_s / 5 + audio_cpu_s + _CPU_SECONDS[t_fbank] + encoder_cpu_s, "s/min", "<= 20"),
        ("peak RSS of this bench (one layer each)", peak_gb, "GiB", ""),
        (f"weights of the real models, feature models in {dtype_name}, all loaded",
         (LLAMA_PARAMS + W2V_PARAMS) * width / 2**30 + weights_gb["encoder fp32"], "GiB", ""),
    ]
    loads["end"] = _load()
    if end_to_end is not None:
        rows += _end_to_end(Path(end_to_end), dtype_name)
        loads["after end to end"] = _load()
    extra.update({"threads": torch.get_num_threads(), "torch": torch.__version__, "repeats": repeats,
                  "cpu_capability": torch.backends.cpu.get_cpu_capability(), "feature_dtype": dtype_name,
                  "fits": fits, "weights_gib": weights_gb, "extrapolated": True, "load_average": loads})
    report("tribe_cpu", rows, extra=extra)


# end to end ------------------------------------------------------------------------------------------------------
_WORDS = ("the people listened to music while a small brown dog watched from the window and neurons in the "
          "auditory cortex answered every sound with encoding prediction language stories movies brains "
          "because someone was reading aloud about hippocampal memory consolidation yesterday evening").split()


def _build_models(folder: Path) -> dict[str, Path]:
    """Real-size random Llama-3.2-3B (bf16, tied embeddings) and w2v-BERT 2.0 (fp32), once, in ``folder``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        LlamaConfig,
        LlamaModel,
        PreTrainedTokenizerFast,
        SeamlessM4TFeatureExtractor,
        Wav2Vec2BertModel,
    )

    paths = {"text": folder / "llama-3.2-3b-random", "audio": folder / "w2v-bert-2.0-random"}
    if not (paths["text"] / "config.json").is_file():
        backend = Tokenizer(models.BPE())
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        special = ["<|begin_of_text|>", "<|end_of_text|>", "<|finetune_right_pad_id|>"]
        # a small vocabulary, so that long words take several tokens as in Llama 3 (measured and printed)
        trainer = trainers.BpeTrainer(vocab_size=330, special_tokens=special, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        backend.train_from_iterator([" ".join(_WORDS)] * 4, trainer=trainer)
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=special[0], eos_token=special[1])
        tokenizer.model_max_length = 131072
        config = LlamaConfig(vocab_size=128256, hidden_size=3072, intermediate_size=8192, num_hidden_layers=28,
                             num_attention_heads=24, num_key_value_heads=8, max_position_embeddings=131072,
                             rope_theta=500000.0, tie_word_embeddings=True, bos_token_id=0, eos_token_id=1)
        torch.manual_seed(0)
        torch.set_default_dtype(torch.bfloat16)
        try:
            model = LlamaModel(config).eval()
        finally:
            torch.set_default_dtype(torch.float32)
        model.save_pretrained(paths["text"])
        tokenizer.save_pretrained(paths["text"])
        del model
    if not (paths["audio"] / "config.json").is_file():
        torch.manual_seed(0)
        Wav2Vec2BertModel(_w2v_config(24)).eval().save_pretrained(paths["audio"])
        SeamlessM4TFeatureExtractor(feature_size=80, num_mel_bins=80, stride=2,
                                    sampling_rate=16000).save_pretrained(paths["audio"])
    return paths


def _run_extractors(text_model: str, audio_model: str, repeats: int) -> dict:
    """In the child: load both extractors, extract one minute of text and audio; times and peak RSS."""
    sys.path.insert(0, str(ROOT))
    from nforge_app.features.tribe import TribeAudioExtractor, TribeTextExtractor

    out = {"threads": torch.get_num_threads()}
    text, audio = TribeTextExtractor(text_model), TribeAudioExtractor(audio_model)
    for name, extractor in (("text", text), ("audio", audio)):
        started = time.perf_counter()
        extractor._parts = extractor._load_parts()
        out[f"{name} load s"] = time.perf_counter() - started
        out[f"{name} rss after load GiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    stimulus = _minute_of_stimulus(text._parts["tokenizer"])
    out["tokens"] = len(text._parts["tokenizer"](" ".join(w.text for w in stimulus.words),
                                                 add_special_tokens=False)["input_ids"])
    for name, extractor in (("text", text), ("audio", audio)):
        model = extractor._parts["model"]
        out[f"{name} dtype"] = str(model.dtype)
        out[f"{name} attention"] = model.config._attn_implementation
        best = None
        for _ in range(repeats):
            cpu, started = time.process_time(), time.perf_counter()
            extractor.extract(stimulus)
            run = (time.perf_counter() - started, time.process_time() - cpu, _load())
            best = run if best is None or run < best else best
        out[f"{name} s"], out[f"{name} cpu s"], out[f"{name} load"] = best
    out["peak rss GiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def _minute_of_stimulus(tokenizer, duration_s: float = 60.0):
    """Words with the tokens of ``duration_s`` of speech for Llama 3 (150 words x 1.3 tokens per minute): the
    random tokenizer splits words more finely than Llama 3's, and the pass costs per token; and a sound."""
    import numpy as np

    from nforge_app.stimuli import AudioTrack, Stimulus, Word

    rng = np.random.default_rng(0)
    texts: list[str] = []
    wanted = WORDS_PER_MINUTE * TOKENS_PER_WORD * duration_s / 60
    while len(tokenizer(" ".join(texts), add_special_tokens=False)["input_ids"]) < wanted:
        texts.append(str(rng.choice(_WORDS)))
    words = tuple(Word(w, duration_s * i / len(texts) + 0.05, 0.3) for i, w in enumerate(texts))
    t = np.arange(int(duration_s * 16000)) / 16000
    samples = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(t)) + 0.05 * rng.standard_normal(len(t)))
    return Stimulus(kind="audio", source="bench", content_hash="bench", duration_s=duration_s, words=words,
                    audio=AudioTrack(samples.astype(np.float32), 16000))


def _feature_errors(text_model: str, audio_model: str, duration_s: float = 20.0) -> dict:
    """In a child: the extractors' bf16 features against fp32 on the real-size random models.

    Text: the bf16 checkpoint computed in fp32 one layer at a time (each layer upcast for its forward, so
    memory holds one fp32 layer, not a 12-GiB fp32 Llama). Audio: the model loaded in fp32 against bf16.
    """
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from nforge_app.features.tribe import TribeAudioExtractor, TribeTextExtractor

    def error(low: np.ndarray, exact: np.ndarray) -> dict:
        return {"relative": float(np.linalg.norm(low - exact) / np.linalg.norm(exact)),
                "of range": float(np.abs(low - exact).max() / (exact.max() - exact.min()))}

    text = TribeTextExtractor(text_model, dtype="bfloat16")
    text._parts = text._load_parts()
    stimulus = _minute_of_stimulus(text._parts["tokenizer"], duration_s)
    low = text.extract(stimulus)
    model = text._parts["model"]
    handles = [model.embed_tokens.register_forward_hook(lambda module, args, out: out.float())]
    for module in [*model.layers, model.norm]:
        handles.append(module.register_forward_pre_hook(lambda module, args: module.float() and None))
        handles.append(module.register_forward_hook(lambda module, args, out: (module.bfloat16(), out)[1]))
    exact = text.extract(stimulus)
    for handle in handles:
        handle.remove()
    out = {"text": error(low, exact)}
    text.release()
    audio = {name: TribeAudioExtractor(audio_model, dtype=name).extract(stimulus) for name in ("bfloat16", "float32")}
    out["audio"] = error(audio["bfloat16"], audio["float32"])
    return out


def _end_to_end(folder: Path, dtype_name: str, repeats: int = 2) -> list[tuple]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = _build_models(folder)
    code = (f"import sys, json; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_tribe_cpu as b; "
            f"print(json.dumps(b._run_extractors({str(paths['text'])!r}, {str(paths['audio'])!r}, {repeats})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    got = json.loads(done.stdout.strip().splitlines()[-1])
    code = (f"import sys, json; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_tribe_cpu as b; "
            f"print(json.dumps(b._feature_errors({str(paths['text'])!r}, {str(paths['audio'])!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    errors = json.loads(done.stdout.strip().splitlines()[-1])
    total = got["text s"] + got["audio s"]
    return [
        (f"end to end: text, 1 min ({got['tokens']} tokens, as 150 words of Llama 3; {got['text dtype']}, "
         f"{got['text attention']})", got["text s"], "s", f"(load {got['text load']}, CPU {got['text cpu s']:.1f} s)"),
        (f"end to end: audio, 60 s ({got['audio dtype']}, {got['audio attention']})", got["audio s"], "s",
         f"(load {got['audio load']}, CPU {got['audio cpu s']:.1f} s)"),
        ("end to end: audio + text per minute of stimulus (measured)", total, "s/min", "<= 20"),
        (f"the same from CPU seconds / {got['threads']} threads", (got["text cpu s"] + got["audio cpu s"]) / got["threads"],
         "s/min", "<= 20"),
        ("end to end: loading Llama-3.2-3B (bf16 file) / w2v-BERT (fp32 file)", got["text load s"] + got["audio load s"],
         "s", f"({got['text load s']:.1f} + {got['audio load s']:.1f})"),
        ("end to end: peak RSS after loading both (mapped weights are read on first use)",
         got["audio rss after load GiB"], "GiB", ""),
        ("end to end: peak RSS, both models loaded, after both", got["peak rss GiB"], "GiB", "<= 12"),
        *((f"features bf16 vs fp32, {m} (20 s, real-size random model), ||diff|| / ||fp32||",
           errors[m]["relative"], "", f"(max |diff| = {errors[m]['of range']:.1e} of the fp32 range)")
          for m in ("text", "audio")),
    ]


if __name__ == "__main__":
    arguments = sys.argv[1:]
    folder = None
    if "--end-to-end" in arguments:
        at = arguments.index("--end-to-end")
        following = arguments[at + 1:at + 2]
        folder = following[0] if following and not following[0].isdigit() else \
            str(Path(tempfile.gettempdir()) / "nforge-tribe-cpu-models")
        del arguments[at:at + (2 if following and not following[0].isdigit() else 1)]
    main(*(int(a) for a in arguments[:1]), end_to_end=folder)
