"""Generate docs/attention-at-1m.md's table: one `kvjax eval --json` per design.
Run from the repository root: python docs/scripts/attention_at_1m.py"""

import json
import subprocess
import sys

BASE = ["--model", "llama-3.1-8b", "--hardware", "b200", "--context", "1M",
        "--prefill-chunk-tokens", "8192", "--hbm-utilization", "1", "--hbm-reserve-bytes", "0"]
DESIGNS = [
    ("GQA baseline (K = 8)", []),
    ("GQA baseline, prefill unchunked", ["--prefill-chunk-tokens", "0"]),
    ("MQA (K = 1)", ["--set", "model.n_kv_heads=1"]),
    ("cross-layer sharing, 2 layers per cache", ["--set", "model.layers_per_kv=2"]),
    ("int4 KV", ["--kv-bits", "4"]),
    ("token eviction, keep 10%", ["--kv-token-keep", "0.1"]),
    ("retrieval heads, keep 25%", ["--kv-head-keep", "0.25"]),
    (
        "sliding window 4096 on 5/6 of layers",
        [
            "--set",
            "model.windowed_layer_fraction=0.8333333333",
            "--set",
            "model.window_tokens=4096",
        ],
    ),
    (
        "sparse top-2048 + indexer (DSA-style)",
        [
            "--set",
            "model.sparse_topk_tokens=2048",
            "--set",
            "model.indexer_flop_per_key=16384",
            "--set",
            "model.indexer_bytes_per_token=132",
        ],
    ),
    (
        "3/4 linear layers, 1 MiB state each",
        [
            "--set",
            "model.linear_layer_fraction=0.75",
            "--set",
            "model.state_bytes_per_layer=1048576",
            "--set",
            "model.linear_flop_per_token=1048576",
        ],
    ),
]
KEYS = [
    "kv_bytes_per_user",
    "concurrency",
    "prefill_s",
    "prefill_attention_s",
    "decode_step_s",
    "decode_kv_s",
    "context_switch_s",
]
print(
    "| design | extra flags | KV per user (GB) | concurrency | prefill s (attention s) | decode ms/token (KV ms) | switch s |"
)
print("|---|---|---|---|---|---|---|")
for name, extra in DESIGNS:
    out = subprocess.run(
        [sys.executable, "-m", "kvjax", "eval", "--json", *BASE, *extra],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    m = {k: v["value"] for k, v in json.loads(out)["metrics"].items()}
    g = lambda k: m[k] if m[k] is not None else float("nan")
    print(
        f"| {name} | `{' '.join(extra)}` | {g('kv_bytes_per_user') / 1e9:.3g} | {g('concurrency'):.3g} | "
        f"{g('prefill_s'):.4g} ({g('prefill_attention_s'):.4g}) | {g('decode_step_s') * 1e3:.4g} ({g('decode_kv_s') * 1e3:.3g}) | {g('context_switch_s'):.3g} |"
    )
