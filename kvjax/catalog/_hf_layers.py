"""Layer counts of the config.json families whose layers are not all alike.

Helpers of :mod:`kvjax.catalog._hf_config` (which documents the conventions): which layers
attend, which are linear-attention / state-space layers and what their state costs, which
layers are MoE, and which attend through a window or a chunk.  Every function takes the
located config (``_Config``) and returns plain ints / floats.

State bytes are counted at 2 bytes per element (the bf16 ``torch_dtype`` these checkpoints
ship; an engine that keeps the recurrent state in fp32 stores twice as much).
"""

from __future__ import annotations

from ..errors import fail

STATE_BYTES_PER_ELEMENT = 2  # bf16


def qwen3_next_layers(c, n_layers: int) -> list[bool]:
    """Per layer: True where it is full (gated) attention, False where Gated DeltaNet.

    ``layer_types`` when given, else Hugging Face's ``Qwen3NextConfig`` default: layer ``i``
    is full attention when ``(i + 1) % full_attention_interval == 0`` (interval 4: 12 of 48).
    """
    types = c.get("layer_types")
    if isinstance(types, list) and types:
        if len(types) != n_layers:
            raise fail(f"has {len(types)} entries for num_hidden_layers = {n_layers}", c.path,
                       field="layer_types", value=f"list of {len(types)}")  # fmt: skip
        return [t == "full_attention" for t in types]
    every = c.int("full_attention_interval", default=4)
    return [(i + 1) % every == 0 for i in range(n_layers)]


def gated_deltanet(c, d: int) -> dict:
    """One Gated DeltaNet layer (Qwen3-Next): parameters, state bytes and recurrence FLOP.

    With ``nk`` key heads of ``dk``, ``nv`` value heads of ``dv``, conv kernel ``kc``:
    params = D (2 nk dk + 2 nv dv) [in_proj_qkvz] + D 2 nv [in_proj_ba]
    + kc (2 nk dk + nv dv) [conv1d] + nv dv D [out_proj] (+ 2 nv + dv small vectors);
    state = nv dk dv recurrent + (kc - 1)(2 nk dk + nv dv) conv, elements;
    FLOP per token = 7 per recurrent element (decay 1, S^T k 2, rank-1 update 2, S q 2).
    Qwen3-Next-80B-A3B (nk 16, nv 32, dk = dv = 128, kc 4): state 524,288 + 24,576 elements
    = 1,097,728 B; 3,670,016 FLOP per token.
    """
    nk, nv = c.int("linear_num_key_heads"), c.int("linear_num_value_heads")
    dk, dv = c.int("linear_key_head_dim"), c.int("linear_value_head_dim")
    kc = c.int("linear_conv_kernel_dim", default=4)
    conv_dim = 2 * nk * dk + nv * dv
    params = (d * (2 * nk * dk + 2 * nv * dv) + d * 2 * nv + kc * conv_dim + nv * dv * d
              + 2 * nv + dv)  # fmt: skip
    recurrent = nv * dk * dv
    state = recurrent + (kc - 1) * conv_dim
    return dict(params=params, state_bytes=state * STATE_BYTES_PER_ELEMENT,
                flop_per_token=7 * recurrent)  # fmt: skip


def nemotron_h_pattern(c, n_layers: int) -> str:
    """``hybrid_override_pattern``: one character per layer, M Mamba-2, * attention, - MLP."""
    pattern = c.get("hybrid_override_pattern")
    if not isinstance(pattern, str) or len(pattern) != n_layers or set(pattern) - set("M*-"):
        raise fail(f"must be {n_layers} characters of M (Mamba-2), * (attention) and - (MLP)",
                   c.path, field="hybrid_override_pattern", value=pattern)  # fmt: skip
    return pattern


def mamba2(c, d: int) -> dict:
    """One Mamba-2 mixer (Nemotron-H): parameters, state bytes and recurrence FLOP.

    ``d_in = mamba_num_heads x mamba_head_dim``, ``g`` groups of state size ``N``, heads
    ``nh``, conv kernel ``kc``: conv_dim = d_in + 2 g N;
    params = D (2 d_in + 2 g N + nh) [in_proj] + kc conv_dim (+ conv_dim bias) [conv1d]
    + d_in D [out_proj] + 3 nh + d_in (dt bias, A, D, norm);
    state = nh x head_dim x N (SSM) + (kc - 1) conv_dim (conv), elements;
    FLOP per token = 5 per SSM state element (h = a h + x B: 3; y = C h: 2).
    Nemotron-H-56B (d_in 16384, g 8, N 256, nh 256, kc 4): state 4,194,304 + 61,440
    elements = 8,511,488 B.
    """
    nh, hd = c.int("mamba_num_heads"), c.int("mamba_head_dim")
    g, n = c.int("n_groups"), c.int("ssm_state_size")
    kc = c.int("conv_kernel", default=4)
    d_in = nh * hd
    conv_dim = d_in + 2 * g * n
    params = (d * (2 * d_in + 2 * g * n + nh) + kc * conv_dim
              + (conv_dim if c.get("use_conv_bias", True) else 0) + d_in * d + 3 * nh + d_in)
    ssm = nh * hd * n
    state = ssm + (kc - 1) * conv_dim
    return dict(params=params, state_bytes=state * STATE_BYTES_PER_ELEMENT,
                flop_per_token=5 * ssm)  # fmt: skip


def llama4_moe_layers(c, n_layers: int) -> list[int]:
    """MoE layers of Llama 4: every ``interleave_moe_layer_step``-th, as Hugging Face's
    ``Llama4TextConfig`` (``range(step - 1, L, step)``; step 1: all 48, step 2: 24)."""
    step = c.int("interleave_moe_layer_step", default=1)
    return list(range(step - 1, n_layers, step))


def llama4_chunked_layers(c, n_layers: int) -> int:
    """Layers with chunked local attention (the RoPE layers): ``no_rope_layers`` when given
    (1 = RoPE + chunked), else every layer but each ``no_rope_layer_interval``-th (4)."""
    flags = c.get("no_rope_layers")
    if isinstance(flags, list) and flags:
        return sum(1 for f in flags if f)
    every = c.int("no_rope_layer_interval", default=4)
    return sum((i + 1) % every != 0 for i in range(n_layers))
