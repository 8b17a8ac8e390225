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
    rc, out, _ = _run(capsys, ["grad", *YI, "--context", "50000", "--batch", "1",
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
    rc, out, _ = _run(capsys, ["grad", *YI, "--context", "50000", "--batch", "8"])
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
