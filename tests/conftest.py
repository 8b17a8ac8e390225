"""Hand-built scenarios (independent of the catalog), each value cited."""

from __future__ import annotations

import os
import tempfile

import jax
import pytest

# `kvjax sweep` turns JAX's persistent compilation cache on: keep the tests' entries (in
# this process and in the CLI subprocesses, which inherit it) out of the user's ~/.cache.
os.environ.setdefault("KVJAX_CACHE_DIR", tempfile.mkdtemp(prefix="kvjax-test-cache-"))

from kvjax.model import Hardware, Model, Scenario, Workload

# Yi-34B, the paper's model: config.json of 01-ai/Yi-34B-200K (60 layers, hidden 7168,
# 56 heads, 8 KV heads, head dim 128); 34e9 parameters as the paper rounds them (68 GB bf16).
YI_34B = Model(n_layers=60, d_model=7168, n_heads=56, n_kv_heads=8, head_dim=128, params_total=34e9)

# Mixtral-8x7B: config.json of mistralai/Mixtral-8x7B-v0.1 (32 layers, hidden 4096, 32 heads,
# 8 KV heads, intermediate 14336, 8 experts, top-2); 46.7e9 total per Mistral AI's
# announcement. One expert over all layers: 32 x 3 x 4096 x 14336 = 5.637e9 parameters.
MIXTRAL_8X7B = Model(
    n_layers=32,
    d_model=4096,
    n_heads=32,
    n_kv_heads=8,
    head_dim=128,
    params_total=46.7e9,
    expert_params=32 * 3 * 4096 * 14336,
    n_experts=8,
    experts_per_token=2,
)

# DeepSeek-V3: config.json of deepseek-ai/DeepSeek-V3 (61 layers, hidden 7168, 128 heads,
# kv_lora_rank 512, qk_rope_head_dim 64, qk_nope_head_dim 128, 256 routed experts, 8 active,
# moe_intermediate_size 2048, first 3 layers dense); 671e9 total (model card).
DEEPSEEK_V3 = Model(
    n_layers=61,
    d_model=7168,
    n_heads=128,
    n_kv_heads=128,
    head_dim=192,
    params_total=671e9,
    expert_params=58 * 3 * 7168 * 2048,
    n_experts=256,
    experts_per_token=8,
    kv_latent_dim=512,
    kv_rope_dim=64,
)

# Gemma-2-9B: config.json of google/gemma-2-9b (42 layers, hidden 3584, 16 heads, 8 KV heads,
# head_dim 256, sliding_window 4096 on every other layer); 9.24e9 parameters (model card).
GEMMA_2_9B = Model(
    n_layers=42,
    d_model=3584,
    n_heads=16,
    n_kv_heads=8,
    head_dim=256,
    params_total=9.24e9,
    window_tokens=4096,
    windowed_layer_fraction=0.5,
)

# NVIDIA A100 80GB SXM datasheet: 312 TFLOP/s dense bf16, 2,039 GB/s, 80 GiB, NVLink 600 GB/s
# (300 each way), PCIe 4.0 x16 (32 GB/s each way). Latency 5 us and $2/h are test values.
A100_80GB = Hardware(
    flop_per_s=312e12,
    hbm_bytes=80 * 2**30,
    hbm_bytes_per_s=2.039e12,
    host_link_bytes_per_s=32e9,
    scaleup_bytes_per_s=300e9,
    scaleup_latency_s=5e-6,
    usd_per_hour=2.0,
)

# NVIDIA H100 SXM datasheet: 989 TFLOP/s dense bf16, 3.35 TB/s, 80 GiB, NVLink 900 GB/s
# (450 each way), PCIe 5.0 x16 (64 GB/s each way).
H100_SXM = Hardware(
    flop_per_s=989e12,
    hbm_bytes=80 * 2**30,
    hbm_bytes_per_s=3.35e12,
    host_link_bytes_per_s=64e9,
    scaleup_bytes_per_s=450e9,
    scaleup_latency_s=5e-6,
    usd_per_hour=3.0,
)

MODELS = {
    "yi-34b": YI_34B,
    "mixtral-8x7b": MIXTRAL_8X7B,
    "deepseek-v3": DEEPSEEK_V3,
    "gemma-2-9b": GEMMA_2_9B,
}


