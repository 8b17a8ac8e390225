"""The CLI for scripts: --json documents, token counts, suggestions, examples in every
--help, completion, a fast ``kvjax --help`` and the sweep's re-exec before JAX."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from kvjax.cli import build_parser, main
from kvjax.cli._scenario_args import parse_tokens

EVAL = ["--model", "yi-34b", "--hardware", "a100-80gb-sxm"]


def run(capsys, argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_help_imports_no_jax_and_is_fast():
    code = ("import sys, time; t = time.perf_counter(); from kvjax.cli import main\n"
            "try: main(['--help'])\nexcept SystemExit: pass\n"
            "print(sorted(m for m in ('jax', 'xarray', 'pandas', 'numpy') if m in sys.modules),"
            " time.perf_counter() - t, file=sys.stderr)")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    mods, seconds = r.stderr.strip().rsplit(" ", 1)
    assert r.returncode == 0 and "kvjax sweep context-scaling" in r.stdout
    assert mods == "[]"  # what made it slow (~2 s): measured ~0.03 s now, not asserted


def test_import_kvjax_is_light_and_open_sweep_registers_kv(explore_store):
    store = explore_store
    code = ("import sys, kvjax; heavy = [m for m in ('jax', 'xarray') if m in sys.modules]\n"
            f"ds = kvjax.open_sweep({store!r})\n"
            "print(heavy, int(ds.kv.pareto_mask(minimize='decode_step_s').sum()) > 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.split() == ["[]", "True"], r.stderr


def test_sweep_reexecs_before_importing_jax(tmp_path):
    code = textwrap.dedent(f"""
        import os, sys
        def execve(path, argv, env):
            print("jax" in sys.modules, "GLIBC_TUNABLES" in env, argv[1:3])
            sys.exit(0)
        os.execve = execve
        sys.argv = ["kvjax", "sweep", "paper-running-example", "-o", {str(tmp_path / 's')!r}]
        from kvjax.cli import main
        main()
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("KVJAX_NO_REEXEC", "GLIBC_TUNABLES")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.stdout.split() == ["False", "True", "['-m',", "'kvjax']"], r.stderr


def test_token_counts():
    assert parse_tokens("4k") == 4000 and parse_tokens("128K") == 128_000
    assert parse_tokens("1M") == 1e6 and parse_tokens("128Ki") == 131_072
    assert parse_tokens("1.5e3") == 1500


