"""The paper's running example, reproduced: Yi-34B on one A100-80GB at 4K, 50K, 100K, 1M.

Conventions (stated in the printed table and in ``docs/cost-model.md``):

- Yi-34B's architecture from the catalog (60 layers, 8 KV heads, head dim 128), but the
  paper's round parameter count, 34e9 (its "68 GB" of bf16 weights); the model card's
  34.39e9 is in the catalog entry.
- A100-80GB SXM from the catalog: 312e12 FLOP/s dense bf16, 2.039e12 B/s, 80 GiB, PCIe 4.0 x16;
  its tensor-parallel all-reduce is the plain ring (the paper's convention, and kvjax's before
  one-shot kernels entered the catalog: ``allreduce_latency_s`` at its "no such kernel"
  default), so the table stays the paper's.
- KV and weights in bf16; efficiency 1 (theoretical peak, as the paper); 250 output tokens.
- All of HBM for weights and KV: ``hbm_utilization = 1``, ``hbm_reserve_bytes = 0`` (the
  defaults hold back an engine's reserve, vLLM's 0.9 and 1.79 GiB).
- A context switch adds its swap-out and swap-in, ``swap_duplex = 0`` (the default, 1,
  overlaps them on the full-duplex PCIe link: half the time).
- The A100 alone on its node, ``node_fill = 0``: its PCIe link all its own (the default, 1,
  fills the DGX A100 with such replicas, and two GPUs share each PCIe switch's uplink).
- Prefill attention under four conventions: none (the linear ``2 P T`` term alone), QK^T
  only under the causal mask (mask fraction 0.25), causal QK^T + AV (0.5), non-causal (1.0).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax

from . import catalog
from ._format import columns, sig
from .costs import prefill_compute_s
from .model import Scenario, Workload, evaluate, leaf_defaults
from .units import GiB

CONTEXTS = (4_000, 50_000, 100_000, 1_000_000)
PAPER_PARAMS = 34e9
OUTPUT_TOKENS = 250.0

# The paper's quoted figures (shared/paper.md): None where the paper gives none.
PAPER = {
    "kv_bytes_per_token": {4_000: 245_760, 50_000: 245_760, 100_000: 245_760},
    "kv_gib_per_user": {4_000: 0.91, 50_000: 11.4, 100_000: 22.8},
    "prefill_s": {4_000: 0.89, 50_000: 14.1},
    "decode_s": {4_000: 8.5, 50_000: 9.8},
    "concurrency": {4_000: "~13-20", 50_000: "1", 100_000: "0"},
}

MASK_CONVENTIONS = {
    "linear term only": 0.0,
    "QK^T only, causal (0.25)": 0.25,
    "causal QK^T + AV (0.5)": 0.5,
    "non-causal (1.0)": 1.0,
}


def paper_scenario(context_tokens: float, **workload) -> Scenario:
    """The paper's Yi-34B on one A100-80GB SXM at ``context_tokens``."""
    model = catalog.load_model("yi-34b").replace(params_total=PAPER_PARAMS)
    hardware = catalog.load_hardware("a100-80gb-sxm").replace(
        allreduce_latency_s=leaf_defaults()["hardware.allreduce_latency_s"]
    )
    conventions = {"hbm_utilization": 1.0, "hbm_reserve_bytes": 0.0, "swap_duplex": 0.0,
                   "node_fill": 0.0}  # fmt: skip
    conventions |= workload
    w = Workload(context_tokens=float(context_tokens), output_tokens=OUTPUT_TOKENS, **conventions)
    return Scenario(model, hardware, w)


@dataclass(frozen=True)
class Row:
    label: str
    values: tuple  # one per context
    paper: tuple  # one per context (str or None)


def smallest_tp(context_tokens: float, choices=(1, 2, 4, 8)):
    """Smallest TP degree among ``choices`` at which one user fits, or None."""
    for tp in choices:
        r = evaluate(paper_scenario(context_tokens, tp=float(tp)), ["concurrency"])
        if float(r["concurrency"]) >= 1.0:
            return tp
    return None


