"""The house: one version, ``python -m kvjax``, one source for shipped data, float leaves
whatever the caller's number types, and a sound dependence walk through loops."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import A100_80GB, YI_34B

import kvjax
from kvjax import costs
from kvjax.cli import main
from kvjax.model import Hardware, Scenario, Workload, leaf_paths, leaves_read, scenario_from_leaves
from kvjax.sweep import builtin_names

ROOT = Path(__file__).resolve().parents[1]

# ----------------------------------------------------------------------------- entry points


def test_python_m_kvjax_and_version_defined_once():
    out = subprocess.run([sys.executable, "-m", "kvjax", "--version"], capture_output=True,
                         text=True, check=True, cwd=ROOT)  # fmt: skip
    assert out.stdout.strip() == f"kvjax {kvjax.__version__}"
    text = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in text and 'attr = "kvjax._version.__version__"' in text
    assert "version = \"" not in text.split("[project]")[1].split("[")[0]


def test_list_sweeps_and_metrics(capsys):
    assert main(["list", "sweeps"]) == 0
    out = capsys.readouterr().out
    for name in ("paper-running-example", "context-scaling", "benchmark-100m"):
        assert name in out
    assert "106,905,600" in out  # benchmark-100m: 29 models x 24 GPUs x 128 x 1200
    assert main(["list", "metrics"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("decode_tokens_per_s "))
    assert line.split()[1:4] == ["1/s", "float", "higher"]
    line = next(x for x in out.splitlines() if x.startswith("decode_step_s "))
    assert line.split()[1:4] == ["s", "float", "lower"] and line.endswith("*")


# ----------------------------------------------------------------------------- shipped data


@pytest.mark.parametrize(
    "top, package, names",
    [
        ("data", ("kvjax.catalog", "data"), ("hardware.toml", "models.toml")),
        ("sweeps", ("kvjax.sweep", "specs"), tuple(f"{n}.toml" for n in builtin_names())),
    ],
)
def test_top_level_folders_are_links_to_the_package_copy(top, package, names):
    """The catalogs and specs live once, inside the package; data/ and sweeps/ link to them."""
    shipped = resources.files(package[0]) / package[1]
    assert sorted(p.name for p in shipped.iterdir() if p.name.endswith(".toml")) == sorted(names)
    for name in names:
        link = ROOT / top / name
        assert link.is_symlink(), link
        assert os.path.samefile(link, Path(str(shipped / name))), link
    assert sorted(p.name for p in (ROOT / top).glob("*.toml")) == sorted(names)


# ----------------------------------------------------------------------------- float leaves


def _a100(**kw):
    d = dict(flop_per_s=312e12, hbm_bytes=80 * 2**30, hbm_bytes_per_s=2.039e12,
             host_link_bytes_per_s=32e9, scaleup_bytes_per_s=300e9)  # fmt: skip
    d.update(kw)
    return Hardware(**d)


@pytest.mark.parametrize(
    "hbm",
    [
        np.int64(80 * 2**30),
        np.uint64(80 * 2**30),
        80 * 2**30,
        np.array(80 * 2**30, dtype=np.int64),
        np.array([80 * 2**30, 40 * 2**30], dtype=np.int64),
    ],
    ids=["np.int64", "np.uint64", "int", "0-d int array", "int array"],
)
def test_integer_leaves_become_floats_and_jit_agrees(hbm):
    """An 80 GiB integer leaf overflows int32 under jit (concurrency 0.0 before the fix).

    Expected: the paper's (85.9e9 - 68e9) / 0.983e9 = 18.21 users at 4K (40 GiB: no user)."""
    w = Workload(context_tokens=np.int64(4000), hbm_utilization=1, hbm_reserve_bytes=0)
    s = Scenario(YI_34B, _a100(hbm_bytes=hbm), w)
    assert np.issubdtype(np.asarray(s.hardware.hbm_bytes).dtype, np.floating)
    assert isinstance(s.workload.context_tokens, float)
    eager = np.asarray(costs.concurrency(s))
    jitted = np.asarray(jax.jit(costs.concurrency)(s))
    np.testing.assert_allclose(jitted, eager, rtol=1e-6)
    np.testing.assert_allclose(np.atleast_1d(jitted)[0], 18.21, rtol=1e-3)