def test_token_flags_accept_suffixes(capsys):
    rc, out, _ = run(capsys, ["eval", *EVAL, "--context", "4k", "--json"])
    doc = json.loads(out)
    assert rc == 0 and doc["scenario"]["leaves"]["workload.context_tokens"] == 4000.0
    rc, out, _ = run(capsys, ["eval", *EVAL, "--context", "128K", "--output-tokens", "1k",
                              "--json"])  # fmt: skip
    leaves = json.loads(out)["scenario"]["leaves"]
    assert leaves["workload.context_tokens"] == 128_000 and leaves["workload.output_tokens"] == 1000
    with pytest.raises(SystemExit) as e:  # a usage error: argparse exits, one line
        main(["eval", *EVAL, "--context", "4q"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "not a token count" in err and err.count("\n") == 1


def test_prefix_suggests_catalog_ids_first(capsys):
    rc, _, err = run(capsys, ["eval", "--model", "yi-34b", "--hardware", "a100", "--context",
                              "4k"])  # fmt: skip
    assert rc == 2 and err.count("\n") == 1
    named = err.split("did you mean ")[1].rstrip("?\n").replace("'", "").split(", ")
    from kvjax import catalog

    a100 = [h for h in catalog.hardware_names() if h.startswith("a100")]
    assert len(a100) >= 2 and sorted(named[: len(a100)]) == sorted(a100)  # every A100 first


def test_eval_json_schema(capsys):
    """Yi-34B: 2 x 60 layers x 8 KV heads x 128 x 2 bytes = 245,760 B of KV per token
    (Yao Fu, arXiv 2405.08944, section 3)."""
    rc, out, _ = run(capsys, ["eval", *EVAL, "--context", "4k", "--json"])
    doc = json.loads(out)
    assert set(doc) == {"scenario", "metrics"}
    kv = doc["metrics"]["kv_bytes_per_token"]
    assert kv == {"value": 245760.0, "units": "bytes", "kind": "float",
                  "long_name": "KV cache per token"}  # fmt: skip
    assert doc["metrics"]["fits"]["value"] is True
    assert doc["metrics"]["decode_regime"]["label"] == "HBM bandwidth"
    rc, out, _ = run(capsys, ["eval", *EVAL, "--context", "1M", "--json"])
    assert json.loads(out)["metrics"]["decode_step_s"]["value"] is None  # NaN: null


def test_grad_solve_list_json(capsys):
    rc, out, _ = run(capsys, ["grad", *EVAL, "--context", "5k", "--batch", "4", "--json",
                              "--metrics", "decode_step_s"])  # fmt: skip
    doc = json.loads(out)
    assert rc == 0 and doc["infeasible"] is None
    knobs = [e["knob"] for e in doc["metrics"]["decode_step_s"]["elasticities"]]
    assert "hardware.hbm_bytes_per_s" in knobs
    rc, out, _ = run(capsys, ["solve", *EVAL, "--context", "50k", "--objective",
                              "decode_step_s", "--knob", "kv_bits", "--json"])  # fmt: skip
    doc = json.loads(out)
    assert rc == 0 and doc["target_context_tokens"] == 50_000
    assert doc["objectives"]["decode_step_s"]["solutions"][0]["knob"] == "workload.kv_bits"
    for what in ("models", "hardware", "sweeps", "metrics"):
        rc, out, _ = run(capsys, ["list", what, "--json"])
        doc = json.loads(out)
        assert rc == 0 and doc["kind"] == what and doc["items"]


def test_sweep_dry_run_and_info_json(capsys, tmp_path):
    rc, out, _ = run(capsys, ["sweep", "paper-running-example", "--dry-run", "--json"])
    doc = json.loads(out)
    assert rc == 0 and doc["points"] == 42 and doc["dims"] == {"batch": 7, "context": 6}
    rc, _, err = run(capsys, ["sweep", "paper-running-example", "-o", tmp_path / "x", "--json"])
    assert rc == 2 and "--dry-run" in err


def test_every_subcommand_help_has_examples():
    parser = build_parser(full=True)
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, p in sub.choices.items():
        assert (p.epilog or "").startswith("examples:\n  kvjax"), name


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_script(capsys, shell):
    rc, out, _ = run(capsys, ["completion", shell])
    assert rc == 0 and "explore" in out and "--hardware" in out and "a100-80gb-sxm" in out


def test_ctrl_c_during_start_up_is_one_line(capsys, monkeypatch):
    from kvjax.cli import _main

    def interrupted():
        raise KeyboardInterrupt  # as if Ctrl-C arrived while the parser imported JAX

    monkeypatch.setattr(_main, "build_parser", interrupted)
    rc = main(["paper"])
    err = capsys.readouterr().err
    assert rc == 130 and err == "kvjax: interrupted\n"


def test_ctrl_c_inside_an_extension_import_is_one_line(capsys, monkeypatch):
    """numpy turns a Ctrl-C during its import into ImportError (jaxlib then re-raises one)."""
    from kvjax.cli import _main

    def interrupted():
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as e:
            raise ImportError("numpy._core.multiarray failed to import") from e

    monkeypatch.setattr(_main, "build_parser", interrupted)
    rc = main(["eval"])
    assert rc == 130 and capsys.readouterr().err == "kvjax: interrupted\n"


def test_ctrl_c_is_held_while_an_import_runs():
    import signal
    import sys as _sys
    import time

    from kvjax.cli import _signals

    # A function whose frames look like importlib's: the handler must hold the signal there
    # and deliver it (SIGALRM, 50 ms later) once the "import" has returned.
    ns = {"sys": _sys}
    exec(compile("def in_import(h):\n    return h(2, sys._getframe())\n",
                 "<frozen importlib._bootstrap>", "exec"), ns)  # fmt: skip
    with _signals.handled():
        handler = signal.getsignal(signal.SIGINT)
        with pytest.raises(_signals.Stopped):
            handler(2, _sys._getframe())  # not inside an import: at once
        assert not _signals._in_import(_sys._getframe())
        with pytest.raises(_signals.Stopped) as held:
            assert ns["in_import"](handler) is None  # held: returns normally
            time.sleep(2)  # delivered by the alarm, well before this ends
        assert held.value.exit_status == 130