def compute_rows() -> list[Row]:
    """Every row of the table, computed with ``evaluate`` (float64)."""
    with jax.enable_x64(True):
        ev = jax.jit(evaluate)
        res = {t: {k: float(v) for k, v in ev(paper_scenario(t)).items()} for t in CONTEXTS}
        pre = {
            name: [
                float(prefill_compute_s(paper_scenario(t, attention_mask_fraction=m)))
                for t in CONTEXTS
            ]
            for name, m in MASK_CONVENTIONS.items()
        }
        tp = {t: smallest_tp(t) for t in CONTEXTS}
        tp_res = {
            t: {k: float(v) for k, v in ev(paper_scenario(t, tp=float(tp[t]))).items()}
            for t in CONTEXTS
            if tp[t] is not None
        }
        full = {}  # served at full concurrency: batch = users that fit at that TP
        for t in tp_res:
            users = max(1.0, tp_res[t]["concurrency_floor"])
            r = ev(paper_scenario(t, tp=float(tp[t]), batch=users))
            full[t] = {"batch": users, **{k: float(v) for k, v in r.items()}}

    def col(key, f=lambda x: x):
        return tuple(f(res[t][key]) for t in CONTEXTS)

    def paper(key):
        return tuple(PAPER.get(key, {}).get(t) for t in CONTEXTS)

    rows = [
        Row("KV per token (B)", col("kv_bytes_per_token"), paper("kv_bytes_per_token")),
        Row(
            "KV per user (GiB)",
            col("kv_bytes_per_user", lambda b: b / GiB),
            paper("kv_gib_per_user"),
        ),
        Row("concurrency (real)", col("concurrency"), paper("concurrency")),
        Row("concurrency (users)", col("concurrency_floor"), (None,) * 4),
    ]
    for name, vals in pre.items():
        rows.append(Row(f"prefill s, {name}", tuple(vals), paper("prefill_s")))
    rows += [
        Row("prefill s as served (causal; NaN: no fit)", col("prefill_s"), paper("prefill_s")),
        Row("decode s, 250 tokens", col("decode_s"), paper("decode_s")),
        Row("context switch s (out + in, PCIe)", col("context_switch_s"), (None,) * 4),
        Row("session device-s (prefill + decode)", col("session_gpu_s"), (None,) * 4),
        Row("sessions per hour", col("sessions_per_hour"), (None,) * 4),
        Row("US$ per 1M output tokens", col("usd_per_million_output_tokens"), (None,) * 4),
        Row("smallest TP (1,2,4,8) that fits", tuple(tp[t] for t in CONTEXTS), (None,) * 4),
        Row(
            "  at that TP: concurrency",
            tuple(tp_res[t]["concurrency"] if t in tp_res else None for t in CONTEXTS),
            (None,) * 4,
        ),
        Row(
            "  at that TP: decode s, 250 tokens",
            tuple(tp_res[t]["decode_s"] if t in tp_res else None for t in CONTEXTS),
            (None,) * 4,
        ),
        Row(
            "  at that TP: device-s per session",
            tuple(tp_res[t]["session_gpu_s"] if t in tp_res else None for t in CONTEXTS),
            (None,) * 4,
        ),
    ]
    base = tp_res[CONTEXTS[0]]["session_gpu_s"]
    rows.append(
        Row(
            "  device-s per session / 4K's",
            tuple(tp_res[t]["session_gpu_s"] / base if t in tp_res else None for t in CONTEXTS),
            (None,) * 4,
        )
    )

    def at_full(key, f=lambda x: x):
        return tuple(f(full[t][key]) if t in full else None for t in CONTEXTS)

    base = full[CONTEXTS[0]]["session_gpu_s"]
    none = (None,) * 4
    rows += [
        Row("full concurrency (batch = users that fit)", at_full("batch"), none),
        Row("  device-s per session", at_full("session_gpu_s"), none),
        Row("  US$ per 1M output tokens", at_full("usd_per_million_output_tokens"), none),
        Row("  device-s per session / 4K's", at_full("session_gpu_s", lambda x: x / base), none),
    ]
    return rows


def render(rows: list[Row], markdown: bool = False) -> str:
    """The table as text: each cell ``kvjax (paper)``."""
    head = ["quantity"] + [f"{t // 1000}K" if t < 1_000_000 else "1M" for t in CONTEXTS]
    body = []
    for r in rows:
        cells = []
        for v, p in zip(r.values, r.paper):
            cell = sig(v)
            if p is not None:
                cell += f" ({sig(p)})"
            cells.append(cell)
        body.append([r.label] + cells)
    return _table(head, body, markdown)


def _table(head: list, body: list, markdown: bool) -> str:
    """A header and rows of cells as Markdown or as aligned text columns."""
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(b) + " |" for b in body]
        return "\n".join(lines)
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    rule = ["-" * w for w in widths]
    return "\n".join(columns([list(c) for c in zip(head, rule, *body)], align="left"))


