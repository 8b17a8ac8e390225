"""One small store for the explorer's tests (Python and browser): 2 models x 3 accelerators
x batch 1, 4, 16 x context 1K..1M (13 values, geomspace), with elasticities of two metrics,
built once per test session."""

from __future__ import annotations

SPEC = """
name = "explore-test"
description = "explorer tests: 2 models x 3 accelerators x batch x context"
metrics = ["kv_bytes_per_user", "concurrency", "fits", "prefill_s", "decode_step_s",
           "session_gpu_s", "usd_per_million_output_tokens", "decode_regime", "prefill_regime"]

[axes.model]
catalog = "model"
names = ["yi-34b", "llama-3.1-8b"]

[axes.hardware]
catalog = "hardware"
names = ["a100-80gb-sxm", "h100-sxm", "mi300x"]

[axes.batch]
leaf = "workload.batch"
values = [1, 4, 16]

[axes.context]
leaf = "workload.context_tokens"
geomspace = [1000, 1_000_000, 13]

[fixed]
workload.output_tokens = 250

[elasticity]
metrics = ["decode_step_s", "usd_per_million_output_tokens"]
wrt = ["hardware.hbm_bytes_per_s", "hardware.flop_per_s", "workload.kv_bits"]
"""


def make_store(path) -> str:
    from kvjax.sweep import parse_text, run_sweep

    run_sweep(parse_text(SPEC, "explore-test.toml"), str(path), durable=False)
    return str(path)
