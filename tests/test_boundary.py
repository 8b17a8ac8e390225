"""Regime boundaries: conditions hold at the answer, closed forms, stores, bad input."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import xarray as xr
from conftest import A100_80GB, H100_SXM, YI_34B, paper_workload

import kvjax.analysis  # noqa: F401 - registers ds.kv
from kvjax import costs as mem
from kvjax import costs as ph
from kvjax.analysis import check_condition, find_boundary
from kvjax.errors import InputError
from kvjax.model import Scenario, Workload, replace_leaf

# Batch B* at which a dense TP=1 decode step of Yi-34B turns compute-bound, worked by hand:
# B* (2P + 4 L N H S) / F = (2P + B* KV_tok S) / BW  =>  B* = (2P / BW) / ((2P + 4LNHS) / F
# - KV_tok S / BW), with S = T + 249/2 (mean decode context, 250 output tokens).  Yi-34B
# (config.json of 01-ai/Yi-34B-200K; the paper's P = 34e9, bf16): 2P = 68e9 B of weights,
# 4 L N H = 4 x 60 x 56 x 128 = 1,720,320, KV_tok = 245,760 B.  [a100] F = 312e12 FLOP/s,
# BW = 2.039e12 B/s: 68e9 / BW = 33.34968 ms.  [h100] F = 989e12, BW = 3.35e12: 20.29851 ms.
# Per user and step, FLOP / F and KV_tok S / BW (us), then B*:
#   T    S      2P + 4LNHS  KV_tok S     A100                       H100
#   100  224.5  6.838621e10  55,173,120  219.1866 - 27.05891: 173.5808 69.14683 - 16.46959: 385.3373
#   200  324.5  6.855824e10  79,749,120  219.7380 - 39.11188: 184.6338 69.32077 - 23.80571: 445.9734
#   500  624.5  6.907434e10 153,477,120  221.3921 - 75.27078: 228.2328 69.84261 - 45.81407: 844.7665
HAND_BATCH = {"a100": [173.5808, 184.6338, 228.2328], "h100": [385.3373, 445.9734, 844.7665]}


def test_decode_compute_bound_batch_matches_the_closed_form():
    contexts = np.array([100.0, 200.0, 500.0])
    with jax.enable_x64(True):
        for key, hw in (("a100", A100_80GB), ("h100", H100_SXM)):
            out = find_boundary(
                YI_34B, hw, paper_workload(context_tokens=contexts), "workload.batch",
                "decode_compute_bound", np.geomspace(1, 4096, 25),
            )  # fmt: skip
            expect = HAND_BATCH[key]
            assert np.all(out["found"]) and np.all(out["converged"])
            np.testing.assert_allclose(out["value"], expect, rtol=1e-5)
            assert np.all(out["iterations"] <= 8)
            # the condition holds at the answer: compute time = memory time
            for c, b in zip(contexts, np.asarray(out["value"])):
                s = Scenario(YI_34B, hw, paper_workload(context_tokens=c, batch=b))
                compute, memory, _ = ph.decode_step_parts_at(s, b)
                assert float(compute) == pytest.approx(float(memory), rel=1e-5)


@pytest.mark.parametrize(
    "condition, target, check",
    [
        ("fits_one", None, lambda s: float(mem.concurrency(s)) - 1.0),
        ("prefill_slo", 10.0, lambda s: float(ph.prefill_s(s)) / 10.0 - 1.0),
        ("prefill_compute_bound", None,
         lambda s: float(ph.prefill_compute_s(s) / ph.prefill_memory_s(s)) - 1.0),
        ("context_switch_s", 0.2, lambda s: float(ph.context_switch_s(s)) / 0.2 - 1.0),
    ],
)  # fmt: skip
def test_boundary_points_satisfy_their_condition(condition, target, check):
    with jax.enable_x64(True):
        grid = np.geomspace(10, 1e6, 11)
        out = find_boundary(YI_34B, A100_80GB, paper_workload(context_tokens=1.0), "context_tokens",
                            condition, grid, target=target)  # fmt: skip
        assert bool(out["found"]) and bool(out["converged"])
        assert int(out["iterations"]) <= 8
        s = Scenario(YI_34B, A100_80GB, paper_workload(context_tokens=float(out["value"])))
        assert abs(check(s)) <= 1e-5
        assert abs(float(check_condition(s, condition, target))) <= 1e-5


def test_fits_one_is_the_paper_capacity_limit():
    # [a100] 80 GiB = 85,899,345,920 B minus the paper's 68e9 B of weights = 17,899,345,920 B;
    # / 245,760 B per token (the paper) = 72,832.625 tokens for one user of Yi-34B
    with jax.enable_x64(True):
        out = find_boundary(YI_34B, A100_80GB, paper_workload(context_tokens=1.0), "context_tokens",
                            "fits_one", np.geomspace(1e3, 1e6, 7))  # fmt: skip
    expect = 72_832.625
    assert float(out["value"]) == pytest.approx(expect, rel=1e-6)


def test_no_sign_change_gives_not_found_not_nan_garbage():
    out = find_boundary(YI_34B, A100_80GB, paper_workload(context_tokens=1e6), "workload.batch",
                        "decode_compute_bound", np.geomspace(1, 64, 7))  # fmt: skip
    assert not bool(out["found"]) and np.isnan(float(out["value"]))


def test_vmapped_over_other_dims_is_a_python_loop():
    contexts = np.array([[100.0], [400.0]])
    bws = np.array([[1.5e12, 2.039e12, 2.5e12]])
    hw = A100_80GB.replace(hbm_bytes_per_s=bws)
    grid = np.geomspace(1, 4096, 13)
    out = find_boundary(YI_34B, hw, paper_workload(context_tokens=contexts), "batch",
                        "decode_compute_bound", grid)  # fmt: skip
    assert out["value"].shape == (2, 3)
    for i in range(2):
        for j in range(3):
            one = find_boundary(YI_34B, A100_80GB.replace(hbm_bytes_per_s=bws[0, j]),
                                paper_workload(context_tokens=contexts[i, 0]), "batch",
                                "decode_compute_bound", grid)  # fmt: skip
            assert float(out["value"][i, j]) == pytest.approx(
                float(one["value"]), rel=1e-5, nan_ok=True
            )


SPEC = """
name = "boundary-test"
metrics = ["decode_step_s", "concurrency"]

