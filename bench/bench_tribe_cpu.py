"""TRIBE v2 on this CPU, per minute of stimulus: text (per-word reference vs one causal pass), audio, encoder.

Random weights from the released configurations (nothing downloaded): Llama-3.2-3B (hidden 3072, 24 heads,
8 key/value heads, feed-forward 8192), w2v-BERT 2.0 (hidden 1024, feed-forward 4096, conformer) and the TRIBE
v2 encoder at its full size. On 2 shared cores a full Llama-3.2-3B or w2v-BERT would take many minutes
per measurement, so ONE transformer layer of each is timed at the real width and the time is multiplied
by the real depth (28 and 24 layers): layers are identical in cost, so this extrapolation is the full
model's time up to the embedding lookup (negligible); the vocabulary is cut to 1,000 rows for memory
(the lookup does not depend on it). Stated in the output as "extrapolated".

Text, reference vs fast, for a 5-minute transcript (750 words, 1.3 tokens per word): the reference runs
188 batches of 4 contexts, each context all the words so far (up to 1,024 words); the fast path one pass
over the 975 tokens. Both are costed from timed passes of the layer: t(T) = a * T + b * T^2 fitted per
batch size (batch 1 on 256 and 1,024 tokens for the fast path, batch 4 on 128 and 512 for the reference). Video (V-JEPA2 giant, about 16 TFLOP
per 64-frame clip, 120 clips per minute) is costed from this machine's measured matrix speed, not run.
Also measured on those layers: bf16 against fp32 (relative error of the output states), and how much
a word's states change when its context is 512 words instead of 1,024 (the chunked fast path's worst case;
one random layer, so only an indication of the size for trained weights). Peak RSS: this process (reduced models) and the weights of the real models (computed). Other processes on
the machine slow every figure; each time is the minimum of ``repeats``. Run:
``.venv/bin/python bench/bench_tribe_cpu.py [repeats]``.
"""

from __future__ import annotations

import resource
import sys
import time

import torch

from _common import report

WORDS_PER_MINUTE = 150
TOKENS_PER_WORD = 1.3
LLAMA_LAYERS, W2V_LAYERS = 28, 24
LLAMA_PARAMS, W2V_PARAMS = 3.21e9, 0.58e9
FIVE_MINUTES_WORDS = 5 * WORDS_PER_MINUTE
VIDEO_TFLOP_PER_MINUTE = 1900.0