def scenario(model=YI_34B, hardware=A100_80GB, **workload) -> Scenario:
    """The hand-worked numbers of these tests use the paper's memory convention (all of HBM
    for weights and KV); the engine reserve that the defaults hold back is tested on its own
    (tests/test_ops_golden.py::test_default_hbm_reserve_is_vllms)."""
    workload.setdefault("context_tokens", 4000.0)
    return Scenario(model, hardware, paper_workload(**workload))


def paper_workload(*args, **workload) -> Workload:
    """A ``Workload`` under the paper's conventions (all of HBM for weights and KV; a swap's
    out and in legs added, not overlapped), for tests whose expected numbers were worked by
    hand under them."""
    workload.setdefault("hbm_utilization", 1.0)
    workload.setdefault("hbm_reserve_bytes", 0.0)
    workload.setdefault("swap_duplex", 0.0)
    return Workload(*args, **workload)


# Feasible points away from kinks (of max, min and where), one per architecture family.
SMOOTH_POINTS = {
    "yi-34b-tp2-b4": scenario(YI_34B, A100_80GB, context_tokens=6000.0, batch=4.0, tp=2.0),
    "mixtral-b3": scenario(MIXTRAL_8X7B, H100_SXM, context_tokens=3000.0, batch=3.0, tp=2.0),
    "deepseek-v3-tp8": scenario(
        DEEPSEEK_V3,
        H100_SXM,
        context_tokens=10000.0,
        batch=2.0,
        tp=8.0,
        weight_bytes_per_param=1.0,
        kv_bits=8.0,
    ),
    "gemma-2-9b-b2": scenario(
        GEMMA_2_9B, A100_80GB, context_tokens=3000.0, batch=2.0, tp=2.0, kv_bits=8.0,
        kv_token_keep=0.7,
    ),
}


@pytest.fixture(params=sorted(SMOOTH_POINTS))
def smooth_point(request):
    return SMOOTH_POINTS[request.param]


def chunk_file_bytes(path) -> dict[str, bytes]:
    """Every chunk file of a store as ``{relative key: bytes}`` (for bit-for-bit checks)."""
    from pathlib import Path

    from kvjax.sweep import META_GROUP as meta

    root = Path(path)
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and "/c/" in f"/{rel}" and not rel.startswith(meta):
            out[rel] = p.read_bytes()
    return out


@pytest.fixture(scope="session")
def explore_store(tmp_path_factory):
    """The explorer tests' small store (``tests/explore_store.py``), built once a session."""
    from explore_store import make_store

    return make_store(tmp_path_factory.mktemp("explore-store") / "s.zarr")


@pytest.fixture
def x64():
    """Float64 for a test whose hand-worked numbers are checked to 1e-6 or finer
    (``pytestmark = pytest.mark.usefixtures("x64")``)."""
    with jax.enable_x64(True):
        yield


def f(x) -> float:
    """A 0-d result as a Python float."""
    return float(x)


def approx(x, rel=1e-6):
    """``pytest.approx`` at the hand-worked tests' default tolerance, 1e-6."""
    return pytest.approx(x, rel=rel)


def assert_elasticities_match_fd(s, metric, leaves, eps=1e-5, rel=1e-4):
    """``kvjax.model.elasticity`` of ``metric`` to each of ``leaves`` at ``s`` against a
    central finite difference of relative step ``eps`` (``x df/dx / f``)."""
    from kvjax import costs
    from kvjax.model import elasticity

    fn = getattr(costs, metric)
    got = elasticity(s, [metric], leaves)[metric]
    base = float(fn(s))
    for leaf in leaves:
        group, name = leaf.split(".")
        tree = getattr(s, group)
        x = getattr(tree, name)
        up = s.replace(**{group: tree.replace(**{name: x * (1 + eps)})})
        dn = s.replace(**{group: tree.replace(**{name: x * (1 - eps)})})
        fd = (float(fn(up)) - float(fn(dn))) / (2 * eps) / base
        assert float(got[leaf]) == pytest.approx(fd, rel=rel, abs=1e-7), leaf
