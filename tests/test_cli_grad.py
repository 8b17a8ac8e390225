"""``kvjax grad``, ``kvjax frontier`` and ``kvjax solve`` as a user runs them."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from kvjax.cli import main

YI = ["--model", "yi-34b", "--hardware", "a100-80gb-sxm"]


def _run(capsys, argv):
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_grad_ranks_knobs_by_magnitude_with_sign(capsys):
    rc, out, _ = _run(capsys, ["grad", *YI, "--context", "20000", "--batch", "1",
                               "--metrics", "decode_step_s,prefill_s"])  # fmt: skip
    assert rc == 0
    block = out.split("decode_step_s = ")[1].splitlines()
    assert block[1].split()[:2] == ["hardware.hbm_bytes_per_s", "-1.000"]
    assert "hardware.flop_per_s" not in out.split("decode_step_s = ")[1].split("prefill_s")[0]
    assert "nan" not in out.lower()


def test_grad_accepts_workload_options_and_wrt(capsys):
    rc, out, _ = _run(capsys, ["grad", *YI, "--context", "8000", "--kv-bits", "8", "--tp", "2",
                               "--output-tokens", "100", "--metrics", "kv_bytes_per_user",
                               "--wrt", "kv_bits,context_tokens,hbm_bytes"])  # fmt: skip
    assert rc == 0
    assert "workload.kv_bits" in out and "+1.000" in out
    assert "hardware.hbm_bytes " not in out  # elasticity 0: hidden unless --all


def test_grad_infeasible_point_says_which_constraint(capsys):
    # 1.5 users fit at 20K beside the engine's reserve: one user fits, a batch of 8 does not
    rc, out, _ = _run(capsys, ["grad", *YI, "--context", "20000", "--batch", "8"])
    assert rc == 0
    assert out.startswith("infeasible: the batch of 8 does not fit in HBM (capacity constraint)")
    assert "decode_step_s: infeasible here" in out
    assert "nan" not in out.lower()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--metrics", "fits"], "is a bool, not a float"),
        (["--metrics", "decode_regime"], "is a code, not a float"),
        (["--wrt", "hardware.hbm_speed"], "unknown scenario leaf"),
        (["--metrics", "decode_steps"], "unknown metric"),
    ],
)
def test_grad_bad_input_exits_2_with_one_line(capsys, extra, message):
    rc, out, err = _run(capsys, ["grad", *YI, "--context", "4000", *extra])
    assert rc == 2 and out == ""
    assert message in err and err.count("\n") == 1


@pytest.fixture
def store(tmp_path):
    rng = np.random.default_rng(3)
    ds = xr.Dataset(
        {
            "usd_per_million_output_tokens": (
                ("context_tokens", "batch"),
                rng.random((6, 4)),
                {"units": "USD"},
            ),  # fmt: skip
            "decode_step_s": (("context_tokens", "batch"), rng.random((6, 4)), {"units": "s"}),
        },
        coords={"context_tokens": np.geomspace(1e3, 1e6, 6), "batch": [1.0, 2.0, 4.0, 8.0]},
    )
    ds["usd_per_million_output_tokens"][5, :] = np.nan  # infeasible at 1M
    path = tmp_path / "s.zarr"
    ds.to_zarr(path, consolidated=False)
    return path


def test_frontier_prints_the_pareto_table(capsys, store, tmp_path):
    out_path = tmp_path / "front.zarr"
    rc, out, _ = _run(capsys, ["frontier", str(store), "--minimize",
                               "usd_per_million_output_tokens", "--maximize", "context_tokens",
                               "--over", "context_tokens", "--out", str(out_path)])  # fmt: skip
    assert rc == 0
    assert "Pareto set of" in out and "one set per ['batch']" in out
    saved = xr.open_dataset(out_path, engine="zarr", consolidated=False)
    assert saved.sizes["point"] >= 4 and np.isfinite(saved.usd_per_million_output_tokens).all()
    assert "nan" not in out.lower()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--minimize", "usd_per_token"], "is not in the store"),
        (["--minimize", "decode_step_s", "--over", "model"], "is not a dim"),
        ([], "name at least one objective"),
    ],
)
def test_frontier_bad_input_exits_2(capsys, store, args, message):
    rc, _, err = _run(capsys, ["frontier", str(store), *args])
    assert rc == 2 and message in err and err.count("\n") == 1


def test_frontier_missing_store_exits_2(capsys, tmp_path):
    rc, _, err = _run(capsys, ["frontier", str(tmp_path / "nope.zarr"), "--minimize", "x"])
    assert rc == 2 and "no such store" in err


def test_solve_paper_case(capsys):
    rc, out, _ = _run(capsys, ["solve", *YI, "--context", "1000000", "--reference-context",
                               "4000", "--objective", "concurrency,usd_per_million_output_tokens",
                               "--knob", "kv,kv_bits"])  # fmt: skip
    assert rc == 0
    conc = out.split("concurrency: reference")[1].split("usd_per_million")[0]
    kv_row = next(line for line in conc.splitlines() if line.strip().startswith("kv "))
    assert " ok " in kv_row and " 250 " in kv_row
    cost = out.split("usd_per_million_output_tokens: reference")[1]
    assert all(" infeasible " in line for line in cost.splitlines()[2:] if line.strip())


@pytest.mark.parametrize(
    "args, message",
    [
        (["--knob", "n_layers"], "not a solver knob"),
        (["--objective", "fits"], "not a float metric"),
        (["--bound", "kv_bits"], "expected LEAF=VALUE"),
        (["--reference-context", "0"], "must be > 0"),
    ],
)
def test_solve_bad_input_exits_2(capsys, args, message):
    rc, _, err = _run(capsys, ["solve", *YI, "--context", "1e6", *args])
    assert rc == 2 and message in err and err.count("\n") == 1


# ----------------------------------------------------------------------------- boundaries

TINY_SPEC = """
name = "tiny-boundary"
metrics = ["prefill_s", "decode_step_s", "concurrency"]

