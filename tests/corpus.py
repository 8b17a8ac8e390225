"""The bad-input corpus: what a new user or an adversary types, through every entry point.

Each case is a ``kvjax`` command line (with the files it needs) that must end with exactly
one line on stderr naming what is wrong -- the file, field or flag, and the value -- and
exit status 2, never a traceback, never silent acceptance.  ``tests/test_bad_input.py`` runs
every case in-process; ``python tests/corpus.py KVJAX_EXECUTABLE`` runs them against any
installed ``kvjax`` (for example an older version, to count what it got right).

Placeholders in ``argv``: ``{d}`` the case's own directory (its ``files`` are written
there), ``{store}`` a complete store made by the ``setup`` (damaged as ``setup`` says).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

TINY_SPEC = """
name = "tiny"
metrics = ["kv_bytes_per_user", "decode_step_s", "fits", "decode_regime"]
[axes.batch]
leaf = "workload.batch"
values = [1, 2, 4, 8, 16]
[axes.context]
leaf = "workload.context_tokens"
geomspace = [1000, 100000, 31]
[fixed]
model = "yi-34b"
hardware = "a100-80gb-sxm"
[chunks]
points = 62
"""
"""A 155-point sweep in 3 chunks: the store the store cases damage (and the spec of
``--resume`` cases)."""


@dataclass
class Case:
    id: str
    argv: list
    expect: tuple = ()
    files: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    setup: str | None = None  # "store", "partial", "shards:2", "damage:<what>"


def _spec(body: str) -> dict:
    return {"s.toml": body}


_BASE = '[axes.context]\nleaf = "workload.context_tokens"\nvalues = [1000, 2000]\n'
_FIXED = '[fixed]\nmodel = "yi-34b"\nhardware = "a100-80gb-sxm"\n'


def _spec_case(id, body, *expect):
    return Case(f"spec-{id}", ["sweep", "{d}/s.toml", "-o", "{d}/o.zarr"], ("s.toml", *expect),
                _spec(body))  # fmt: skip


def _fixed(extra):
    return _BASE + _FIXED + extra


SPEC_CASES = [
    _spec_case("not-toml", "[axes\n", "not valid TOML"),
    _spec_case("unknown-key", 'metric = "all"\n' + _fixed(""), "metric", "unknown key"),
    _spec_case("no-axes", _FIXED, "at least one [axes"),
    _spec_case("axis-not-table", 'axes = {x = 3}\n' + _FIXED, "axes.x", "must be a table"),
    _spec_case("axis-no-leaf", '[axes.x]\nvalues = [1, 2]\n' + _FIXED, "axes.x", "leaf"),
    _spec_case("unknown-leaf", '[axes.x]\nleaf = "workload.contex"\nvalues = [1]\n' + _FIXED,
               "workload.contex", "unknown scenario leaf"),
    _spec_case("group-as-leaf", '[axes.x]\nleaf = "workload"\nvalues = [1]\n' + _FIXED,
               "'workload'", "group, not a leaf"),
    _spec_case("two-forms", _BASE.replace("values = [1000, 2000]",
               "values = [1]\nlinspace = [1, 2, 3]") + _FIXED, "exactly one of"),
    _spec_case("empty-values", _BASE.replace("[1000, 2000]", "[]") + _FIXED, "non-empty"),
    _spec_case("string-value", _BASE.replace("[1000, 2000]", '["4k"]') + _FIXED, "numbers"),
    _spec_case("repeat-values", _BASE.replace("[1000, 2000]", "[1000, 1000]") + _FIXED,
               "values repeat"),
    _spec_case("geom-zero", _BASE.replace("values = [1000, 2000]", "geomspace = [0, 10, 3]")
               + _FIXED, "geomspace needs positive"),
    _spec_case("geom-count", _BASE.replace("values = [1000, 2000]", "geomspace = [1, 10, 2.5]")
               + _FIXED, "positive integer"),
    _spec_case("range-step", _BASE.replace("values = [1000, 2000]", "range = [1, 9, 0]")
               + _FIXED, "step must be positive"),
    _spec_case("range-back", _BASE.replace("values = [1000, 2000]", "range = [9, 1]") + _FIXED,
               "stop < start"),
    _spec_case("range-float", _BASE.replace("values = [1000, 2000]", "range = [1.5, 9]")
               + _FIXED, "integers"),
    _spec_case("huge-axis", _BASE.replace("values = [1000, 2000]", "linspace = [1, 2, 1e9]")
               + _FIXED, "more than"),
    _spec_case("context-zero", _BASE.replace("[1000, 2000]", "[0, 1000]") + _FIXED,
               "context_tokens", "valid domain"),
    _spec_case("batch-zero", _fixed("workload.batch = 0\n"), "workload.batch", "valid domain"),
    _spec_case("tp-zero", _fixed("workload.tp = 0\n"), "workload.tp", "valid domain"),
    _spec_case("tp-3", _fixed("workload.tp = 3\n"), "workload.tp", "does not divide"),
    _spec_case("tp-half", _fixed("workload.tp = 2.5\n"), "workload.tp", "whole number"),
    _spec_case("kv-bits-0", _fixed("workload.kv_bits = 0\n"), "kv_bits", "valid domain"),
    _spec_case("kv-bits-100", _fixed("workload.kv_bits = 100\n"), "kv_bits", "valid domain"),
    _spec_case("keep-2", _fixed("workload.kv_layer_keep = 2\n"), "kv_layer_keep", "(0, 1]"),
    _spec_case("token-keep-0", _fixed("workload.kv_token_keep = 0\n"), "kv_token_keep"),
    _spec_case("eff-0", _fixed("workload.flop_efficiency = 0\n"), "flop_efficiency"),
    _spec_case("bw-eff-1.5", _fixed("workload.bandwidth_efficiency = 1.5\n"),
               "bandwidth_efficiency"),
    _spec_case("reserve-neg", _fixed("workload.hbm_reserve_bytes = -1\n"), "hbm_reserve_bytes"),
    _spec_case("out-tokens-0", _fixed("workload.output_tokens = 0\n"), "output_tokens"),
    _spec_case("util-0", _fixed("workload.hbm_utilization = 0\n"), "hbm_utilization"),
    _spec_case("linear-2", _fixed('"model.linear_layer_fraction" = 2\n'),
               "linear_layer_fraction", "[0, 1]"),
    _spec_case("topk-neg", _fixed('"model.sparse_topk_tokens" = -1\n'), "sparse_topk_tokens"),
    _spec_case("tied-2", _fixed('"model.tied_embeddings" = 2\n'), "tied_embeddings"),
    _spec_case("fp4-neg", _fixed('"hardware.fp4_flop_per_s" = -1\n'), "fp4_flop_per_s"),
    _spec_case("mask-0", _fixed("workload.attention_mask_fraction = 0\n"),
               "attention_mask_fraction"),
    _spec_case("inf", _fixed("workload.batch = inf\n"), "workload.batch", "finite"),
    _spec_case("nan", _fixed("workload.batch = nan\n"), "workload.batch", "finite"),
    _spec_case("bool", _fixed("workload.batch = true\n"), "workload.batch", "must be a number"),
    _spec_case("kv-heads-3", _fixed('"model.n_kv_heads" = 3\n'), "n_kv_heads",
               "does not divide n_heads"),
    _spec_case("kv-heads-64", _fixed('"model.n_kv_heads" = 64\n'), "n_kv_heads", "exceeds"),
    _spec_case("hbm-neg", _fixed('"hardware.hbm_bytes" = -1\n'), "hardware.hbm_bytes"),
    _spec_case("price-neg", _fixed('"hardware.usd_per_hour" = -2\n'), "usd_per_hour"),
    _spec_case("unknown-model", _BASE + '[fixed]\nmodel = "yi-35b"\nhardware = "h100-sxm"\n',
               "yi-35b", "did you mean"),
    _spec_case("unknown-hw", _BASE + '[fixed]\nmodel = "yi-34b"\nhardware = "h1000"\n',
               "h1000", "unknown hardware"),
    _spec_case("fp8-on-a100", _fixed('precision = "fp8"\n'), "precision", "fp8"),
    _spec_case("no-model", _BASE + '[fixed]\nhardware = "h100-sxm"\n', "no model"),
    _spec_case("no-context", '[axes.b]\nleaf = "workload.batch"\nvalues = [1]\n' + _FIXED,
               "context_tokens needs an axis or a fixed value"),
    _spec_case("both-axis-fixed", _fixed("workload.context_tokens = 5\n"),
               "both an axis and fixed"),
    _spec_case("dup-axis", _BASE + '[axes.c2]\nleaf = "context_tokens"\nvalues = [5]\n'
               + _FIXED, "duplicate axis"),
    _spec_case("bad-axis-name", '[axes."a.b"]\nleaf = "batch"\nvalues = [1]\n' + _fixed(""),
               "plain identifiers"),
    _spec_case("catalog-unknown", '[axes.m]\ncatalog = "gpu"\n' + _BASE + _FIXED,
               "catalog must be one of"),
    _spec_case("catalog-names", '[axes.m]\ncatalog = "model"\nnames = ["yi-34b", "yi-34b"]\n'
               + _BASE + '[fixed]\nhardware = "h100-sxm"\n', "names repeat"),
    _spec_case("catalog-tp-rule",
               '[axes.m]\ncatalog = "model"\nnames = ["yi-34b", "falcon-7b"]\n' + _BASE
               + '[fixed]\nhardware = "h100-sxm"\nworkload.tp = 2\n',
               "workload.tp = 2", "71 attention heads", "falcon-7b"),
    _spec_case("metric-unknown", 'metrics = ["decode_steps"]\n' + _fixed(""), "decode_steps",
               "unknown metric"),
    _spec_case("metric-twice", 'metrics = ["fits", "fits"]\n' + _fixed(""), "fits",
               "named twice"),
    _spec_case("metrics-type", "metrics = 3\n" + _fixed(""), "metrics"),
    _spec_case("dtype", 'dtype = "float16"\n' + _fixed(""), "dtype", "float16"),
    _spec_case("chunks", _fixed("") + "[chunks]\npoints = 0\n", "chunks", "positive integer"),
    _spec_case("chunks-key", _fixed("") + "[chunks]\nsize = 5\n", "chunks", "unknown key"),
    _spec_case("el-metric", _fixed("") + '[elasticity]\nmetrics = ["fits"]\nwrt = ["kv_bits"]\n',
               "'fits'", "not a float metric"),
    _spec_case("el-wrt", _fixed("") + '[elasticity]\nmetrics = ["decode_step_s"]\n'
               'wrt = ["kv_bitz"]\n', "kv_bitz", "unknown scenario leaf"),
    _spec_case("el-missing", _fixed("") + '[elasticity]\nmetrics = ["decode_step_s"]\n',
               "needs wrt"),
    _spec_case("el-block", _fixed("") + '[elasticity]\nmetrics = ["decode_step_s"]\n'
               'wrt = ["kv_bits"]\nblock_points = 0\n', "block_points"),
]  # fmt: skip

# ----------------------------------------------------------------------------- CLI flags

_EVAL = ["eval", "--model", "yi-34b", "--hardware", "a100-80gb-sxm", "--context", "4000"]
_GRAD = ["grad", "--model", "yi-34b", "--hardware", "a100-80gb-sxm", "--context", "4000"]
_SOLVE = ["solve", "--model", "yi-34b", "--hardware", "a100-80gb-sxm", "--context", "1e6"]
_FLAG_BAD = [
    ("--batch", "0", "workload.batch"), ("--batch", "-4", "workload.batch"),
    ("--tp", "0", "workload.tp"), ("--tp", "3", "does not divide"), ("--tp", "2.5", "whole"),
    ("--kv-bits", "0", "workload.kv_bits"), ("--kv-bits", "100", "workload.kv_bits"),
    ("--kv-layer-keep", "2", "kv_layer_keep"), ("--kv-head-keep", "0", "kv_head_keep"),
    ("--kv-token-keep", "1.5", "kv_token_keep"), ("--flop-efficiency", "0", "flop_efficiency"),
    ("--bandwidth-efficiency", "2", "bandwidth_efficiency"),
    ("--output-tokens", "0", "output_tokens"), ("--weight-bytes-per-param", "0", "weight"),
    ("--hbm-reserve-bytes", "-1", "hbm_reserve"), ("--attention-mask-fraction", "0", "mask"),
    ("--context", "0", "context_tokens"), ("--context", "nan", "finite"),
    ("--context", "inf", "finite"), ("--batch", "x", "invalid float value"),
    # issue 11's leaves
    ("--hbm-utilization", "0", "hbm_utilization"), ("--hbm-utilization", "1.5", "(0, 1]"),
    ("--capacity-decode-share", "3", "capacity_decode_share"),
    ("--operator-overlap", "2", "operator_overlap"),
    ("--prefill-chunk-tokens", "-1", "prefill_chunk_tokens"),
    ("--logits-token-share", "2", "logits_token_share"),
    ("--gemm-flop-efficiency", "0", "gemm_flop_efficiency"),
    ("--attention-bandwidth-efficiency", "1.5", "attention_bandwidth_efficiency"),
    ("--gemm-compute-bits", "128", "gemm_compute_bits"),
    ("--activation-bits", "0", "activation_bits"),
    ("--embedding-bytes-per-param", "0", "embedding_bytes_per_param"),
    ("--weight-scale-bytes-per-param", "-1", "weight_scale_bytes_per_param"),
    ("--elementwise-vectors-per-layer", "-1", "elementwise_vectors_per_layer"),
    # issue 12's leaves
    ("--turns", "0", "workload.turns"), ("--turn-input-tokens", "-5", "turn_input_tokens"),
    ("--think-s", "-1", "think_s"), ("--prefix-tokens", "-1", "prefix_tokens"),
    ("--prefix-tokens", "1e9", "exceeds context_tokens"),
    ("--prefix-hit-rate", "1.5", "[0, 1]"), ("--host-kv-bytes", "-1", "host_kv_bytes"),
    ("--swap-duplex", "2", "swap_duplex"), ("--host-link-efficiency", "0", "(0, 1]"),
    ("--node-fill", "1.5", "node_fill"), ("--ssd-kv-bytes", "-1", "ssd_kv_bytes"),
    ("--remote-kv-bytes", "-1", "remote_kv_bytes"),
]  # fmt: skip
FLAG_CASES = [
    Case(f"{cmd[0]}{flag}={value}", [*cmd, flag, value], (flag.lstrip("-")[:7], want))
    for cmd in (_EVAL, _GRAD) for flag, value, want in _FLAG_BAD
] + [
    Case("eval-no-context", _EVAL[:5], ("--context is required",)),
    Case("eval-no-hardware", ["eval", "--model", "yi-34b", "--context", "1"], ("--hardware",)),
    Case("eval-two-models", [*_EVAL, "--hf-config", "x.json"], ("exactly one of",)),
    Case("eval-prefill-hardware", [*_EVAL, "--prefill-hardware", "nope"], ("nope", "unknown")),
    Case("eval-prefill-tp", [*_EVAL, "--prefill-hardware", "h100-sxm", "--prefill-tp", "3"],
         ("--prefill-tp", "divide")),
    Case("eval-layer-overlap", [*_EVAL, "--prefill-hardware", "h100-sxm", "--layer-overlap",
                                "2"], ("--layer-overlap", "[0, 1]")),
    Case("eval-kv-link", [*_EVAL, "--prefill-hardware", "h100-sxm", "--kv-link-gb-per-s", "0"],
         ("--kv-link-gb-per-s", "> 0")),
    Case("eval-unknown-model", ["eval", "--model", "yi34b", "--hardware", "h100-sxm",
                                "--context", "1"], ("yi34b", "did you mean 'yi-34b'")),
    Case("eval-unknown-hw", ["eval", "--model", "yi-34b", "--hardware", "a1000",
                             "--context", "1"], ("a1000", "unknown hardware")),
    Case("eval-precision", [*_EVAL, "--precision", "fp4"], ("--precision", "fp4")),
    Case("eval-fp8-a100", [*_EVAL, "--precision", "fp8"], ("precision", "fp8")),
    Case("eval-set-unknown", [*_EVAL, "--set", "model.n_kv_head=1"], ("n_kv_head", "did you")),
    Case("eval-set-nan", [*_EVAL, "--set", "model.n_kv_heads=nan"], ("n_kv_heads", "finite")),
    Case("eval-set-text", [*_EVAL, "--set", "model.n_kv_heads=x"], ("not a number",)),
    Case("eval-set-noeq", [*_EVAL, "--set", "model.n_kv_heads"], ("expected LEAF=VALUE",)),
    Case("eval-set-rule", [*_EVAL, "--set", "model.n_kv_heads=3"], ("n_kv_heads", "divide")),
    Case("eval-set-domain", [*_EVAL, "--set", "hardware.hbm_bytes=0"], ("hbm_bytes", "domain")),
    Case("eval-set-group", [*_EVAL, "--set", "model=3"], ("group, not a leaf",)),
    Case("grad-metric", [*_GRAD, "--metrics", "decode_steps"], ("decode_steps", "unknown")),
    Case("grad-bool", [*_GRAD, "--metrics", "fits"], ("fits", "not a float")),
    Case("grad-wrt", [*_GRAD, "--wrt", "hbm_speed"], ("hbm_speed", "unknown scenario leaf")),
    Case("grad-wrt-twice", [*_GRAD, "--wrt", "kv_bits,workload.kv_bits"], ("named twice",)),
    Case("grad-tp0", [*_GRAD, "--tp", "0"], ("--tp", "domain")),
    Case("solve-knob", [*_SOLVE, "--knob", "kv_bitz"], ("kv_bitz", "unknown scenario leaf")),
    Case("solve-not-knob", [*_SOLVE, "--knob", "n_layers"], ("not a solver knob",)),
    Case("solve-objective", [*_SOLVE, "--objective", "usd"], ("usd", "unknown metric")),
    Case("solve-bound", [*_SOLVE, "--knob", "kv_bits", "--bound", "kv_bits=0"], ("kv_bits",)),
    Case("solve-bound-text", [*_SOLVE, "--bound", "kv_bits=two"], ("not a number",)),
    Case("solve-ref", [*_SOLVE, "--reference-context", "0"], ("--reference-context",)),
    Case("solve-ref-set", [*_SOLVE, "--reference-set", "kv_bits=-1"], ("kv_bits", "domain")),
    Case("solve-tp0", [*_SOLVE, "--tp", "0"], ("--tp", "domain")),
    Case("list-what", ["list", "gpus"], ("gpus",)),
    Case("no-command", [], ("required",)),
    Case("bad-command", ["evaluate"], ("evaluate",)),
]  # fmt: skip

# ----------------------------------------------------------------------------- config.json

_LLAMA = {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32,
          "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
          "vocab_size": 128256}  # fmt: skip


def _hf(id, changes, *expect, text=None):
    cfg = {**_LLAMA, **changes}
    body = text if text is not None else json.dumps({k: v for k, v in cfg.items()
                                                     if v is not None})  # fmt: skip
    return Case(f"hf-{id}", ["eval", "--hf-config", "{d}/config.json", "--hardware",
                             "h100-sxm", "--context", "4000"], ("config.json", *expect),
                {"config.json": body})  # fmt: skip


HF_CASES = [
    _hf("not-json", {}, "not valid JSON", text="{hidden_size: 4096"),
    _hf("list", {}, "JSON object", text="[1, 2]"),
    _hf("type", {"model_type": "mamba"}, "model_type", "unsupported"),
    _hf("no-type", {"model_type": None}, "model_type"),
    _hf("no-hidden", {"hidden_size": None}, "hidden_size", "missing"),
    _hf("zero-heads", {"num_attention_heads": 0}, "num_attention_heads", "> 0"),
    _hf("neg-layers", {"num_hidden_layers": -2}, "num_hidden_layers"),
    _hf("float-hidden", {"hidden_size": 4096.5}, "hidden_size", "integer"),
    _hf("str-vocab", {"vocab_size": "big"}, "vocab_size", "integer"),
    _hf("bool-heads", {"num_attention_heads": True}, "num_attention_heads", "integer"),
    _hf("kv-gt-heads", {"num_key_value_heads": 64}, "num_key_value_heads", "exceeds"),
    _hf("kv-not-dividing", {"num_key_value_heads": 6}, "num_key_value_heads", "divide"),
    _hf("heads-gt-hidden", {"num_attention_heads": 8192, "num_key_value_heads": 8192},
        "hidden_size", "multiple"),
    _hf("hidden-not-multiple", {"hidden_size": 4100}, "hidden_size", "multiple"),
    _hf("head-dim-zero", {"head_dim": 0}, "head_dim", "> 0"),
    _hf("moe-topk", {"model_type": "mixtral", "num_local_experts": 8,
                     "num_experts_per_tok": 9}, "num_experts_per_tok", "exceeds"),
    Case("hf-missing", ["eval", "--hf-config", "{d}/nope.json", "--hardware", "h100-sxm",
                        "--context", "1"], ("nope.json", "cannot read config")),
]  # fmt: skip

# ----------------------------------------------------------------------------- catalogs

_MODEL = ('[toy]\nname = "Toy"\nhf_id = "x/toy"\nsource = "https://example.org/c.json"\n'
          'params_source = "card"\nn_layers = 4\nd_model = 64\nn_heads = 4\nn_kv_heads = 2\n'
          'head_dim = 16\nd_ff = 128\nvocab_size = 100\nparams_total = 1e6\n'
          'max_context_tokens = 2048\n')  # fmt: skip


def _hw_file():
    from pathlib import Path

    return (Path(__file__).resolve().parents[1] / "data" / "hardware.toml").read_text()


def _cat(id, models_text, *expect):
    return Case(f"catalog-{id}", ["list", "models"], ("models.toml", *expect),
                {"models.toml": models_text, "hardware.toml": "@hardware"},
                env={"KVJAX_DATA_DIR": "{d}"})  # fmt: skip


CATALOG_CASES = [
    _cat("not-toml", "[toy\n", "not valid TOML"),
    _cat("empty", "", "no entries"),
    _cat("bad-id", _MODEL.replace("[toy]", '["Toy Model"]'), "entry id"),
    _cat("unknown-field", _MODEL + "n_layer = 4\n", "n_layer", "unknown field"),
    _cat("missing", _MODEL.replace("n_heads = 4\n", ""), "n_heads", "missing required"),
    _cat("no-source", _MODEL.replace('source = "https://example.org/c.json"\n', ""),
         "source", "missing source URL"),
    _cat("source-not-url", _MODEL.replace('"https://example.org/c.json"', '"card"'),
         "http(s) URL"),
    _cat("negative", _MODEL.replace("head_dim = 16", "head_dim = -16"), "head_dim", "domain"),
    _cat("string", _MODEL.replace("d_model = 64", 'd_model = "64"'), "d_model",
         "not a number"),
    _cat("inf", _MODEL.replace("params_total = 1e6", "params_total = inf"), "not finite"),
    _cat("kv-gt-heads", _MODEL.replace("n_kv_heads = 2", "n_kv_heads = 8"), "n_kv_heads",
         "exceeds"),
    _cat("kv-3", _MODEL.replace("n_kv_heads = 2", "n_kv_heads = 3"), "n_kv_heads", "divide"),
    _cat("window", _MODEL + "windowed_layer_fraction = 0.5\n", "window_tokens"),
    _cat("rope", _MODEL + "kv_rope_dim = 64\n", "kv_latent_dim"),
    _cat("fraction", _MODEL + "windowed_layer_fraction = 1.5\nwindow_tokens = 8\n",
         "windowed_layer_fraction", "domain"),
    _cat("experts", _MODEL + "n_experts = 2\nexperts_per_token = 3\n", "experts_per_token"),
]  # fmt: skip

# ----------------------------------------------------------------------------- stores

STORE_CASES = [
    Case("info-missing", ["info", "{d}/nope.zarr"], ("nope.zarr", "not a kvjax sweep store")),
    Case("info-file", ["info", "{d}/f.txt"], ("f.txt", "not a kvjax sweep store"),
         {"f.txt": "hello"}),
    Case("info-dir", ["info", "{d}"], ("not a kvjax sweep store",), {"x": "y"}),
    Case("info-zarr-not-kvjax", ["info", "{d}/z.zarr"], ("not a kvjax sweep store",),
         {"z.zarr/zarr.json": '{"zarr_format": 3, "node_type": "group"}'}),
    Case("info-truncated-meta", ["info", "{store}"], ("zarr.json", "corrupt store metadata"),
         setup="damage:truncate-root"),
    Case("info-garbage-meta", ["info", "{store}"], ("corrupt store metadata",),
         setup="damage:garbage-root"),
    Case("info-array-meta", ["info", "{store}"], ("corrupt store metadata",),
         setup="damage:garbage-array-meta"),
    Case("info-missing-chunk", ["info", "{store}"], ("decode_step_s/c/1/0 (missing)",),
         setup="damage:delete-chunk"),
    Case("verify-missing-chunk", ["info", "{store}", "--verify"],
         ("decode_step_s/c/1/0 (missing)", "--resume"), setup="damage:delete-chunk"),
    Case("verify-garbage-chunk", ["info", "{store}", "--verify"],
         ("decode_step_s/c/1/0", "checksum mismatch"), setup="damage:garbage-chunk"),
    Case("verify-truncated-chunk", ["info", "{store}", "--verify"],
         ("decode_step_s/c/1/0", "bytes, recorded"), setup="damage:truncate-chunk"),
    Case("frontier-garbage-chunk", ["frontier", "{store}", "--minimize", "decode_step_s"],
         ("decode_step_s/c/1/0", "corrupt"), setup="damage:garbage-chunk"),
    Case("frontier-missing", ["frontier", "{d}/nope.zarr", "--minimize", "decode_step_s"],
         ("nope.zarr", "no such store")),
    Case("frontier-partial", ["frontier", "{store}", "--minimize", "decode_step_s"],
         ("incomplete sweep store",), setup="partial"),
    Case("frontier-objective", ["frontier", "{store}", "--minimize", "decode_steps"],
         ("decode_steps",), setup="store"),
    Case("frontier-over", ["frontier", "{store}", "--minimize", "decode_step_s", "--over",
                           "gpu"], ("gpu",), setup="store"),
    Case("frontier-own-input", ["frontier", "{store}", "--minimize", "decode_step_s", "--out",
                                "{store}"], ("own input",), setup="store"),
    Case("frontier-out-exists", ["frontier", "{store}", "--minimize", "decode_step_s", "--out",
                                 "{d}/keep.csv"], ("keep.csv", "--overwrite"),
         {"keep.csv": "precious"}, setup="store"),
    Case("frontier-out-userdir", ["frontier", "{store}", "--minimize", "decode_step_s",
                                  "--out", "{d}/mine.zarr", "--overwrite"], ("not a zarr store",),
         {"mine.zarr/a.txt": "precious"}, setup="store"),
    Case("frontier-out-csv-dir", ["frontier", "{store}", "--minimize", "decode_step_s",
                                  "--out", "{d}/t.csv", "--overwrite"], ("is a directory",),
         {"t.csv/a.txt": "precious"}, setup="store"),
    Case("frontier-out-ext", ["frontier", "{store}", "--minimize", "decode_step_s", "--out",
                              "{d}/t.txt"], ("t.txt", "unknown extension"), setup="store"),
    Case("boundary-dim", ["frontier", "{store}", "--boundary", "gpu", "--condition", "fits"],
         ("gpu", "not a dim"), setup="store"),
    Case("boundary-cond", ["frontier", "{store}", "--boundary", "batch", "--condition",
                           "fitz"], ("fitz", "unknown boundary condition"), setup="store"),
    Case("boundary-target", ["frontier", "{store}", "--boundary", "batch", "--condition",
                             "prefill_slo", "--target", "-1"], ("--target",), setup="store"),
    Case("boundary-no-cond", ["frontier", "{store}", "--boundary", "batch"], ("--condition",),
         setup="store"),
    Case("sweep-exists", ["sweep", "{d}/tiny.toml", "-o", "{store}"], ("store exists",),
         {"tiny.toml": TINY_SPEC}, setup="store"),
    Case("sweep-resume-other", ["sweep", "{d}/other.toml", "-o", "{store}", "--resume"],
         ("different spec",), {"other.toml": TINY_SPEC.replace("[1, 2, 4, 8, 16]", "[1, 2]")},
         setup="store"),
    Case("sweep-resume-f64", ["sweep", "{d}/tiny.toml", "-o", "{store}", "--resume",
                              "--float64"], ("float32, not float64",),
         {"tiny.toml": TINY_SPEC}, setup="partial"),
    Case("sweep-onto-file", ["sweep", "{d}/tiny.toml", "-o", "{d}/tiny.toml"],
         ("not a directory",), {"tiny.toml": TINY_SPEC}),
    Case("sweep-under-file", ["sweep", "{d}/tiny.toml", "-o", "{d}/tiny.toml/x.zarr"],
         ("cannot create the output directory",), {"tiny.toml": TINY_SPEC}),
    Case("sweep-userdir", ["sweep", "{d}/tiny.toml", "-o", "{d}/mine", "--overwrite"],
         ("not a zarr store",), {"tiny.toml": TINY_SPEC, "mine/a.txt": "precious"}),
    Case("sweep-missing-spec", ["sweep", "{d}/nope.toml", "-o", "{d}/o.zarr"],
         ("nope.toml", "no such spec")),
    Case("sweep-builtin-typo", ["sweep", "paper-running", "-o", "{d}/o.zarr"],
         ("did you mean 'paper-running-example'",)),
    Case("sweep-no-output", ["sweep", "{d}/tiny.toml"], ("-o/--output",),
         {"tiny.toml": TINY_SPEC}),
]  # fmt: skip

# ----------------------------------------------------------------------------- scale-out

_T = {"tiny.toml": TINY_SPEC}
_SW = ["sweep", "{d}/tiny.toml", "-o", "{d}/o.zarr"]
SCALE_CASES = [
    Case("shard-index-high", [*_SW, "--shard", "3/2"], ("--shard", "3/2", "not in 0..1"), _T),
    Case("shard-index-eq", [*_SW, "--shard", "2/2"], ("--shard", "2/2", "not in 0..1"), _T),
    Case("shard-zero", [*_SW, "--shard", "0/0"], ("--shard", "0/0", "at least 1"), _T),
    Case("shard-text", [*_SW, "--shard", "two"], ("--shard", "expected I/N"), _T),
    Case("shard-negative", [*_SW, "--shard=-1/2"], ("--shard", "expected I/N"), _T),
    Case("shard-and-dask", [*_SW, "--shard", "0/2", "--dask", "local:2"],
         ("--shard", "exclude each other"), _T),
    Case("shard-overwrite", [*_SW, "--shard", "0/2", "--overwrite"], ("--overwrite",), _T),
    Case("shard-other-spec", ["sweep", "{d}/o.toml", "-o", "{store}", "--shard", "0/2"],
         ("different spec", "batch"),
         {"o.toml": TINY_SPEC.replace("[1, 2, 4, 8, 16]", "[1, 2]")}, setup="store"),
    Case("shard-other-count", ["sweep", "{d}/tiny.toml", "-o", "{store}", "--shard", "0/3"],
         ("--shard",), _T, setup="shards:2"),
    Case("dask-local-zero", [*_SW, "--dask", "local:0"], ("--dask", "local:0", "N >= 1"), _T),
    Case("dask-local-text", [*_SW, "--dask", "local:x"], ("--dask", "local:x"), _T),
    Case("dask-unreachable", [*_SW, "--dask", "tcp://127.0.0.1:9"],
         ("--dask", "tcp://127.0.0.1:9", "cannot reach the Dask scheduler within 0.5 s"), _T,
         {"KVJAX_DASK_TIMEOUT_S": "0.5"}),
    Case("dask-scheduler-file", [*_SW, "--dask", "{d}/nope.json"],
         ("--dask", "no such scheduler file"), _T),
    Case("task-chunks-no-dask", [*_SW, "--task-chunks", "4"], ("--task-chunks", "--dask"), _T),
    Case("task-chunks-zero", [*_SW, "--dask", "local:1", "--task-chunks", "0"],
         ("--task-chunks",), _T),
    Case("finalize-partial", ["sweep", "--finalize", "{store}"],
         ("1 of 3 chunks have no done record", "chunks 2", "--resume"), setup="partial"),
    Case("finalize-partial-shards", ["sweep", "--finalize", "{store}"],
         ("1 of 3 chunks have no done record", "shard 1/2 (chunks 2)"), setup="shards:2"),
    Case("finalize-missing", ["sweep", "--finalize", "{d}/nope.zarr"],
         ("nope.zarr", "not a kvjax sweep store")),
    Case("finalize-with-spec", ["sweep", "{d}/tiny.toml", "--finalize", "{store}"],
         ("--finalize", "SPEC"), _T, setup="store"),
    Case("url-no-package", ["sweep", "{d}/tiny.toml", "-o", "s3://bucket/x.zarr"],
         ("s3://bucket/x.zarr", "s3fs"), _T),
    Case("url-unknown", ["sweep", "{d}/tiny.toml", "-o", "nope://bucket/x.zarr"],
         ("nope://bucket/x.zarr", "unknown URL protocol"), _T),
]  # fmt: skip

CASES = SPEC_CASES + FLAG_CASES + HF_CASES + CATALOG_CASES + STORE_CASES + SCALE_CASES
"""Every case; ids are unique."""


def damage(store, how: str) -> None:
    """Damage a complete store the way a case's ``setup`` names."""
    from pathlib import Path

    store = Path(store)
    chunk = store / "decode_step_s" / "c" / "1" / "0"
    if how == "truncate-root":
        text = (store / "zarr.json").read_text()
        (store / "zarr.json").write_text(text[: len(text) // 2])
    elif how == "garbage-root":
        (store / "zarr.json").write_bytes(b"\x00\xffnot json at all")
    elif how == "garbage-array-meta":  # the consolidated copy, and the array's own file
        meta = json.loads((store / "zarr.json").read_text())
        if "consolidated_metadata" in meta:
            meta["consolidated_metadata"]["metadata"]["decode_step_s"] = {"zarr_format": 3}
            (store / "zarr.json").write_text(json.dumps(meta))
        (store / "decode_step_s" / "zarr.json").write_text('{"zarr_format": 3}')
    elif how == "delete-chunk":
        chunk.unlink()
    elif how == "garbage-chunk":
        chunk.write_bytes(b"\x02\x01" + b"\xaa" * (len(chunk.read_bytes()) - 2))
    elif how == "truncate-chunk":
        chunk.write_bytes(chunk.read_bytes()[:10])
    else:
        raise ValueError(how)


def materialise(case: Case, d, make_store) -> tuple[list[str], dict]:
    """Write the case's files into directory ``d``, run its setup (``make_store(path,
    complete)`` writes the tiny store), and return its argv and env, placeholders filled."""
    from pathlib import Path

    d = Path(d)
    for name, text in case.files.items():
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(_hw_file() if text == "@hardware" else text)
    store = d / "store.zarr"
    if case.setup is not None:
        make_store(store, complete=case.setup not in ("partial", "shards:2"))
        if case.setup.startswith("damage:"):
            damage(store, case.setup.split(":", 1)[1])
        if case.setup == "shards:2":  # the partial store, being written in 2 shards
            meta = json.loads((store / "zarr.json").read_text())
            meta["attributes"]["kvjax_shards"] = 2
            (store / "zarr.json").write_text(json.dumps(meta))

    def fill(x):
        return str(x).replace("{d}", str(d)).replace("{store}", str(store))

    return [fill(a) for a in case.argv], {k: fill(v) for k, v in case.env.items()}


def classify(rc: int, err: str) -> str:
    """``clean`` (exit 2, one line, no traceback), ``traceback``, ``accepted`` (exit 0) or
    ``other`` (more lines, another status)."""
    lines = [x for x in err.splitlines() if x.strip()]
    if "Traceback" in err:
        return "traceback"
    if rc == 0:
        return "accepted"
    return "clean" if rc == 2 and len(lines) == 1 else "other"


def main(argv=None) -> int:  # pragma: no cover - a tool for before/after counts
    """``python tests/corpus.py KVJAX_EXECUTABLE``: run every case as a subprocess and
    count the outcomes (the store setups use that executable too)."""
    import collections
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    exe = (argv or sys.argv[1:])[0]
    env0 = dict(os.environ, KVJAX_NO_REEXEC="1")

    def make_store(path, complete=True):
        spec = Path(path).with_name("tiny-setup.toml")
        spec.write_text(TINY_SPEC)
        subprocess.run([exe, "sweep", str(spec), "-o", str(path), "--quiet"], env=env0,
                       check=True, capture_output=True)  # fmt: skip
        if not complete:
            meta = json.loads((Path(path) / "zarr.json").read_text())
            meta["attributes"]["kvjax_status"] = "incomplete"
            (Path(path) / "zarr.json").write_text(json.dumps(meta))

    counts = collections.Counter()
    for case in CASES:
        with tempfile.TemporaryDirectory() as d:
            args, env = materialise(case, d, make_store)
            r = subprocess.run([exe, *args], env={**env0, **env}, capture_output=True,
                               text=True, timeout=300)  # fmt: skip
            kind = classify(r.returncode, r.stderr)
            named = kind == "clean" and all(w in r.stderr for w in case.expect)
            counts[kind if kind != "clean" or named else "clean, but not naming"] += 1
            print(f"{kind:10} {case.id}: {r.stderr.strip()[:160]}")
    print(dict(counts), "of", len(CASES))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
