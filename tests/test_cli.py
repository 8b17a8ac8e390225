"""The core CLI commands as a user runs them: output and exit codes."""

from __future__ import annotations

import pytest

from kvjax.cli import main


def test_eval_prints_every_metric_with_units(capsys):
    rc = main(
        [
            "eval",
            "--model",
            "yi-34b",
            "--hardware",
            "a100-80gb-sxm",
            "--context",
            "4000",
            "--set",
            "model.params_total=34e9",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "kv_bytes_per_token              245,760 B" in out
    assert "decode_regime                   HBM bandwidth" in out


def test_eval_infeasible_point_says_so(capsys):
    rc = main(["eval", "--model", "yi-34b", "--hardware", "a100-80gb-sxm", "--context", "1e6"])
    out = capsys.readouterr().out
    assert rc == 0 and "NaN (does not fit)" in out and "HBM capacity" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "yi34b", "--context", "1"], "did you mean 'yi-34b'"),
        (["--model", "yi-34b"], "--context is required"),
        (["--model", "yi-34b", "--context", "-5"], "--context-tokens = -5.0"),
        (["--model", "yi-34b", "--context", "nan"], "must be finite"),
        (
            ["--model", "yi-34b", "--context", "1", "--set", "model.n_kv_head=1"],
            "did you mean 'model.n_kv_heads'",
        ),
        (["--model", "yi-34b", "--context", "1", "--set", "model.n_kv_heads=x"], "not a number"),
        (["--context", "1"], "exactly one of --model"),
    ],
)
def test_eval_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    rc = main(["eval", "--hardware", "a100-80gb-sxm", *argv])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_list_models_and_hardware(capsys):
    assert main(["list", "models"]) == 0
    assert "yi-34b" in capsys.readouterr().out
    assert main(["list", "hardware"]) == 0
    assert "a100-80gb-sxm" in capsys.readouterr().out
