"""Every case of the bad-input corpus (``tests/corpus.py``) ends with one line on stderr that
names what is wrong, and exit status 2: specs, CLI flags of each command, config.json files,
catalogs, store paths and damaged stores."""

from __future__ import annotations

import json
import shutil

import pytest
from corpus import CASES, TINY_SPEC, classify, materialise

from kvjax import catalog
from kvjax.cli import main
from kvjax.sweep import parse_text, run_sweep


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "tiny.zarr"
    run_sweep(parse_text(TINY_SPEC, "tiny.toml"), path, durable=False)
    return path


def test_corpus_is_large_and_ids_unique():
    assert len(CASES) >= 150
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, tiny_store, capsys, monkeypatch):
    def make_store(path, complete=True):
        shutil.copytree(tiny_store, path)
        if not complete:
            meta = json.loads((path / "zarr.json").read_text())
            meta["attributes"]["kvjax_status"] = "incomplete"
            (path / "zarr.json").write_text(json.dumps(meta))
            (path / "_kvjax" / "done" / "c" / "2").unlink()

    argv, env = materialise(case, tmp_path, make_store)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    catalog.clear_cache()
    try:
        with pytest.raises(SystemExit) as exit_info:
            raise SystemExit(main(argv))
    finally:
        catalog.clear_cache()
    out, err = capsys.readouterr()
    rc = exit_info.value.code
    assert classify(rc, err) == "clean", (rc, err)
    for word in case.expect:
        assert word in err, (word, err)