CONVENTIONS = """\
Yi-34B (catalog architecture: L=60, K=8 KV heads, H=128; the paper's round 34e9 parameters,
68 GB of bf16 weights) on one A100-80GB SXM (312e12 FLOP/s dense bf16, 2.039e12 B/s HBM, 80
GiB, PCIe 4.0 x16 at 32e9 B/s each way, catalog price). bf16 KV, batch 1, 250 output tokens,
peak efficiency, all of HBM for weights and KV (no engine reserve). Cells: kvjax (paper's
figure). "no fit": the weights plus one user's KV exceed HBM, so latencies are NaN. Prefill
rows are the FLOP-bound time, shown even where the KV does not fit. The paper's prefill
figures lie between the linear-only and the causal convention, and match the QK^T-only
causal convention (Kaplan et al.'s 2 n_layer n_ctx d_attn per token, averaged over the
causal mask) to 0.4% at 4K and 1.7% at 50K. The last block serves as many users as fit at
the smallest TP degree (the paper's concurrent framework): long context costs most through
lost concurrency."""


# The multi-turn running example (issue 12): 50K first prompt, 5 turns of 1,000 new tokens and
# 250 out, 30 s of think time, 4 users in flight where 1.4 fit.
TURNS = {"context_tokens": 50_000.0, "turns": 5.0, "turn_input_tokens": 1000.0,
         "think_s": 30.0, "batch": 4.0}  # fmt: skip
TURN_STRATEGIES = {
    "recompute (no host tier)": {"host_kv_bytes": 0.0},
    "host DRAM, serial PCIe": {"swap_duplex": 0.0},
    "host DRAM, full duplex": {"swap_duplex": 1.0},
    "full DGX A100, duplex": {"swap_duplex": 1.0, "node_fill": 1.0},
    "one user alone (resident)": {"batch": 1.0, "think_s": 0.0},
}
_TURN_METRICS = {
    "follow-up TTFT s, history kept": ("followup_prefill_s", 1.0),
    "follow-up TTFT s, recomputed": ("recompute_prefill_s", 1.0),
    "history load s (PCIe)": ("history_load_s", 1.0),
    "share of follow-ups reloading": ("offloaded_share", 1.0),
    "device-s per session": ("session_gpu_s", 1.0),
    "US$ per 1M output tokens": ("usd_per_million_output_tokens", 1.0),
}


def multi_turn_rows() -> list[Row]:
    """The multi-turn running example, one column per way of keeping KV between turns."""
    names = [m for m, _ in _TURN_METRICS.values()]
    with jax.enable_x64(True):
        ev = jax.jit(evaluate, static_argnums=1)
        res = {}
        for n, change in TURN_STRATEGIES.items():
            r = ev(paper_scenario(**(TURNS | change)), tuple(names))
            res[n] = {k: float(v) for k, v in r.items()}
    rows = [Row(label, tuple(res[n][m] * k for n in TURN_STRATEGIES), (None,) * len(res))
            for label, (m, k) in _TURN_METRICS.items()]  # fmt: skip
    base = res["recompute (no host tier)"]["session_gpu_s"]
    ratio = tuple(res[n]["session_gpu_s"] / base for n in TURN_STRATEGIES)
    return rows + [Row("device-s per session / recompute's", ratio, (None,) * len(res))]


def render_multi_turn(markdown: bool = False) -> str:
    """The multi-turn block as text (columns: the strategies)."""
    rows = multi_turn_rows()
    head = ["multi-turn, 50K + 5 turns"] + list(TURN_STRATEGIES)
    body = [[r.label] + [sig(v) for v in r.values] for r in rows]
    return _table(head, body, markdown)


TURN_NOTE = """\
Multi-turn: the same model and device, a 50K-token first prompt then 4 follow-ups of
1,000 new tokens and 250 out each, 30 s of think time, 4 users in flight where 1.4 fit. A
follow-up whose history waited off HBM loads it from host DRAM over PCIe or recomputes it,
whichever is cheaper (kvjax/model/_turns.py); the swap the paper charges as a penalty is
what replaces re-prefilling the conversation. On a DGX A100 full of such replicas two GPUs
share each PCIe switch's uplink, so a full-duplex load takes as long as a serial one on a
link of one's own (kvjax/model/_tiers.py)."""


def report(markdown: bool = False) -> str:
    parts = [render(compute_rows(), markdown), CONVENTIONS, render_multi_turn(markdown), TURN_NOTE]
    return "\n\n".join(parts)
