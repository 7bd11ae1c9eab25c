"""gc beside eight writer processes, on SQLite and PostgreSQL: the writers keep storing objects
of a shared pool that their own purges keep turning to garbage, while the gc sweeps again and
again with no minimum age. Afterwards no reference dangles (every referenced object is in the
store, intact), everything the writers kept reads back, and a last gc removes exactly what
nothing references. SEAWALL_STRESS_SECONDS sets how long the writers write (default 6)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from registry_helpers import referenced_objects, stored_objects
from registry_worker import pool_bytes
from sqlalchemy import select

from local_servers import local_of, open_registry
from seawall.registry._schema import gc_condemned, store_pins

WORKER = Path(__file__).with_name("registry_worker.py")
SECONDS = float(os.environ.get("SEAWALL_STRESS_SECONDS", "6"))
WRITERS = 8
POOL = 24


def test_gc_beside_eight_writers_never_removes_a_live_object(registry_uri, tmp_path, seed, request):
    """Through a server, the writers are its clients, and the gc its call."""
    artifacts_uri = str(tmp_path / "artifacts")
    reg = open_registry(registry_uri, artifacts_uri)
    if registry_uri.startswith("http"):
        reg.backing = request.getfixturevalue("server_registry")[1]
    # The pool, stored and turned to garbage before the writers start storing it again.
    with reg.start_run(experiment="pool") as run:
        for k in range(POOL):
            run.log_bytes(pool_bytes(k), f"p{k}.bin")
    reg.delete_run(run.id)
    reg.purge_run(run.id)
    pool = {hashlib.sha256(pool_bytes(k)).hexdigest() for k in range(POOL)}

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(WORKER.parent), *sys.path])}
    outs = [tmp_path / f"writer-{w}" / "out.json" for w in range(WRITERS)]
    writers = []
    for w, out in enumerate(outs):
        out.parent.mkdir()
        args = [registry_uri, artifacts_uri, str(SECONDS), str(w), str(seed % 2**31 + w)]
        writers.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), "gcwrite", *args, str(POOL), str(out)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    removed: set[str] = set()
    sweeps = 0
    try:
        while any(p.poll() is None for p in writers) or sweeps == 0:
            removed.update(reg.gc(min_age=0).removed_objects)
            sweeps += 1
    finally:
        results = [p.communicate(timeout=300) for p in writers]
    for p, (_, err) in zip(writers, results, strict=True):
        assert p.returncode == 0, err
    done = [json.loads(out.read_text()) for out in outs]
    assert [d["errors"] for d in done] == [[]] * WRITERS
    assert removed & pool, "the gc never removed a pool object: the race was not exercised"

    # No reference dangles: every object the database references is there, intact.
    stored = stored_objects(local_of(reg).artifacts)
    live = referenced_objects(local_of(reg))
    assert live - set(stored) == set()
    assert all(hashlib.sha256(stored[s]).hexdigest() == s for s in live)
    # What each writer kept reads back, verified.
    for w, result in enumerate(done):
        for run_id, logged in result["runs"]:
            for name, sha in logged:
                assert hashlib.sha256(reg.read_artifact(run_id, name)).hexdigest() == sha
        for version in result["versions"]:
            reg.bundle_path(f"models:/m{w}/{version}")
    with local_of(reg)._db.read() as conn:
        assert conn.execute(select(store_pins)).all() == []
        assert conn.execute(select(gc_condemned)).all() == []
    # And a last sweep removes exactly what nothing references.
    last = reg.gc(min_age=0)
    assert set(last.removed_objects) == set(stored) - live
    assert set(stored_objects(local_of(reg).artifacts)) == live
    print(
        f"{sweeps} sweeps removed {len(removed)} objects ({len(removed & pool)} of the pool) "
        f"beside {WRITERS} writers ({sum(d['steps'] for d in done)} writes)"
    )
