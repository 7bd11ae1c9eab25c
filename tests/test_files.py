"""Atomic writes keep ordinary permissions: a saved pipeline, profile or report must be readable
by whoever may read the folder, not private to the writer like a temporary file."""

from __future__ import annotations

import os
import stat

import numpy as np
import pyarrow as pa
import pytest

import seawall as sw
import seawall.drift
from seawall._files import write_atomic


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.fixture
def table(rng) -> pa.Table:
    return pa.table({"x": rng.normal(size=500), "s": rng.choice(["a", "b"], 500).tolist()})


def test_new_files_get_the_usual_mode(tmp_path, table):
    expected = 0o666 & ~_umask()
    pipe = sw.FeaturePipeline({"x": sw.StandardScale(), "s": sw.OneHot()}).fit(table)
    pipe.save(tmp_path / "f.json")
    sw.Profile.from_data(table).save(tmp_path / "p.profile")
    seawall.drift.compare(table, table).save_html(tmp_path / "r.html")
    for name in ("f.json", "p.profile", "r.html"):
        assert _mode(tmp_path / name) == expected, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json", "p.profile", "r.html"]


def test_replacing_a_file_keeps_its_mode(tmp_path):
    target = tmp_path / "state.bin"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o640


def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "state.bin"
    target.write_bytes(b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, np.arange(10).tobytes())
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.bin"]
