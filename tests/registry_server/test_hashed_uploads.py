"""A registry server's client uploads a large file hashing it as it sends it (one pass over the
file, ``POST /objects/uploads``: the bytes, then their SHA-256), and the server keeps it only if
the bytes it received hash to that, pins it before it puts it in place (so gc cannot take it
before the write that references it), and keeps nothing of a corrupted or cut upload."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from local_servers import registry_server
from seawall import errors
from seawall.registry import Registry
from seawall.registry import _store as store_module
from seawall.registry._schema import store_pins
from seawall.registry.remote import client as remote_client
from seawall.registry.remote.routes import API_VERSION

API = {"Seawall-API": str(API_VERSION)}


@pytest.fixture
def large(monkeypatch: pytest.MonkeyPatch, rng: Any) -> int:
    """Files from a random size of a few hundred KiB on count as large."""
    size = int(rng.integers(100_000, 600_000))
    monkeypatch.setattr(remote_client, "HASHED_AS_SENT_BYTES", size)
    return size


def _objects(backing: Any) -> list[Path]:
    root = backing.artifacts.local_path("0" * 64).parents[3]
    return [p for p in (root / "objects").rglob("*") if p.is_file()]


def _temporaries(backing: Any) -> list[Path]:
    root = backing.artifacts.local_path("0" * 64).parents[3]
    return list((root / "tmp").iterdir()) if (root / "tmp").exists() else []


def _pins(backing: Any) -> int:
    with backing._db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(store_pins)).scalar_one())


def test_a_large_file_is_read_once_and_sent_in_one_request(
    counted, large, rng, tmp_path, monkeypatch
):
    """Oracle: hashlib over the file's bytes; the server's store holds exactly them. The file
    is opened once (not once to hash it and once to send it), and crosses in one request."""
    url, backing, requests = counted
    data = rng.bytes(large + int(rng.integers(0, 3 * large)))
    source = tmp_path / "model.bin"
    source.write_bytes(data)
    opened: list[Path] = []
    for module in (store_module, remote_client):
        real = module._open_regular
        monkeypatch.setattr(
            module, "_open_regular", lambda p, real=real: opened.append(Path(p)) or real(p)
        )
    with Registry(url) as reg, reg.start_run() as run:
        requests.clear()
        logged = run.log_artifact(source)
        sent = list(requests)
        assert reg.read_artifact(run.id, "model.bin") == data
    assert [p for p in opened if p == source] == [source]  # (the server opens its copy)
    assert logged.sha256 == hashlib.sha256(data).hexdigest() and logged.size == len(data)
    assert backing.artifacts.local_path(logged.sha256).read_bytes() == data
    objects = [(m, p) for m, p in sent if "/objects" in p]
    assert objects == [("POST", f"/api/{API_VERSION}/objects/uploads")]
    assert _pins(backing) == 0  # the record took the pin's place
    assert _temporaries(backing) == []


def test_a_small_file_is_hashed_first_and_not_sent_when_the_server_holds_it(
    counted, large, rng, tmp_path
):
    url, _, requests = counted
    data = rng.bytes(int(rng.integers(1, large)))
    source = tmp_path / "small.bin"
    source.write_bytes(data)
    objects = f"/api/{API_VERSION}/objects/"
    with Registry(url) as reg, reg.start_run() as run:
        requests.clear()
        run.log_artifact(source)
        first = [(m, p) for m, p in requests if p.startswith(objects)]
        requests.clear()
        run.log_artifact(source, name="again.bin")
        again = [(m, p) for m, p in requests if p.startswith(objects)]
        assert reg.read_artifact(run.id, "again.bin") == data
    sha = hashlib.sha256(data).hexdigest()
    assert first == [("POST", objects + "pins"), ("PUT", objects + sha)]
    assert again == [("POST", objects + "pins")]


def test_a_corrupted_or_short_upload_is_refused_and_leaves_nothing(counted, rng):
    url, backing, _ = counted
    good = rng.bytes(int(rng.integers(1000, 300_000)))
    bad = bytearray(good)
    bad[int(rng.integers(len(bad)))] ^= 1 << int(rng.integers(8))
    api = f"{url}/api/{API_VERSION}/objects/uploads"
    digest = hashlib.sha256(good).digest()
    answer = httpx.post(api, content=bytes(bad) + digest, headers=API)
    assert answer.status_code == 422 and answer.json()["type"] == "IntegrityError"
    assert "nothing was stored" in answer.json()["error"]
    short = httpx.post(api, content=digest[: int(rng.integers(0, 32))], headers=API)
    assert short.status_code == 400 and short.json()["type"] == "InvalidInputError"
    assert _objects(backing) == [] and _temporaries(backing) == [] and _pins(backing) == 0
    # The same bytes whole: stored under their hash, pinned for the write that will use them.
    answer = httpx.post(api, content=good + digest, headers=API)
    assert answer.status_code == 200, answer.text
    assert answer.json()["sha256"] == digest.hex() and answer.json()["size"] == len(good)
    assert backing.artifacts.local_path(digest.hex()).read_bytes() == good
    assert _pins(backing) == 1


@pytest.mark.parametrize("hashed", ["as sent", "first"])
def test_a_file_that_changes_while_it_is_sent_is_refused(
    counted, large, rng, tmp_path, monkeypatch, hashed
):
    """Longer or shorter once its upload has begun (for a small file: once it was hashed):
    IntegrityError, and the server keeps nothing."""
    url, backing, _ = counted
    data = rng.bytes(2 * large if hashed == "as sent" else large // 2)
    source = tmp_path / "growing.bin"
    source.write_bytes(data)
    real = remote_client._open_regular
    grow = bool(rng.integers(2))

    class Changing:  # the file changes on disk once the upload has begun: longer, or shorter
        def __init__(self, fh: Any) -> None:
            self.fh, self.reads = fh, 0

        def read(self, n: int) -> bytes:
            self.reads += 1
            if self.reads == 1:  # after its size was taken, before its bytes are read
                if grow:
                    with open(source, "ab") as out:
                        out.write(b"more")
                else:
                    os.truncate(source, int(rng.integers(0, len(data))))
            return bytes(self.fh.read(n))

        def __enter__(self) -> Changing:
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()

    monkeypatch.setattr(remote_client, "_open_regular", lambda p: Changing(real(p)))
    with Registry(url) as reg, reg.start_run() as run:
        with pytest.raises(errors.IntegrityError, match="changed while it was uploaded"):
            run.log_artifact(source)
        assert reg.list_artifacts(run.id) == []
    deadline = time.monotonic() + 10
    while _temporaries(backing) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _objects(backing) == [] and _temporaries(backing) == []
    if hashed == "as sent":  # (the pins of a write that failed after POST /objects/pins expire)
        assert _pins(backing) == 0


def test_gc_between_the_upload_and_the_write_keeps_the_object(counted, large, rng, tmp_path):
    """The server pins the object before it puts it in place: a sweep that runs before the
    write records it (min_age=0: every unreferenced object is garbage) leaves it."""
    url, backing, _ = counted
    data = rng.bytes(large + 1)
    source = tmp_path / "weights.bin"
    source.write_bytes(data)
    with Registry(url) as reg, reg.start_run() as run:
        with reg._pins() as pins:
            sha, size = pins.put_file(source)
            report = backing.gc(min_age=0)
            assert sha not in report.removed_objects
            assert backing.artifacts.exists_intact(sha)
            (recorded,) = reg._record_artifacts(run, [("weights.bin", sha, size)], pins)
        assert recorded.sha256 == hashlib.sha256(data).hexdigest()
        backing.gc(min_age=0)
        assert reg.read_artifact(run.id, "weights.bin") == data


def test_a_token_without_write_may_not_upload(tmp_path, rng):
    with registry_server(tmp_path / "server", auth=True) as (url, backing):
        reader = backing.create_token("reader", team="t", scopes=["read:experiments/*"])
        writer = backing.create_token("writer", team="t", scopes=["write:experiments/*"])
        data = rng.bytes(1000)
        body = data + hashlib.sha256(data).digest()
        api = f"{url}/api/{API_VERSION}/objects/uploads"
        answers = {
            name: httpx.post(
                api, content=body, headers={**API, "authorization": f"Bearer {token.secret}"}
            )
            for name, token in (("reader", reader), ("writer", writer))
        }
        assert answers["reader"].status_code == 403, answers["reader"].text
        assert answers["writer"].status_code == 200, answers["writer"].text
        assert httpx.post(api, content=body, headers=API).status_code == 401