[axes.model]
catalog = "model"
names = ["yi-34b", "llama-3.1-8b"]

[axes.context]
leaf = "workload.context_tokens"
values = [256.0, 1024.0]

[axes.batch]
leaf = "workload.batch"
geomspace = [1, 4096, 13]

[fixed]
hardware = "a100-80gb-sxm"
workload.output_tokens = 250
"""


def _store():
    """A store-shaped dataset (what kvjax.open_sweep returns), built by hand."""
    batch = np.geomspace(1, 4096, 13)
    return xr.Dataset(
        {"decode_step_s": (("model", "context", "batch"), np.zeros((2, 2, 13)))},
        coords={"model": ["yi-34b", "llama-3.1-8b"], "context": [256.0, 1024.0], "batch": batch},
        attrs={"kvjax_spec": SPEC},
    )


def test_store_boundary_rebuilds_scenarios_from_coords_and_spec():
    from kvjax import catalog

    with jax.enable_x64(True):
        out = _store().kv.boundary("batch", "decode_compute_bound")
    assert out["batch"].dims == ("model", "context")
    assert bool((out["converged"] == out["found"]).all()) and int(out["found"].sum()) >= 3
    assert int(out["iterations"].max()) <= 8
    hw = catalog.load_hardware("a100-80gb-sxm")
    for m in ("yi-34b", "llama-3.1-8b"):
        model = catalog.load_model(m)
        for c in (256.0, 1024.0):
            b = float(out["batch"].sel(model=m, context=c))
            if not bool(out["found"].sel(model=m, context=c)):
                assert np.isnan(b)  # no crossing within the grid
                continue
            # the store was swept with the defaults (the engine's HBM reserve)
            s = Scenario(model, hw, Workload(context_tokens=c, batch=b, output_tokens=250.0))
            compute, memory, _ = ph.decode_step_parts_at(s, b)
            assert float(compute) == pytest.approx(float(memory), rel=1e-5)
            assert float(out["concurrency"].sel(model=m, context=c)) == pytest.approx(
                float(mem.concurrency(s)), rel=1e-6
            )


@pytest.mark.parametrize(
    "args, message",
    [
        (("batch", "decode_compute_bnd"), "unknown boundary condition"),
        (("batch", "prefill_slo"), "needs a target"),
        (("hardware", "fits"), "is not a dim"),
        (("model", "fits"), "is not a numeric axis"),
    ],
)
def test_bad_store_requests_raise_input_errors(args, message):
    ds = _store()
    with pytest.raises(InputError, match=message):
        ds.kv.boundary(*args)


def test_bad_axis_and_grid():
    with pytest.raises(InputError, match="unknown scenario leaf"):
        find_boundary(YI_34B, A100_80GB, paper_workload(1.0), "workload.batches", "fits", [1, 2])
    with pytest.raises(InputError, match="increasing"):
        find_boundary(YI_34B, A100_80GB, paper_workload(1.0), "batch", "fits", [2, 1])
    with pytest.raises(InputError, match="not a float metric"):
        find_boundary(YI_34B, A100_80GB, paper_workload(1.0), "batch", "decode_regime", [1, 2], 1.0)


def test_store_without_spec_is_an_input_error():
    ds = _store()
    ds.attrs = {}
    with pytest.raises(InputError, match="no spec"):
        ds.kv.boundary("batch", "fits")


def test_replace_leaf_roundtrip_for_axis():  # the axis leaf is what moves
    s = replace_leaf(Scenario(YI_34B, A100_80GB, paper_workload(1.0)), "workload.batch", 3.0)
    assert float(s.workload.batch) == 3.0


def test_store_boundary_is_float64_and_accepts_selected_points():
    full = _store().kv.boundary("batch", "decode_compute_bound")  # no enable_x64 here
    assert full["batch"].dtype == np.float64
    one = _store().sel(model="yi-34b", context=256.0).kv.boundary("batch", "decode_compute_bound")
    assert one["batch"].dims == ()
    assert float(one["batch"]) == float(full["batch"].sel(model="yi-34b", context=256.0))
    assert "source_kvjax_spec" in full.attrs and "kvjax_spec" not in full.attrs


def test_store_missing_a_spec_axis_is_an_input_error():
    with pytest.raises(InputError, match="lacks the spec's axis 'context'"):
        _store().isel(context=[0, 1]).drop_dims("context").kv.boundary("batch", "fits")