[axes.model]
catalog = "model"
names = ["yi-34b", "llama-3.1-8b"]

[axes.hardware]
catalog = "hardware"
names = ["a100-80gb-sxm", "h100-sxm"]

[axes.context]
leaf = "workload.context_tokens"
geomspace = [500, 1000000, 7]

[axes.batch]
leaf = "workload.batch"
values = [1, 8, 64, 512]

[fixed]
workload.output_tokens = 250
"""


@pytest.fixture(scope="module")
def sweep_store(tmp_path_factory):
    import kvjax

    root = tmp_path_factory.mktemp("boundary")
    (root / "tiny.toml").write_text(TINY_SPEC)
    kvjax.run_sweep(root / "tiny.toml", root / "tiny.zarr", durable=False)
    return root / "tiny.zarr"


def _scenario(model, hardware, context, batch):
    from kvjax import catalog
    from kvjax.model import Scenario, Workload

    w = Workload(context_tokens=float(context), batch=float(batch), output_tokens=250.0)
    return Scenario(catalog.load_model(str(model)), catalog.load_hardware(str(hardware)), w)


def _each(saved, dim):
    """(labels, value) of every point of the saved boundary with a crossing."""
    v = saved[dim].to_series().dropna()
    assert len(v) and saved["found"].values.sum() == len(v)
    return v.items()


def test_boundary_fits_one_printed_saved_and_tight(capsys, sweep_store, tmp_path):
    import jax

    from kvjax import costs as mem
    from kvjax.analysis import check_condition

    out_path = tmp_path / "cap.zarr"
    rc, out, err = _run(capsys, ["frontier", str(sweep_store), "--boundary", "context",
                                 "--condition", "fits_one", "--out", str(out_path)])  # fmt: skip
    assert rc == 0 and err == ""
    assert out.startswith("Boundary along context: one user's KV fits: concurrency = 1")
    saved = xr.open_dataset(out_path, engine="zarr", consolidated=False)
    assert saved["context"].dims == ("model", "hardware", "batch")
    assert saved["context"].attrs["units"] == "tokens"
    assert "concurrency = 1" in saved["context"].attrs["long_name"]
    assert saved.attrs["condition"] == "fits_one" and "target" not in saved.attrs
    assert saved.attrs["source_store"] == str(sweep_store.resolve())
    assert "kvjax_spec" not in saved.attrs and "tiny-boundary" in saved.attrs["source_kvjax_spec"]
    assert bool(saved["converged"].all())
    # same answer for both 80 GB GPUs and every batch: one row per model
    assert "(the same for every hardware, batch: shown once)" in out
    with jax.enable_x64(True):
        for (m, hw, b), ctx in _each(saved, "context"):
            assert f"{ctx:.6g}" in out.split(str(m))[1].splitlines()[0]
            s = _scenario(m, hw, ctx, b)
            assert float(mem.concurrency(s)) == pytest.approx(1.0, rel=1e-5)
            assert abs(float(check_condition(s, "fits_one"))) <= 1e-5
    # [yi] model card 34.39e9 bf16 parameters beside the engine's reserve of the defaults:
    # (0.9 x 85,899,345,920 - 1.79 x 2^30 - 68.78e9) / 245,760 B per token = 26,885.6
    expect = (0.9 * 80 * 2**30 - 1.79 * 2**30 - 68.78e9) / 245_760
    assert float(saved["context"].sel(model="yi-34b").max()) == pytest.approx(expect, rel=1e-6)


def test_boundary_prefill_slo_with_target(capsys, sweep_store, tmp_path):
    import jax

    from kvjax import costs as ph

    out_path = tmp_path / "slo.zarr"
    rc, out, _ = _run(capsys, ["frontier", str(sweep_store), "--boundary", "context",
                               "--condition", "prefill_slo", "--target", "1",
                               "--out", str(out_path), "--limit", "2"])  # fmt: skip
    assert rc == 0 and "prefill time (TTFT) = 1 s (prefill_slo)" in out
    assert "... 2 more (--limit N" in out and "4 of 4 with a boundary" in out
    saved = xr.open_dataset(out_path, engine="zarr", consolidated=False)
    assert saved.attrs["target"] == 1.0 and saved.attrs["target_units"] == "s"
    with jax.enable_x64(True):
        for (m, hw, b), ctx in _each(saved, "context"):
            s = _scenario(m, hw, ctx, b)
            assert float(ph.prefill_s(s)) == pytest.approx(1.0, rel=1e-5)


def test_boundary_decode_compute_bound_along_batch(capsys, sweep_store, tmp_path):
    import jax

    from kvjax import costs as ph

    # By hand (as HAND_BATCH in test_boundary.py), for the catalog's Yi-34B: P = 34.39e9
    # (model card), on the catalog A100-80GB (312e12 FLOP/s, 2.039e12 B/s), T = 500, 250 out:
    # S = 500 + 249/2 = 624.5; weights 68.78e9 B / BW = 33.73222 ms; per user 2P + 4 x 60 x 56
    # x 128 x S = 6.985434e10 FLOP / F = 223.8921 us and 245,760 x S = 153,477,120 B / BW =
    # 75.27078 us: B* = 33.73222 ms / (223.8921 - 75.27078) us = 226.9676.  No other Yi point
    # crosses within the batch grid (1..512): the H100 (989.4e12, 3.35e12) at 500 needs 828.3;
    # at the next context, 1,775, the A100 needs 1.7e4 (per user 230.9 us of FLOP vs 228.9 us
    # of KV read) and beyond it the KV read outgrows the FLOP: never compute-bound.
    yi_hand = {("a100-80gb-sxm", 500.0): 226.9676}

    out_path = tmp_path / "edge.zarr"
    rc, out, _ = _run(capsys, ["frontier", str(sweep_store), "--boundary", "batch",
                               "--condition", "decode_compute_bound", "--out", str(out_path),
                               "--limit", "100"])  # fmt: skip
    assert rc == 0 and "no crossing in the grid" in out and "nan" not in out.lower()
    saved = xr.open_dataset(out_path, engine="zarr", consolidated=False)
    assert saved["batch"].dims == ("model", "hardware", "context")
    found = saved["batch"].to_series().dropna()
    assert ("yi-34b", "a100-80gb-sxm", 500.0) in found.index
    assert 1 <= len(found) < saved["batch"].size  # some points never turn compute-bound
    with jax.enable_x64(True):
        for (m, hw, c), b in found.items():
            s = _scenario(m, hw, c, b)
            compute, memory, _ = ph.decode_step_parts_at(s, b)
            assert float(compute) == pytest.approx(float(memory), rel=1e-5)
            if m == "yi-34b":  # dense, TP 1: worked by hand above
                assert b == pytest.approx(yi_hand[(hw, c)], rel=1e-5)
    yi_found = {(hw, c) for (m, hw, c) in found.index if m == "yi-34b"}
    assert yi_found == set(yi_hand)
    assert float(saved["batch"].sel(model="yi-34b", hardware="a100-80gb-sxm", context=500.0)) == (
        pytest.approx(227.0, rel=1e-2)
    )
    rc, out, _ = _run(capsys, ["frontier", str(sweep_store), "--boundary", "batch",
                               "--condition", "decode_compute_bound", "--found-only"])  # fmt: skip
    rows = out.split("residual")[1].split("\n")[1:]
    assert rc == 0 and sum(line.startswith(" ") or line[:1].isalpha() for line in rows) >= 1
    assert "no crossing in the grid" not in "\n".join(rows[: len(found)])
    assert f"{len(found)} of {saved['batch'].size} with a boundary" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--boundary", "contxt", "--condition", "fits_one"], "did you mean 'context'"),
        (["--boundary", "model", "--condition", "fits_one"], "not a numeric axis"),
        (["--boundary", "hardware", "--condition", "fits"], "catalog axis"),
        (["--boundary", "context", "--condition", "fit_one"], "did you mean 'fits_one'"),
        (["--boundary", "context", "--condition", "prefill_slo"], "needs a target"),
        (["--boundary", "context", "--condition", "prefill_s"], "needs a target"),
        (["--boundary", "context", "--condition", "fits_one", "--target", "2"], "takes no"),
        (["--boundary", "context", "--condition", "prefill_slo", "--target", "x"], "a number"),
        (["--boundary", "context", "--condition", "prefill_slo", "--target", "-1"], "> 0"),
        (["--boundary", "context", "--condition", "decode_regime", "--target", "1"],
         "not a float metric"),
        (["--boundary", "context"], "needs --condition"),
        (["--boundary", "context", "--condition", "fits", "--minimize", "prefill_s"],
         "use one or the other"),
        (["--boundary", "context", "--condition", "fits", "--maximize", "context"],
         "use one or the other"),
        (["--condition", "fits", "--minimize", "prefill_s"], "need --boundary"),
    ],
)  # fmt: skip
def test_boundary_bad_input_exits_2_with_one_line(capsys, sweep_store, args, message):
    rc, out, err = _run(capsys, ["frontier", str(sweep_store), *args])
    assert rc == 2 and out == ""
    assert message in err and err.count("\n") == 1


def test_boundary_refuses_incomplete_and_non_sweep_stores(capsys, sweep_store, store, tmp_path):
    import shutil

    from kvjax.sweep import _zarr_writer as st

    partial = tmp_path / "partial.zarr"
    shutil.copytree(sweep_store, partial)
    st.update_attrs(partial, {st.STATUS_KEY: "incomplete"})
    argv = ["--boundary", "context", "--condition", "fits_one"]
    rc, out, err = _run(capsys, ["frontier", str(partial), *argv])
    assert rc == 2 and out == "" and "incomplete sweep store" in err and err.count("\n") == 1
    rc, out, err = _run(capsys, ["frontier", str(store), "--boundary", "batch",
                                 "--condition", "fits"])  # fmt: skip
    assert rc == 2 and out == "" and "no spec" in err and err.count("\n") == 1


def test_frontier_help_lists_the_conditions(capsys):
    with pytest.raises(SystemExit) as e:
        main(["frontier", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    for name in ("fits_one", "fits", "decode_compute_bound", "prefill_compute_bound",
                 "prefill_slo", "decode_slo", "--boundary", "--target"):  # fmt: skip
        assert name in out