def test_jax_integer_arrays_and_tracers_become_floats():
    s = Scenario(YI_34B, _a100(hbm_bytes=jnp.asarray(80, jnp.int32) * 0 + 2**30),
                 Workload(context_tokens=4000.0))  # fmt: skip
    assert jnp.issubdtype(s.hardware.hbm_bytes.dtype, jnp.floating)

    def f(batch):  # an integer tracer reaching a leaf
        return costs.kv_bytes_per_user(Scenario(YI_34B, A100_80GB,
                                                Workload(context_tokens=batch * 1000)))  # fmt: skip

    assert float(jax.jit(f)(jnp.asarray(4, jnp.int32))) == 983_040_000  # [paper] 245,760 x 4000


# ----------------------------------------------------------------------------- dependence walk


def _loop_metrics():
    """Metrics written with loops and branches.  Each reads a leaf that reaches its output only
    after several iterations: a carry that swaps places each step, so one pass over the loop
    body (what an unsound walk does) sees the wrong dependence."""

    def swap_body(c, q):
        i, a, b = c
        return i + 1, b, a * q

    def while_metric(s):  # 3 steps of (a, b) <- (b, a * kv_bits): a = D * q
        c = (0, s.model.head_dim, s.model.d_model)
        return jax.lax.while_loop(lambda c: c[0] < 3,
                                  lambda c: swap_body(c, s.workload.kv_bits), c)[1]  # fmt: skip

    def fori_metric(s):  # the same with a static trip count (lowered to a scan)
        c = (0, s.model.head_dim, s.model.d_model)
        return jax.lax.fori_loop(0, 3, lambda i, c: swap_body(c, s.workload.tp), c)[1]

    def scan_metric(s):  # a scan whose carry swaps, consuming n_layers as xs
        def step(c, x):
            a, b = c
            return (b, a * x), None

        xs = jnp.stack([s.model.n_layers] * 3)
        return jax.lax.scan(step, (s.model.head_dim, s.workload.batch), xs)[0][0]

    def cond_metric(s):
        return jax.lax.cond(s.workload.batch > 2.0, lambda: s.model.n_heads,
                            lambda: s.hardware.flop_per_s)  # fmt: skip

    return {"while": while_metric, "fori": fori_metric, "scan": scan_metric, "cond": cond_metric}


@pytest.mark.parametrize("name", sorted(_loop_metrics()))
def test_dependence_walk_is_sound_through_loops_and_branches(name):
    """Every leaf with a non-zero gradient (forward mode, at two points) is read."""
    fn = _loop_metrics()[name]
    read = leaves_read(fn)
    base = {p: 2.0 for p in leaf_paths()}
    base.update({"hardware.hbm_bytes_per_s": 50.0, "workload.batch": 3.0})
    moving = set()
    for batch in (1.0, 3.0):
        values = {**base, "workload.batch": batch}
        for p in leaf_paths():
            def at(x, p=p, values=values):
                return fn(scenario_from_leaves({**values, p: x}))

            _, dy = jax.jvp(at, (values[p],), (1.0,))
            if float(dy) != 0.0:
                moving.add(p)
    assert moving, name
    assert moving <= read, (name, moving - read)


def test_dependence_walk_keeps_exact_pruning_of_cost_metrics():
    """kv_bytes_per_user reads no hardware leaf and not the batch (so sweeps store it
    without those axes), and decode_step_s reads the HBM bandwidth and the batch."""
    from kvjax.model import METRICS

    kv = leaves_read(METRICS["kv_bytes_per_user"].fn)
    assert not any(p.startswith("hardware.") for p in kv) and "workload.batch" not in kv
    assert {"hardware.hbm_bytes_per_s", "workload.batch"} <= leaves_read(
        METRICS["decode_step_s"].fn
    )
