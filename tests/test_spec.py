"""Sweep specs: the shipped ones parse, and every bad input is a one-line InputError."""

from __future__ import annotations

import pytest

from kvjax import sweep as sp
from kvjax.errors import InputError

BASE = """
name = "t"
[axes.batch]
leaf = "workload.batch"
values = [1, 2, 4]
[axes.context]
leaf = "workload.context_tokens"
geomspace = [1000, 100000, 5]
[fixed]
model = "yi-34b"
hardware = "a100-80gb-sxm"
"""


def parse(text, source="bad.toml"):
    return sp.parse_text(text, source)


def test_builtin_specs_parse():
    names = sp.builtin_names()
    for n in ("paper-running-example", "context-scaling", "compression-space", "tp-scaling",
              "benchmark-100m", "multi-turn"):  # fmt: skip
        assert n in names
        s = sp.load_spec(n)
        assert s.size >= 1 and len(s.hash) == 64
    assert sp.load_spec("benchmark-100m").size >= 100_000_000
    cs = sp.load_spec("context-scaling")
    assert len(cs.axes[0].values) >= 10 and cs.axes[1].kind == "hardware"
    leaves = {a.leaf for a in sp.load_spec("compression-space").axes}
    assert {"workload.kv_layer_keep", "workload.kv_head_keep", "workload.kv_token_keep",
            "workload.kv_bits", "workload.context_tokens"} <= leaves  # fmt: skip


def test_builtin_spec_files_match_package_copies():
    from importlib import resources
    from pathlib import Path

    root = Path(__file__).parent.parent / "sweeps"
    for p in root.glob("*.toml"):
        packaged = resources.files("kvjax.sweep") / "specs" / p.name
        assert packaged.read_text() == p.read_text(), p.name


def test_forms_and_short_leaf_names():
    s = parse(BASE.replace('leaf = "workload.batch"\nvalues = [1, 2, 4]',
                           'leaf = "batch"\nrange = [1, 7, 2]'))  # fmt: skip
    assert s.axes[0].leaf == "workload.batch"
    assert list(s.axes[0].values) == [1.0, 3.0, 5.0, 7.0]
    assert s.axes[1].values[0] == pytest.approx(1000) and s.axes[1].values[-1] == 1e5
    s2 = parse(BASE.replace("geomspace = [1000, 100000, 5]", "linspace = [1000, 5000, 5]"))
    assert list(s2.axes[1].values) == [1000.0, 2000.0, 3000.0, 4000.0, 5000.0]
    assert s.dims == ("batch", "context") and s.shape == (4, 5)


def test_hash_depends_on_content_not_layout():
    a = parse(BASE)
    b = parse(BASE.replace("[1, 2, 4]", "[1,2,4]") + "\n# comment\n")
    c = parse(BASE.replace("[1, 2, 4]", "[1, 2, 8]"))
    assert a.hash == b.hash != c.hash


def test_fixed_dotted_and_quoted_keys():
    s = parse(BASE + 'workload.output_tokens = 100\n"workload.tp" = 2\n')
    assert s.fixed == {"workload.output_tokens": 100.0, "workload.tp": 2.0}
    assert s.fixed_catalog["model"] == ("yi-34b", "")


BAD = [
    # (description, edit, words that the one-line message must contain)
    ("unknown leaf", ('leaf = "workload.batch"', 'leaf = "workload.bacth"'),
     ["bad.toml", "axes.batch", "workload.bacth", "did you mean"]),
    ("unknown model", ('model = "yi-34b"', 'model = "yi-35b"'),
     ["bad.toml", "fixed", "yi-35b", "did you mean", "yi-34b"]),
    ("unknown hardware", ('hardware = "a100-80gb-sxm"', 'hardware = "a100-80gb-sxn"'),
     ["bad.toml", "a100-80gb-sxn", "did you mean"]),
    ("negative context", ("geomspace = [1000, 100000, 5]", "values = [-5, 1000]"),
     ["axes.context", "-5", "domain"]),
    ("batch < 1", ("values = [1, 2, 4]", "values = [0.5, 2]"),
     ["axes.batch", "0.5", "domain"]),
    ("empty values", ("values = [1, 2, 4]", "values = []"), ["axes.batch", "non-empty"]),
    ("zero points", ("geomspace = [1000, 100000, 5]", "geomspace = [1000, 100000, 0]"),
     ["axes.context", "positive integer"]),
    ("non-positive geomspace", ("geomspace = [1000, 100000, 5]", "geomspace = [0, 100000, 5]"),
     ["axes.context", "positive"]),
    ("empty range", ("values = [1, 2, 4]", "range = [8, 1]"), ["axes.batch", "empty range"]),
    ("zero step", ("values = [1, 2, 4]", "range = [1, 8, 0]"), ["axes.batch", "step"]),
    ("two forms", ("values = [1, 2, 4]", "values = [1]\nrange = [1, 2]"),
     ["axes.batch", "exactly one"]),
    ("unknown key", ("values = [1, 2, 4]", "values = [1, 2, 4]\nvalue = 3"),
     ["axes.batch", "unknown key", "value"]),
    ("unknown metric", ('name = "t"', 'name = "t"\nmetrics = ["decode_step_ss"]'),
     ["metrics", "decode_step_ss", "did you mean"]),
    ("fixed out of domain", ('model = "yi-34b"', 'model = "yi-34b"\nworkload.kv_token_keep = 1.5'),
     ["fixed", "kv_token_keep", "1.5", "domain"]),
    ("tp < 1", ('model = "yi-34b"', 'model = "yi-34b"\nworkload.tp = 0'), ["tp", "domain"]),
    ("axis also fixed", ('model = "yi-34b"', 'model = "yi-34b"\nworkload.batch = 2'),
     ["both an axis and fixed"]),
    ("no model", ('model = "yi-34b"\n', ""), ["no model"]),
    ("unknown catalog name", ('[fixed]\nmodel = "yi-34b"', '[axes.model]\ncatalog = "model"\n'
                              'names = ["yi-34b", "lama-2-7b"]\n[fixed]'),
     ["axes.model", "lama-2-7b", "llama-2-7b"]),
    ("bad chunks", ('name = "t"', 'name = "t"\n[chunks]\npoints = 0'), ["chunks", "points"]),
]  # fmt: skip


@pytest.mark.parametrize("what,edit,words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_one_line(what, edit, words):
    old, new = edit
    assert old in BASE
    with pytest.raises(InputError) as e:
        parse(BASE.replace(old, new, 1))
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_windowed_fraction_and_duplicate_axes():
    text = BASE + '"model.windowed_layer_fraction" = 1.5\n'
    with pytest.raises(InputError, match="windowed_layer_fraction.*domain"):
        parse(text)
    dup = BASE.replace("[fixed]", '[axes.b2]\nleaf = "batch"\nvalues = [3]\n[fixed]')
    with pytest.raises(InputError, match="duplicate axis.*workload.batch"):
        parse(dup)


def test_unknown_spec_name_suggests():
    with pytest.raises(InputError, match="did you mean 'paper-running-example'"):
        sp.load_spec("paper-running-exampel")
    with pytest.raises(InputError, match="not valid TOML"):
        sp.parse_text("a = [", "x.toml")