def _best(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def _llama_layer():
    from transformers import LlamaConfig, LlamaModel

    config = LlamaConfig(vocab_size=1000, hidden_size=3072, intermediate_size=8192, num_hidden_layers=1,
                         num_attention_heads=24, num_key_value_heads=8, max_position_embeddings=131072,
                         rope_theta=500000.0)
    torch.manual_seed(0)
    return LlamaModel(config).eval()


def _w2v_layer():
    from transformers import Wav2Vec2BertConfig, Wav2Vec2BertModel

    config = Wav2Vec2BertConfig(hidden_size=1024, num_hidden_layers=1, num_attention_heads=16,
                                intermediate_size=4096, feature_projection_input_dim=160)
    torch.manual_seed(0)
    return Wav2Vec2BertModel(config).eval()


def main(repeats: int = 2) -> None:
    torch.set_num_threads(2)
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    from nforge_app.models._tribe_estimate import machine_tflops
    from nforge_app.models._tribe_net import EncoderSpec, TribeEncoder

    rows, extra = [], {}
    tflops = machine_tflops("float32", seconds=1.0)
    rows.append(("calibration: float32 matrix product", tflops * 1e3, "GFLOP/s", ""))

    with torch.inference_mode():
        # text ------------------------------------------------------------------------------------------------
        layer = _llama_layer()

        def llama(batch: int, n_tokens: int) -> float:
            ids = torch.randint(0, 1000, (batch, n_tokens))
            return _best(lambda: layer(input_ids=ids), repeats)

        # per batch size, t(T) = a T + b T^2 through two measured points (batch 4: the reference's batches)
        measured = {(batch, n): llama(batch, n) for batch, n in ((1, 256), (1, 1024), (4, 128), (4, 512))}
        fits = {}
        for batch, (short, long) in ((1, (256, 1024)), (4, (128, 512))):
            slope = (measured[batch, long] / long - measured[batch, short] / short) / (long - short)
            fits[batch] = (measured[batch, short] / short - max(slope, 0.0) * short, max(slope, 0.0))

        def cost(batch: int, n_tokens: float) -> float:
            a, b = fits[1 if batch == 1 else 4]
            return LLAMA_LAYERS * (batch / (1 if batch == 1 else 4)) * (a * n_tokens + b * n_tokens ** 2)

        n_tokens = FIVE_MINUTES_WORDS * TOKENS_PER_WORD
        fast_s = cost(1, n_tokens)
        reference_s = sum(cost(min(4, FIVE_MINUTES_WORDS - first),
                               TOKENS_PER_WORD * min(first + 4, 1024))
                          for first in range(0, FIVE_MINUTES_WORDS, 4))
        efficiency = 2 * LLAMA_PARAMS / LLAMA_LAYERS * 1024 / measured[1, 1024] / 1e12 / tflops
        rows += [(f"text: one Llama layer, batch {batch} x {n} tokens (measured)", t, "s", "")
                 for (batch, n), t in measured.items()]
        rows += [
            ("text fast: 5-min transcript, one pass (extrapolated, 28 layers)", fast_s, "s", ""),
            ("text reference: 5-min transcript, per word (extrapolated)", reference_s, "s", ""),
            ("text fast speed-up on a 5-min transcript", reference_s / fast_s, "x", ">= 20"),
            ("text fast per minute of stimulus (5-min transcript)", fast_s / 5, "s/min", ""),
            ("Llama layer speed / calibration (efficiency)", efficiency, "", ""),
        ]
        # bf16 against fp32 on the same layer (what a CPU with native bf16 runs), and the chunked fast path's
        # context: a word's states after 1,024 words of context against after 512 (the shortest in a chunk).
        ids = torch.randint(0, 1000, (1, 256))
        exact = layer(input_ids=ids).last_hidden_state
        bf16 = layer.to(torch.bfloat16)(input_ids=ids).last_hidden_state.float()
        layer.float()
        long_ids = torch.randint(0, 1000, (1, round(1024 * TOKENS_PER_WORD)))
        full = layer(input_ids=long_ids).last_hidden_state[0, -4:]
        half = layer(input_ids=long_ids[:, -round(512 * TOKENS_PER_WORD):]).last_hidden_state[0, -4:]
        rows += [("Llama layer bf16 vs fp32, ||diff|| / ||fp32|| (256 tokens)",
                  float((bf16 - exact).norm() / exact.norm()), "", ""),
                 ("Llama layer, last word after 512 vs 1,024 words of context, ||diff|| / ||states||",
                  float((half - full).norm() / full.norm()), "", "")]
        layer = None  # frees it

        # audio -----------------------------------------------------------------------------------------------
        w2v = _w2v_layer()
        frames = torch.randn(1, 3000, 160)  # 60 s at 50 frames/s, 160 = 2 x 80 mel bins stacked
        mask = torch.ones(1, 3000, dtype=torch.long)
        t_audio = _best(lambda: w2v(input_features=frames, attention_mask=mask), repeats)
        audio_s = W2V_LAYERS * t_audio
        short = frames[:, :500]
        exact = w2v(input_features=short).last_hidden_state
        bf16 = w2v.to(torch.bfloat16)(input_features=short.bfloat16()).last_hidden_state.float()
        rows.append(("w2v-BERT layer bf16 vs fp32, ||diff|| / ||fp32|| (10 s)",
                     float((bf16 - exact).norm() / exact.norm()), "", ""))
        rows += [("audio: one w2v-BERT layer, 60 s (measured)", t_audio, "s", ""),
                 ("audio per minute of stimulus (extrapolated, 24 layers)", audio_s, "s/min", "")]
        w2v = None

        # encoder ---------------------------------------------------------------------------------------------
        torch.manual_seed(0)
        encoder = TribeEncoder(EncoderSpec()).eval()
        features = {m: torch.randn(1, n_layers, dim, 200) for m, (n_layers, dim) in encoder.spec.feature_dims.items()}
        encoder(features, fast="fp32")  # lays the weights out once
        t_window = _best(lambda: encoder(features, fast="fp32"), repeats)
        encoder_s = t_window * 60 / 100
        rows += [("encoder fp32: one 100-s window (measured)", t_window, "s", ""),
                 ("encoder per minute of stimulus", encoder_s, "s/min", "")]
        encoder = None

    video_s = VIDEO_TFLOP_PER_MINUTE / (tflops * max(efficiency, 0.05))
    total = fast_s / 5 + audio_s + encoder_s
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    weights_gb = {"llama fp32": LLAMA_PARAMS * 4 / 2**30, "llama bf16": LLAMA_PARAMS * 2 / 2**30,
                  "w2v-bert fp32": W2V_PARAMS * 4 / 2**30, "encoder fp32": 177_205_397 * 4 / 2**30}
    rows += [
        ("video per minute of stimulus (costed from the calibration, not run)", video_s / 60, "min/min", "no target"),
        ("audio + text + encoder per minute of stimulus", total, "s/min", "<= 20"),
        ("peak RSS of this bench (one layer each)", peak_gb, "GiB", ""),
        ("weights of the real models, fp32, all loaded", weights_gb["llama fp32"] + weights_gb["w2v-bert fp32"]
         + weights_gb["encoder fp32"], "GiB", ""),
        ("weights with low_mem_use (largest one, Llama fp32)", weights_gb["llama fp32"], "GiB", "<= 12"),
    ]
    extra.update({"threads": torch.get_num_threads(), "torch": torch.__version__, "repeats": repeats,
                  "cpu_capability": torch.backends.cpu.get_cpu_capability(), "fits": fits,
                  "weights_gib": weights_gb, "extrapolated": True})
    report("tribe_cpu", rows, extra=extra)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
