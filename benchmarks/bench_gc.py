"""Garbage collection of the artifact store beside eight writers.

A SQLite registry with a local store of N_OBJECTS artifacts: half referenced by runs, half left
by runs that were purged. Eight writer processes keep writing through the registry's API while
``Registry.gc(min_age=0)`` sweeps: each stores artifacts whose bytes are those of objects the gc
is removing as garbage (the race a sweep must win without taking a live object), and new ones,
and purges its own older runs. Reported: the time of the sweep, what it removed, the writes
made meanwhile, and the two counts that must be 0: references whose object is missing
(dangling) and live objects removed (an object of the runs that were never deleted, or that a
writer referenced, that is gone).

The store and the database are filled straight (files under ``objects/``, rows copied from one
run made through the API): storing 100,000 objects through the API, one fsync each, would take
minutes and measure nothing here.

    python -m pytest benchmarks/bench_gc.py -s --benchmark-columns=median,rounds

SEAWALL_BENCH_ROWS scales the store down (CI's smoke run: 2,000 objects).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text

from conftest import ROWS
from seawall.registry import Registry

N_OBJECTS = min(100_000, max(2_000, ROWS // 10))
PER_RUN = 50
WRITERS = 8
RESULT: dict[str, Any] = {}


def _content(i: int) -> bytes:
    return f"bench object {i} ".encode() * (1 + i % 16)


def _fill(reg: Registry, root: Path) -> tuple[set[str], set[str]]:
    """N_OBJECTS objects straight into the store; the first half referenced by runs copied
    from one made through the API, the rest by runs then purged. Returns (live, garbage)."""
    with reg.start_run(experiment="bench") as template:
        template.log_bytes(_content(0), "a0.bin")
    shas = []
    for i in range(N_OBJECTS):
        data = _content(i)
        sha = hashlib.sha256(data).hexdigest()
        folder = root / "objects" / "sha256" / sha[:2]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / sha).write_bytes(data)
        shas.append(sha)
    path = reg._db.path
    assert path is not None
    con = sqlite3.connect(path)
    run_row = con.execute("SELECT * FROM runs WHERE uuid = ?", (template.id,)).fetchone()
    columns = [c[1] for c in con.execute("PRAGMA table_info(runs)")]
    next_id = con.execute("SELECT max(id) FROM runs").fetchone()[0] + 1
    run_rows, artifact_rows, purged = [], [], []
    now = time.time()
    for start in range(0, N_OBJECTS, PER_RUN):
        row = dict(zip(columns, run_row, strict=True))
        row["id"], row["uuid"] = next_id, uuid.uuid4().hex
        if start >= N_OBJECTS // 2:
            purged.append(row["uuid"])
        run_rows.append(tuple(row[c] for c in columns))
        for i in range(start, min(start + PER_RUN, N_OBJECTS)):
            artifact_rows.append((next_id, f"a{i}.bin", shas[i], len(_content(i)), now))
        next_id += 1
    with con:
        con.executemany(
            f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            run_rows,
        )
        con.executemany(
            "INSERT INTO artifacts (run_id, path, sha256, size, created_at) VALUES (?, ?, ?, ?, ?)",
            artifact_rows,
        )
    con.close()
    for run_id in purged:  # through the API, as a user would
        reg.delete_run(run_id)
        reg.purge_run(run_id)
    half = N_OBJECTS // 2
    return set(shas[:half]), set(shas[half:])


def _writer(uri: str, artifacts: str, worker: int, ready: Any, stop: Any, out: Any) -> None:
    """Writes through the API until `stop`: runs of three artifacts, mostly the bytes of
    objects the gc is removing, keeping its newest two runs and purging the older."""
    import numpy as np

    rng = np.random.default_rng(worker)
    reg = Registry(uri, artifacts=artifacts)
    kept: list[tuple[str, list[tuple[str, str]]]] = []
    writes = 0
    errors: list[str] = []
    while True:
        try:
            with reg.start_run(experiment=f"writer-{worker}") as run:
                logged = []
                for j in range(3):
                    if rng.random() < 0.8:
                        data = _content(int(rng.integers(N_OBJECTS // 2, N_OBJECTS)))
                    else:
                        data = rng.bytes(64)
                    logged.append((f"w{j}", run.log_bytes(data, f"w{j}").sha256))
                    writes += 1
            kept.append((run.id, logged))
            if len(kept) > 2:
                old = kept.pop(0)[0]
                reg.delete_run(old)
                reg.purge_run(old)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        ready.set()
        if stop.is_set():
            break
    out.put((worker, writes, kept, errors))


def test_gc_beside_eight_writers(benchmark, tmp_path):
    root = tmp_path / "artifacts"
    uri = str(tmp_path / "registry.db")
    reg = Registry(uri, artifacts=root)
    live, garbage = _fill(reg, root)
    context = multiprocessing.get_context("spawn")
    stop, out = context.Event(), context.Queue()
    readies = [context.Event() for _ in range(WRITERS)]
    writers = [
        context.Process(target=_writer, args=(uri, str(root), w, readies[w], stop, out))
        for w in range(WRITERS)
    ]
    for p in writers:
        p.start()
    try:
        for ready in readies:  # every writer is writing before the sweep starts
            assert ready.wait(timeout=300)
        report = benchmark.pedantic(lambda: reg.gc(min_age=0), rounds=1, iterations=1)
    finally:
        stop.set()
        results = [out.get(timeout=300) for _ in writers]
        for p in writers:
            p.join(timeout=300)
    errors = [e for _, _, _, errs in results for e in errs]
    assert errors == []
    # 0 dangling: every object the database references is in the store, intact.
    with reg._db.read() as conn:
        referenced = set(conn.execute(text("SELECT sha256 FROM artifacts")).scalars())
    objects = root / "objects" / "sha256"
    dangling = [s for s in referenced if not (objects / s[:2] / s).is_file()]
    # 0 live objects removed: the runs never deleted kept all theirs, and so did the writers.
    kept = {sha for _, _, runs, _ in results for _, logged in runs for _, sha in logged}
    removed_live = [s for s in live | kept if not (objects / s[:2] / s).is_file()]
    for sha in list(kept)[:200]:
        assert hashlib.sha256((objects / sha[:2] / sha).read_bytes()).hexdigest() == sha
    RESULT.update(
        objects=report.objects,
        removed=report.removed,
        removed_bytes=report.removed_bytes,
        seconds=report.seconds,
        writes=sum(w for _, w, _, _ in results),
        dangling=len(dangling),
        removed_live=len(removed_live),
        garbage=len(garbage),
    )
    assert dangling == [] and removed_live == []
    reg.close()


def report(medians: dict[str, float]) -> list[str]:
    """The sweep's figures (KeyError when it did not run)."""
    r = RESULT
    return [
        f"gc over {r['objects']:,} objects beside {WRITERS} writers: {r['seconds']:.2f} s, "
        f"removed {r['removed']:,} ({r['removed_bytes'] / 2**20:.1f} MiB) of {r['garbage']:,} "
        f"garbage; {r['writes']:,} writes meanwhile; dangling references {r['dangling']}, "
        f"live objects removed {r['removed_live']}"
    ]
