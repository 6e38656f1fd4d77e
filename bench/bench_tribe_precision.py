"""Error of the TRIBE v2 encoder's fast paths (bf16, int8) against float32 and the reference, per weight spread.

The fast paths are opt-in (float32 is the default) because their error depends on the weights: this bench
measures it on three deterministic spreads (``spread_weights`` of tests/_reference.py): ``unit`` (torch's
default initialisation, the older tests' spread), ``realistic`` (N(0, 0.02) weights, norms 1 + N(0, 0.1))
and ``outlier rows`` (realistic with a few rows 30x larger), on a reduced architecture (hidden 384, 4 layers,
500 outputs, 100 steps) so that the float64 reference runs in seconds on 2 cores; ``--full`` uses the
released size (slow). Errors are against the float64 reference: max |diff| / range of the reference output,
and ||diff|| / ||reference||. The int8 path is run through oneDNN even on CPUs without VNNI (same numbers,
slower). The worst case of each path is printed last (the README quotes it). Run:
``.venv/bin/python bench/bench_tribe_precision.py [--full]``.
"""

from __future__ import annotations

import sys
from unittest import mock

import torch

from _common import TESTS, report

N_STEPS = 100


def measure(full: bool = False) -> dict:
    """``{weight kind: {precision: (max error / range, relative norm error)}}``."""
    sys.path.insert(0, str(TESTS))
    from nforge_app.models import _tribe_net as tn

    from _reference import WEIGHT_KINDS, oracle, spread_weights

    spec = tn.EncoderSpec() if full else tn.EncoderSpec(
        feature_dims={"text": (2, 192), "audio": (2, 128), "video": (2, 160)}, n_outputs=500,
        n_output_timesteps=50, hidden=384, depth=4, heads=6, ff_mult=4, max_seq_len=128, low_rank=256)
    generator = torch.Generator().manual_seed(1)
    features = {m: torch.randn(1, n_layers, dim, N_STEPS, generator=generator)
                for m, (n_layers, dim) in spec.feature_dims.items()}
    errors = {}
    for kind in WEIGHT_KINDS:
        encoder = spread_weights(tn.TribeEncoder(spec).eval(), kind)
        reference = oracle(encoder, features)
        span = float(reference.max() - reference.min())

        def error(output, reference=reference, span=span):
            output = output.double()
            return (float((output - reference).abs().max()) / span,
                    float((output - reference).norm() / reference.norm()))

        errors[kind] = {"fp32": error(encoder(features, fast="fp32")), "bf16": error(encoder(features, fast="bf16"))}
        with mock.patch.object(tn, "int8_supported", lambda device: True):
            errors[kind]["int8"] = error(encoder(features, fast="int8"))
    return errors


def main(full: bool = False) -> None:
    torch.set_num_threads(2)
    errors = measure(full)
    rows = []
    for kind, by_precision in errors.items():
        for precision, (of_range, relative) in by_precision.items():
            target = "<= 1" if precision == "fp32" else ""
            rows.append((f"{kind}, {precision}: max |diff| / output range", of_range * 1e4, "1e-4", target))
            rows.append((f"{kind}, {precision}: ||diff|| / ||output||", relative * 1e4, "1e-4", target))
    for precision in ("fp32", "bf16", "int8"):
        worst = max((by[precision] for by in errors.values()), key=lambda pair: pair[0])
        rows.append((f"WORST {precision}: max |diff| / output range", worst[0] * 1e4, "1e-4", ""))
        rows.append((f"WORST {precision}: ||diff|| / ||output||", worst[1] * 1e4, "1e-4", ""))
    report("tribe_precision", rows, extra={"full_size": full, "errors": errors, "threads": torch.get_num_threads()})


if __name__ == "__main__":
    main("--full" in sys.argv[1:])
