"""Build a :class:`~kvjax.model.Model` from a LOCAL Hugging Face ``config.json``.

Never touches the network: download the file yourself and pass its path.

>>> from pathlib import Path; import kvjax      # the fixture of a source checkout
>>> path = Path(kvjax.__file__).parents[1] / "tests/fixtures/hf/llama-3.1-8b.json"
>>> model, info = model_from_hf_config(path)
>>> int(model.n_kv_heads), info["params_total"]
(8, 8029995008)

(Meta's safetensors hold 8,030,261,248 parameters: the 65 x 4096 norm weights are ignored.)

Conventions (the same as ``kvjax/catalog/data/models.toml``):

* ``head_dim`` is the config's ``head_dim`` when present, else ``hidden_size //
  num_attention_heads``, which is exactly what Hugging Face's attention modules do for these
  families.  MLA (DeepSeek-V2/V3): ``head_dim = qk_nope_head_dim + qk_rope_head_dim``,
  ``n_kv_heads = n_heads``, ``kv_latent_dim = kv_lora_rank``, ``kv_rope_dim = qk_rope_head_dim``.
* ``params_total`` counts embeddings (once when ``tie_word_embeddings``, twice otherwise),
  attention projections (with MLA's low-rank q/kv projections and Qwen2's q/k/v biases),
  gated MLPs ``3 D F``, routed and shared experts and the routers.  Norm weights (a few
  ``D``-vectors per layer, < 0.01 % of any model here) are ignored.
* ``expert_params`` = parameters of ONE routed expert summed over the MoE layers;
  ``n_experts`` counts routed experts only (shared experts are in the shared part);
  ``n_dense_layers`` = the layers of an MoE model with a dense MLP (DeepSeek's
  ``first_k_dense_replace``, Qwen-MoE's ``mlp_only_layers`` / ``decoder_sparse_step``).
* ``allreduces_per_layer`` = 1 for parallel blocks (``parallel_attn`` or
  ``use_parallel_residual`` true in the config, or a Cohere model) and for Nemotron-H (each
  layer is one block), else 2.
* Tables: ``embedding_params = vocab x hidden``; ``output_head_params`` the same when untied,
  else 0 with ``tied_embeddings = 1``.  ``activation_width``: ``2 F`` for a gated dense MLP,
  ``(k + shared) 2 F_expert`` for MoE, the larger where both occur (``F`` for Nemotron-H's
  squared-ReLU MLP).
* Issue-11 families: Qwen3 / Qwen3-MoE as Qwen2 without q/k/v biases and without a shared
  expert; Llama 4 from ``text_config`` (MoE every ``interleave_moe_layer_step``-th layer
  with one shared expert, dense width ``intermediate_size_mlp``, ``attention_chunk_size`` as
  the window of the RoPE layers, 3 of 4); gpt-oss with attention and expert biases and one
  sink logit per head; Kimi K2 and DeepSeek-V3.2 as MLA (V3.2 adds its indexer:
  ``sparse_topk_tokens = index_topk``, ``indexer_flop_per_key = 2 x index_n_heads x
  index_head_dim``, ``indexer_bytes_per_token`` = fp8 key + fp32 scale); the linear-layer
  share, state bytes (bf16) and recurrence FLOP of Qwen3-Next's Gated DeltaNet and
  Nemotron-H's Mamba-2 layers (``kvjax/catalog/_hf_layers.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import fail
from ..model import Model, check_leaf_value, first_problem
from ._hf_layers import (
    gated_deltanet,
    llama4_chunked_layers,
    llama4_moe_layers,
    mamba2,
    nemotron_h_pattern,
    qwen3_next_layers,
)

SUPPORTED = (
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "deepseek_v2",
    "deepseek_v3",
    "gemma",
    "gemma2",
    "gemma3",
    "gemma3_text",
    "cohere",
    "qwen3",
    "qwen3_moe",
    "qwen3_next",
    "llama4",
    "gpt_oss",
    "deepseek_v32",
    "kimi_k2",
    "nemotron_h",
)
# Multi-head latent attention (DeepSeek-V2/V3 layout): Kimi K2 and DeepSeek-V3.2 reuse it.
_MLA = ("deepseek_v2", "deepseek_v3", "deepseek_v32", "kimi_k2")
# Multimodal wrappers whose decoder lives in ``text_config``: wrapper -> decoder model_type.
_WRAPPED = {"gemma3": "gemma3_text", "llama4": "llama4"}
# Hugging Face's default for tie_word_embeddings when a config omits the key.
_TIED_BY_DEFAULT = ("gemma", "gemma2", "gemma3_text", "cohere")
# Parallel-block families: attention and MLP read the same input and are summed before one
# tensor-parallel all-reduce (HF CohereDecoderLayer; GPT-NeoX/Falcon say so in the config).
_PARALLEL_BLOCK = ("cohere", "nemotron_h")  # Nemotron-H: one block (one all-reduce) a layer
_MISSING = object()


class _Config:
    """Typed, located access to a parsed config dict."""

    def __init__(self, cfg: dict, path: Path):
        self.cfg, self.path = cfg, path

    def int(self, key, default=_MISSING, zero_ok=False) -> int:
        value = self.cfg.get(key, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                raise fail("missing required field", self.path, field=key)
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("not an integer", self.path, field=key, value=value)
        if value < 0 or (value == 0 and not zero_ok):
            raise fail(
                "must be > 0" if not zero_ok else "negative", self.path, field=key, value=value
            )
        return value

    def get(self, key, default=None):
        value = self.cfg.get(key, default)
        return default if value is None else value


def _read(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise fail(f"cannot read config: {err.strerror}", file=path) from None
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as err:
        raise fail(
            f"not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})", file=path
        ) from None
    if not isinstance(cfg, dict):
        raise fail("config.json must hold a JSON object", file=path)
    return cfg


def _attention(c: _Config, mt: str, d: int, n: int, k: int, h: int) -> tuple[int, dict]:
    """Per-layer attention parameters and the KV-relevant fields."""
    if mt in _MLA:
        nope, rope = c.int("qk_nope_head_dim"), c.int("qk_rope_head_dim")
        v, latent = c.int("v_head_dim"), c.int("kv_lora_rank")
        q_rank = c.int("q_lora_rank", default=0, zero_ok=True)
        q = d * q_rank + q_rank * n * (nope + rope) if q_rank else d * n * (nope + rope)
        kv = d * (latent + rope) + latent * n * (nope + v)
        mla = dict(head_dim=nope + rope, n_kv_heads=n, kv_latent_dim=latent, kv_rope_dim=rope,
                   v_head_dim=v)  # fmt: skip
        return q + kv + n * v * d + _indexer(c, mt, d, q_rank, mla), mla
    gate = 2 if mt == "qwen3_next" else 1  # gated attention: q_proj also emits the gate
    params = gate * d * n * h + 2 * d * k * h + n * h * d
    if mt in ("qwen2", "qwen2_moe"):
        params += n * h + 2 * k * h  # q, k, v biases
    elif c.get("attention_bias", False):
        params += n * h + 2 * k * h + d
    if mt == "gpt_oss":
        params += n  # attention sinks: one learned logit per head
    return params, dict(head_dim=h, n_kv_heads=k, kv_latent_dim=0, kv_rope_dim=0)


def _indexer(c: _Config, mt: str, d: int, q_rank: int, leaves: dict) -> int:
    """DeepSeek Sparse Attention's lightning indexer (DeepSeek-V3.2): its parameters per
    layer, ``q_rank x nh x hd + D x hd + D x nh`` (wq_b, wk, weights_proj), and the sparse
    leaves: top-k tokens read, ``2 nh hd`` FLOP per query-key pair, and ``hd`` fp8 bytes +
    one fp32 scale per token (DeepSeek's inference/model.py caches k in float8_e4m3 with a
    float32 scale per 128 elements).  0 for the other MLA families."""
    if mt != "deepseek_v32":
        return 0
    nh, hd, top = c.int("index_n_heads"), c.int("index_head_dim"), c.int("index_topk")
    leaves.update(sparse_topk_tokens=top, indexer_flop_per_key=2 * nh * hd,
                  indexer_bytes_per_token=hd + 4 * -(-hd // 128))  # fmt: skip
    return q_rank * nh * hd + d * hd + d * nh


def _moe_shape(c: _Config, mt: str, d: int, f: int, n_layers: int):
    """(routed experts, top-k, MoE layer indices, expert width, shared FFN params per MoE
    layer, shared experts per token, params of one routed expert) or None for a dense model."""
    if mt == "mixtral":
        e, f_e = c.int("num_local_experts"), f
        return e, c.int("num_experts_per_tok"), list(range(n_layers)), f_e, 0, 0, 3 * d * f_e
    if mt in ("qwen2_moe", "qwen3_moe", "qwen3_next"):
        e, f_e = c.int("num_experts"), c.int("moe_intermediate_size")
        step, skip = c.int("decoder_sparse_step", default=1), set(c.get("mlp_only_layers", []))
        layers = [i for i in range(n_layers) if i not in skip and (i + 1) % step == 0]
        f_s = c.int("shared_expert_intermediate_size", 0, zero_ok=True)
        shared = 3 * d * f_s + d if f_s else 0  # shared expert and its sigmoid gate
        return e, c.int("num_experts_per_tok"), layers, f_e, shared, f_s // f_e, 3 * d * f_e
    if mt in _MLA and c.get("n_routed_experts"):
        e, f_e = c.int("n_routed_experts"), c.int("moe_intermediate_size")
        first, freq = c.int("first_k_dense_replace", 0, zero_ok=True), c.int("moe_layer_freq", 1)
        layers = [i for i in range(n_layers) if i >= first and i % freq == 0]
        n_s = c.int("n_shared_experts", 0, zero_ok=True)
        return e, c.int("num_experts_per_tok"), layers, f_e, 3 * d * f_e * n_s, n_s, 3 * d * f_e
    if mt == "llama4":
        e, f_e = c.int("num_local_experts"), c.int("intermediate_size")
        layers = llama4_moe_layers(c, n_layers)
        return e, c.int("num_experts_per_tok"), layers, f_e, 3 * d * f_e, 1, 3 * d * f_e
    if mt == "gpt_oss":
        e, f_e = c.int("num_local_experts"), c.int("intermediate_size")
        one = 3 * d * f_e + 2 * f_e + d  # gate_up and down projections with their biases
        return e, c.int("num_experts_per_tok"), list(range(n_layers)), f_e, e, 0, one
    return None


def _mlp(c: _Config, mt: str, d: int, f: int, n_layers: int) -> tuple[int, dict]:
    """All MLP / MoE parameters over the layers and the MoE fields (with the widest live
    MLP activation per token: ``2 F`` for a gated dense MLP, ``(k + shared) 2 F_e`` for MoE)."""
    dense = 3 * d * f
    shape = _moe_shape(c, mt, d, f, n_layers)
    if shape is None:
        dense_only = dict(n_experts=1, experts_per_token=1, expert_params=0, n_dense_layers=0,
                          activation_width=2 * f)  # fmt: skip
        return n_layers * dense, dense_only
    e, top_k, moe_layers, f_e, shared, n_shared, one_expert = shape
    if top_k > e:
        raise fail(f"exceeds the {e} experts", c.path, field="num_experts_per_tok", value=top_k)
    per_moe_layer = e * one_expert + shared + d * e  # routed + shared + router
    n_dense = n_layers - len(moe_layers)
    total = len(moe_layers) * per_moe_layer + n_dense * dense
    width = max((top_k + n_shared) * 2 * f_e, 2 * f if n_dense else 0)
    moe = dict(n_experts=e, experts_per_token=top_k, expert_params=len(moe_layers) * one_expert,
               n_dense_layers=n_dense, activation_width=width)  # fmt: skip
    return total, moe


def _window(c: _Config, mt: str, n_layers: int) -> dict:
    """Sliding-window (or chunked local attention) span and the share of layers using it."""
    w = c.int("sliding_window", default=0, zero_ok=True)
    types = c.get("layer_types")
    if mt == "llama4":  # chunked attention: a token reads at most its chunk (<= the span)
        w = c.int("attention_chunk_size", default=0, zero_ok=True)
        n_win = llama4_chunked_layers(c, n_layers)
    elif isinstance(types, list) and types:
        n_win = sum(t == "sliding_attention" for t in types)
    elif mt in ("mistral", "mixtral"):
        n_win = n_layers if w else 0
    elif mt in ("qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "qwen3_next"):
        first = c.int("max_window_layers", default=n_layers, zero_ok=True)
        n_win = max(n_layers - first, 0) if c.get("use_sliding_window", False) else 0
    elif mt == "gemma2":
        n_win = sum((i + 1) % 2 == 1 for i in range(n_layers))
    elif mt == "gemma3_text":
        p = c.int("sliding_window_pattern", default=6)
        n_win = sum((i + 1) % p != 0 for i in range(n_layers))
    else:
        n_win = 0
    if not (w and n_win):
        return dict(window_tokens=0, windowed_layer_fraction=0.0)
    return dict(window_tokens=w, windowed_layer_fraction=n_win / n_layers)


def _mixers(c: _Config, mt: str, d: int, f: int, n_layers: int, attn_layer: int):
    """(token-mixer parameters over the layers, MLP parameters of hybrid families or None,
    linear-layer leaves).  Every layer attends except in the hybrids: Qwen3-Next's Gated
    DeltaNet layers, and Nemotron-H, whose layers are each ONE block (Mamba-2, attention or
    MLP): its ``L - n_attention`` non-attending layers are the linear share, their state
    and FLOP averaged over that share (the Mamba-2 layers' total / (L - n_attention))."""
    if mt == "qwen3_next":
        full = qwen3_next_layers(c, n_layers)
        lin, n_lin = gated_deltanet(c, d), n_layers - sum(full)
        mixers = sum(full) * attn_layer + n_lin * lin["params"]
        leaves = dict(linear_layer_fraction=n_lin / n_layers,
                      state_bytes_per_layer=lin["state_bytes"] if n_lin else 0,
                      linear_flop_per_token=lin["flop_per_token"] if n_lin else 0)  # fmt: skip
        return mixers, None, leaves
    if mt == "nemotron_h":
        pattern = nemotron_h_pattern(c, n_layers)
        n_attn, n_m, n_mlp = (pattern.count(x) for x in "*M-")
        ssm, rest = mamba2(c, d), n_layers - n_attn
        leaves = dict(linear_layer_fraction=rest / n_layers,
                      state_bytes_per_layer=n_m * ssm["state_bytes"] / rest if rest else 0,
                      linear_flop_per_token=n_m * ssm["flop_per_token"] / rest if rest else 0,
                      activation_width=f)  # fmt: skip  (squared-ReLU MLP: no gate)
        return n_attn * attn_layer + n_m * ssm["params"], n_mlp * 2 * d * f, leaves
    return n_layers * attn_layer, None, {}


def _check(model: Model, path: Path) -> None:
    """Every leaf in its domain and the rules between leaves, as for every entry point."""
    for name, value in model.as_dict().items():
        check_leaf_value(f"model.{name}", value, path, field=f"(model.{name})")
    problem = first_problem({f"model.{k}": v for k, v in model.as_dict().items()})
    if problem is not None:
        leaf, value, message = problem
        raise fail(message, path, field=f"(model.{leaf.split('.')[1]})", value=value)


def model_from_hf_config(path) -> tuple[Model, dict]:
    """Read a local Hugging Face ``config.json`` into a :class:`Model` and an info dict.

    Args:
      path: a ``config.json`` of a supported ``model_type`` (see ``SUPPORTED``).

    Returns:
      ``(model, info)``; ``info`` holds ``model_type``, ``name``, ``d_ff``, ``vocab_size``,
      ``max_context_tokens``, ``tie_word_embeddings``, ``params_total`` (int) and
      ``params_breakdown`` (embeddings, attention, mlp).

    Raises:
      InputError: unreadable file, bad JSON, unsupported ``model_type``, or a missing or
        non-positive field (one line naming the file and the field).
    """
    path = Path(path)
    raw = _read(path)
    mt = raw.get("model_type")
    if mt in _WRAPPED:  # multimodal wrapper: the decoder lives in text_config
        text = raw.get("text_config")
        if not isinstance(text, dict):
            raise fail("missing required field", path, field="text_config")
        raw, mt = {**text, "model_type": _WRAPPED[mt]}, _WRAPPED[mt]
    if mt not in SUPPORTED:
        raise fail(
            f"unsupported model_type; supported: {', '.join(SUPPORTED)}",
            path,
            field="model_type",
            value=mt,
        )
    c = _Config(raw, path)
    d, n_layers, n = c.int("hidden_size"), c.int("num_hidden_layers"), c.int("num_attention_heads")
    k, f, v = (
        c.int("num_key_value_heads", default=n),
        c.int("intermediate_size_mlp" if mt == "llama4" else "intermediate_size"),
        c.int("vocab_size"),
    )
    if k > n:
        raise fail(f"exceeds num_attention_heads = {n}", path, field="num_key_value_heads", value=k)
    if n % k and mt not in _MLA:
        raise fail(f"does not divide num_attention_heads = {n} (GQA groups query heads evenly "
                   "over KV heads)", path, field="num_key_value_heads", value=k)  # fmt: skip
    head_key = "attention_head_dim" if mt == "nemotron_h" else "head_dim"
    if c.get(head_key) is None and d % n:  # the family ties hidden = heads x head_dim
        raise fail(f"hidden_size is not a multiple of num_attention_heads = {n} and no "
                   f"{head_key} is given", path, field="hidden_size", value=d)  # fmt: skip
    h = c.int(head_key, default=d // n)
    tied = bool(c.get("tie_word_embeddings", mt in _TIED_BY_DEFAULT))

    attn_layer, kv = _attention(c, mt, d, n, k, h)
    mlp, moe = _mlp(c, mt, d, f, n_layers)
    mixers, hybrid_mlp, linear = _mixers(c, mt, d, f, n_layers, attn_layer)
    mlp = mlp if hybrid_mlp is None else hybrid_mlp
    embed = v * d * (1 if tied else 2)
    params = embed + mixers + mlp

    parallel = mt in _PARALLEL_BLOCK or any(
        c.get(k, False) is True for k in ("parallel_attn", "use_parallel_residual")
    )
    embeddings = dict(embedding_params=v * d, output_head_params=0 if tied else v * d,
                      tied_embeddings=1.0 if tied else 0.0)  # fmt: skip
    leaves = {**kv, **moe, **_window(c, mt, n_layers), **linear, **embeddings}
    model = Model(
        n_layers=float(n_layers),
        d_model=float(d),
        n_heads=float(n),
        params_total=float(params),
        layers_per_kv=1.0,
        allreduces_per_layer=1.0 if parallel else 2.0,
        **{key: float(val) for key, val in leaves.items()},
    )
    _check(model, path)
    info = {
        "model_type": mt,
        "name": raw.get("_name_or_path") or path.parent.name or path.stem,
        "source": str(path),
        "d_ff": f,
        "vocab_size": v,
        "max_context_tokens": c.get("max_position_embeddings"),
        "tie_word_embeddings": tied,
        "params_total": params,
        "params_breakdown": {"embeddings": embed, "attention": mixers, "mlp": mlp},
    }
    return model, info
