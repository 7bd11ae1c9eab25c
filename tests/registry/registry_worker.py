"""A separate process that writes to a registry, for the concurrency and crash tests.

    python registry_worker.py stress URI ARTIFACTS SECONDS WORKER OUT.json
    python registry_worker.py kill URI ARTIFACTS HOOK BUNDLE
    python registry_worker.py open URI ARTIFACTS GO
    python registry_worker.py start URI ARTIFACTS
    python registry_worker.py live URI ARTIFACTS
    python registry_worker.py upload ARTIFACTS FILE kill|hold
    python registry_worker.py gc URI ARTIFACTS hold|kill:N
    python registry_worker.py gcwrite URI ARTIFACTS SECONDS WORKER SEED POOL OUT.json

`stress` logs metric batches to its own run, registers versions of the shared model "shared"
and moves its "champion" alias, for SECONDS, and writes what it did (and every error) to
OUT.json. `kill` registers a version of "crash" and SIGKILLs itself at the hook point HOOK.
`open` imports everything, prints "ready", waits for the file GO to exist (so that several
processes open at the same moment), opens the registry and lists its models; it prints "ok" or
the error's class and message. `start` SIGKILLs itself inside start_run, once the run is in
the database. `live` starts a run, prints its id, waits for a line on stdin, then logs a metric,
ends the run and prints "ok". `upload` stores FILE in the artifact store and, in the middle of
writing it, SIGKILLs itself (kill) or prints "writing" and waits for a line on stdin (hold); it
prints the stored SHA-256.
`gc` runs ``Registry.gc(min_age=0)`` and prints its report as JSON; with `hold` it prints
"condemned" once its first batch is condemned and waits for a line on stdin, with `kill:N` it
SIGKILLs itself after removing N objects. `gcwrite` writes for SECONDS beside a gc: runs
logging artifacts (mostly bytes of a pool of POOL contents that every writer shares, else new
bytes) and versions registered from bundles holding a pool file, keeping its newest two of each
and deleting and purging the older ones, so that pool objects keep turning to garbage that a gc
removes while writers store them again; it writes what it kept, and every error, to OUT.json.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path


def _open(uri: str, artifacts: str):
    """The registry at `uri` (a server keeps its own artifacts)."""
    from seawall.registry import Registry

    if uri.startswith(("http://", "https://")):
        return Registry(uri)
    return Registry(uri, artifacts=artifacts)


def stress(uri: str, artifacts: str, seconds: float, worker: int, out: Path) -> None:
    from registry_helpers import make_bundle

    from seawall.registry import Registry

    errors: list[str] = []
    sent: list[tuple[str, float, int]] = []
    versions: list[int] = []
    moves: list[int] = []
    reg = Registry(uri, artifacts=artifacts)
    run = reg.start_run(experiment="stress", name=f"worker-{worker}")
    bundle = make_bundle(out.parent / f"bundle-{worker}", seed=0)
    (bundle / "MODEL").write_text("shared model\n")  # the same bytes in every process
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        try:
            if i % 5 == 4:
                (bundle / "weights" / "w.bin").write_bytes(f"worker {worker} step {i}".encode())
                mv = reg.register_model("shared", bundle, run=run, tags={"worker": worker, "i": i})
                versions.append(mv.version)
                if i % 10 == 9:
                    reg.set_alias("shared", "champion", mv.version, reason=f"worker {worker}")
                    moves.append(mv.version)
            else:
                batch = [("loss", float(i), i), (f"w{worker}", float(worker), i)]
                run.log_batch(batch)
                sent.extend(batch)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        i += 1
    run.end()
    out.write_text(
        json.dumps(
            {
                "run_id": run.id,
                "metrics": len(sent),
                "last_loss_step": max((s for k, _, s in sent if k == "loss"), default=None),
                "versions": versions,
                "moves": moves,
                "errors": errors,
            }
        )
    )


def kill(uri: str, artifacts: str, hook: str, bundle: str) -> None:
    from seawall.registry import Registry
    from seawall.registry._store import HOOKS

    reg = Registry(uri, artifacts=artifacts)
    HOOKS[hook] = lambda: os.kill(os.getpid(), signal.SIGKILL)
    reg.register_model("crash", bundle, description="killed on the way")
    print("the hook did not fire", file=sys.stderr)
    sys.exit(3)


def open_at_once(uri: str, artifacts: str, go: str) -> None:
    from seawall.registry import Registry, _migrate

    _migrate.head_revision()  # load Alembic's scripts before the start
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    try:
        with Registry(uri, artifacts=artifacts) as reg:
            reg.list_models()
    except Exception as exc:
        print(f"{type(exc).__module__}.{type(exc).__name__}: {exc}", flush=True)
        sys.exit(1)
    print("ok", flush=True)


def start(uri: str, artifacts: str) -> None:
    from seawall.registry import Registry
    from seawall.registry._store import HOOKS

    reg = Registry(uri, artifacts=artifacts)
    HOOKS["run:started"] = lambda: os.kill(os.getpid(), signal.SIGKILL)
    reg.start_run(experiment="killed", name="doomed")
    print("the hook did not fire", file=sys.stderr)
    sys.exit(3)


def live(uri: str, artifacts: str) -> None:
    from seawall.registry import Registry

    reg = Registry(uri, artifacts=artifacts)
    run = reg.start_run(experiment="live")
    print(run.id, flush=True)
    sys.stdin.readline()
    run.log_metric("after", 1.0)
    run.end()
    print("ok", flush=True)


def upload(artifacts: str, file: str, mode: str) -> None:
    from seawall.registry._store import HOOKS, ArtifactStore

    store = ArtifactStore(artifacts)
    held = []

    def hold() -> None:
        if not held:
            held.append(True)
            print("writing", flush=True)
            sys.stdin.readline()

    HOOKS["store:writing"] = (
        (lambda: os.kill(os.getpid(), signal.SIGKILL)) if mode == "kill" else hold
    )
    print(store.put_file(file)[0], flush=True)


def gc(uri: str, artifacts: str, mode: str) -> None:
    from dataclasses import asdict

    from seawall.registry import Registry
    from seawall.registry._store import HOOKS

    reg = Registry(uri, artifacts=artifacts)
    if mode == "hold":
        held = []

        def hold() -> None:
            if not held:
                held.append(True)
                print("condemned", flush=True)
                sys.stdin.readline()

        HOOKS["gc:condemned"] = hold
    else:
        left = [int(mode.split(":")[1])]

        def count() -> None:
            if left[0] == 0:
                os.kill(os.getpid(), signal.SIGKILL)
            left[0] -= 1

        HOOKS["gc:removing"] = count
    print(json.dumps(asdict(reg.gc(min_age=0))), flush=True)


def pool_bytes(k: int) -> bytes:
    """The k-th content of the pool the gc concurrency tests share."""
    return f"pool object {k} ".encode() * (k % 7 + 1)


def gcwrite(
    uri: str, artifacts: str, seconds: float, worker: int, seed: int, pool: int, out: Path
) -> None:
    import numpy as np
    from registry_helpers import Constant

    from seawall.bundles import save_bundle

    rng = np.random.default_rng(seed)
    reg = _open(uri, artifacts)
    errors: list[str] = []
    runs: list[tuple[str, list[tuple[str, str]]]] = []  # (run id, [(name, sha256)]) kept
    versions: list[int] = []
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        i += 1
        try:
            if rng.random() < 0.75:
                with reg.start_run(experiment=f"w{worker}") as run:
                    logged = []
                    for j in range(int(rng.integers(1, 4))):
                        data = (
                            pool_bytes(int(rng.integers(pool)))
                            if rng.random() < 0.8
                            else rng.bytes(int(rng.integers(1, 200)))
                        )
                        logged.append((f"a{j}.bin", run.log_bytes(data, f"a{j}.bin").sha256))
                runs.append((run.id, logged))
                if len(runs) > 2:  # purge the oldest: its objects turn to garbage
                    old = runs.pop(0)[0]
                    reg.delete_run(old)
                    reg.purge_run(old)
            else:
                folder = out.parent / f"bundle-{worker}-{i}"
                save_bundle(folder, python_model=Constant(float(worker)), example=np.zeros((2, 3)))
                (folder / "pool.bin").write_bytes(pool_bytes(int(rng.integers(pool))))
                versions.append(reg.register_model(f"m{worker}", folder).version)
                if len(versions) > 2:
                    old_version = versions.pop(0)
                    reg.delete_model_version(f"m{worker}", old_version)
                    reg.purge_model_version(f"m{worker}", old_version)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    out.write_text(json.dumps({"runs": runs, "versions": versions, "errors": errors, "steps": i}))


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "stress":
        stress(args[0], args[1], float(args[2]), int(args[3]), Path(args[4]))
    elif mode == "kill":
        kill(*args)
    elif mode == "open":
        open_at_once(*args)
    elif mode == "start":
        start(*args)
    elif mode == "live":
        live(*args)
    elif mode == "upload":
        upload(*args)
    elif mode == "gc":
        gc(*args)
    elif mode == "gcwrite":
        gcwrite(
            args[0],
            args[1],
            float(args[2]),
            int(args[3]),
            int(args[4]),
            int(args[5]),
            Path(args[6]),
        )
    else:
        raise SystemExit(f"unknown mode {mode!r}")
