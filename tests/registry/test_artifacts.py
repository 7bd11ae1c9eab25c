"""The content-addressed artifact store, locally and on S3 (moto's server on loopback): hashes
verified on every read, names that cannot leave the store, no symlinks, atomic writes, and
nothing stored ever lost or overwritten."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from registry_helpers import make_bundle

from seawall.errors import AlreadyExistsError, IntegrityError, InvalidInputError, NotFoundError
from seawall.registry import Registry
from seawall.registry._store import HOOKS, ArtifactStore


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 server on 127.0.0.1, with credentials and region given so that neither boto3
    nor pyarrow looks anywhere but loopback (no instance metadata lookups)."""
    pytest.importorskip("moto.server", reason="moto[server] is in the test extra")
    import boto3
    from moto.server import ThreadedMotoServer

    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"{host}:{port}"
    client = boto3.client("s3", endpoint_url=f"http://{endpoint}", region_name="us-east-1")
    try:
        yield endpoint, client
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _s3_uri(endpoint: str, bucket: str) -> str:
    return (
        f"s3://testing:testing@{bucket}/store?endpoint_override={endpoint}"
        "&scheme=http&region=us-east-1"
    )


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return ArtifactStore(tmp_path / "store")
    endpoint, client = request.getfixturevalue("s3_endpoint")
    bucket = f"b{abs(hash(tmp_path)) % 10**9}"
    client.create_bucket(Bucket=bucket)
    store = ArtifactStore(_s3_uri(endpoint, bucket))
    store.client, store.bucket = client, bucket  # for corrupting objects in the test
    return store


def _corrupt(store: ArtifactStore, sha: str, data: bytes) -> None:
    if store.is_local:
        path = store.local_path(sha)
        os.chmod(path, 0o644)
        path.write_bytes(data)
    else:
        key = f"store/objects/sha256/{sha[:2]}/{sha}"
        store.client.put_object(Bucket=store.bucket, Key=key, Body=data)


def test_objects_are_named_by_hash_and_verified(store, rng, tmp_path):
    data = rng.bytes(int(rng.integers(1, 3_000_000)))
    sha, size = store.put_bytes(data)
    assert sha == hashlib.sha256(data).hexdigest() and size == len(data)
    assert store.get_bytes(sha) == data
    source = tmp_path / "src.bin"
    source.write_bytes(data)
    assert store.put_file(source) == (sha, size)  # the same bytes, the same object
    dest = tmp_path / "out.bin"
    store.copy_to(sha, dest)
    assert dest.read_bytes() == data


def test_a_corrupted_object_is_never_returned(store, rng, tmp_path):
    data = rng.bytes(1000)
    sha, _ = store.put_bytes(data)
    flipped = bytearray(data)
    flipped[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
    _corrupt(store, sha, bytes(flipped))
    with pytest.raises(IntegrityError, match="corrupted"):
        store.get_bytes(sha)
    (tmp_path / "out").mkdir()
    dest = tmp_path / "out" / "out.bin"
    with pytest.raises(IntegrityError):
        store.copy_to(sha, dest)
    assert os.listdir(tmp_path / "out") == []  # nothing unverified left behind
    # Storing the same bytes again repairs the object instead of trusting the bad copy.
    store.put_bytes(data)
    assert store.get_bytes(sha) == data


def test_missing_object_is_not_found(store):
    with pytest.raises(NotFoundError):
        store.get_bytes("ab" * 32)
    with pytest.raises(InvalidInputError):
        store.get_bytes("../../etc/passwd")
    assert not store.exists("ab" * 32)
    with pytest.raises(InvalidInputError):
        store.exists("../../etc/passwd")


def test_exists_sees_objects_come_and_go(store, rng):
    sha, _ = store.put_bytes(rng.bytes(100))
    assert store.exists(sha)
    if store.is_local:
        store.local_path(sha).unlink()
    else:
        store.client.delete_object(Bucket=store.bucket, Key=f"store/objects/sha256/{sha[:2]}/{sha}")
    assert not store.exists(sha)


def test_local_objects_are_read_only_and_symlinks_refused(tmp_path):
    store = ArtifactStore(tmp_path / "store")
    sha, _ = store.put_bytes(b"payload")
    assert store.local_path(sha).stat().st_mode & 0o222 == 0
    # An object replaced by a symlink (to anything) is not followed.
    (tmp_path / "elsewhere").write_bytes(b"payload")
    store.local_path(sha).unlink()
    store.local_path(sha).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(IntegrityError, match="symlink"):
        store.get_bytes(sha)


BAD_NAMES = [
    "../escape.txt",
    "a/../../escape.txt",
    "/etc/passwd",
    "C:/windows",
    "a//b",
    "./a",
    "a/./b",
    "a\\..\\b",
    "",
    "nul\x00byte",
    "line\nbreak",
    "x" * 1025,
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_artifact_names_cannot_escape(reg, tmp_path, name):
    source = tmp_path / "f.txt"
    source.write_text("data")
    with reg.start_run() as run:
        with pytest.raises(InvalidInputError):
            run.log_artifact(source, name=name)
        with pytest.raises(InvalidInputError):
            run.log_bytes(b"x", name)
    assert reg.list_artifacts(run.id) == []


def test_symlinks_are_refused_when_logging(reg, tmp_path):
    target = tmp_path / "secret.txt"
    target.write_text("secret")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "ok.txt").write_text("ok")
    (folder / "link.txt").symlink_to(target)
    with reg.start_run() as run:
        with pytest.raises(InvalidInputError, match="symlink"):
            run.log_artifact(folder / "link.txt")
        with pytest.raises(InvalidInputError, match="symlink"):
            run.log_artifacts(folder)
        (folder / "link.txt").unlink()
        (folder / "sub").symlink_to(tmp_path, target_is_directory=True)
        with pytest.raises(InvalidInputError, match="symlink"):
            run.log_artifacts(folder)
    assert reg.list_artifacts(run.id) == []


def test_download_refuses_to_write_through_a_symlink(reg, tmp_path):
    with reg.start_run() as run:
        run.log_text("payload", "sub/file.txt")
    dest = tmp_path / "dest"
    dest.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (dest / "sub").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidInputError, match="symlink"):
        reg.download_artifacts(run.id, dest)
    assert list(outside.iterdir()) == []


def test_run_artifacts_are_write_once(reg, tmp_path, rng):
    folder = tmp_path / "plots"
    (folder / "deep").mkdir(parents=True)
    contents = {f"deep/p{i}.bin": rng.bytes(int(rng.integers(1, 5000))) for i in range(4)}
    contents["top.txt"] = b"top"
    for name, data in contents.items():
        (folder / name).write_bytes(data)
    with reg.start_run() as run:
        logged = run.log_artifacts(folder, prefix="plots")
        assert sorted(a.path for a in logged) == sorted(f"plots/{n}" for n in contents)
        run.log_artifact(folder / "top.txt", name="plots/top.txt")  # same bytes: a no-op
        with pytest.raises(AlreadyExistsError, match="write-once"):
            run.log_bytes(b"other bytes", "plots/top.txt")
        run.log_bytes(b"\x00binary", "raw.bin")
    for name, data in contents.items():
        assert reg.read_artifact(run.id, f"plots/{name}") == data
    assert reg.read_artifact(run.id, "raw.bin") == b"\x00binary"
    out = reg.download_artifacts(run.id, tmp_path / "out")
    for name, data in contents.items():
        assert (out / "plots" / name).read_bytes() == data
    with pytest.raises(NotFoundError):
        reg.read_artifact(run.id, "nope.txt")


def test_corrupted_run_artifact_raises_integrity_error(tmp_path, sqlite_uri):
    reg = Registry(sqlite_uri, artifacts=tmp_path / "artifacts")
    with reg.start_run() as run:
        art = run.log_text("the real content", "notes.txt")
    _corrupt(reg.artifacts, art.sha256, b"the fake content")
    with pytest.raises(IntegrityError):
        reg.read_artifact(run.id, "notes.txt")
    with pytest.raises(ValueError):  # the builtin it subclasses
        reg.download_artifacts(run.id, tmp_path / "dl")
    assert not (tmp_path / "dl" / "notes.txt").exists()


def test_a_write_interrupted_before_its_rename_loses_nothing(tmp_path, monkeypatch):
    """The bytes are complete under a temporary name until one rename; an error there leaves
    the old object (or none) and no temporary file."""
    store = ArtifactStore(tmp_path / "store")
    old_sha, _ = store.put_bytes(b"kept")

    def boom() -> None:
        raise OSError("disk vanished")

    monkeypatch.setitem(HOOKS, "store:before_rename", boom)
    with pytest.raises(OSError, match="vanished"):
        store.put_bytes(b"new bytes")
    assert list((tmp_path / "store" / "tmp").iterdir()) == []
    assert not store.exists_intact(hashlib.sha256(b"new bytes").hexdigest())
    assert store.get_bytes(old_sha) == b"kept"


def test_registry_on_s3(s3_endpoint, sqlite_uri, tmp_path):
    endpoint, client = s3_endpoint
    client.create_bucket(Bucket="registry-artifacts")
    reg = Registry(sqlite_uri, artifacts=_s3_uri(endpoint, "registry-artifacts"))
    bundle = make_bundle(tmp_path / "bundle", seed=4)
    (bundle / "w").mkdir(parents=True)
    (bundle / "w" / "weights.bin").write_bytes(b"\x01\x02" * 1000)
    with reg.start_run() as run:
        run.log_text("hello", "hello.txt")
    mv = reg.register_model("m", bundle, run=run)
    assert reg.read_artifact(run.id, "hello.txt") == b"hello"
    path = reg.bundle_path(mv.uri)
    assert (path / "w" / "weights.bin").read_bytes() == b"\x01\x02" * 1000
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="registry-artifacts")["Contents"]]
    assert all(k.startswith("store/objects/sha256/") or k.startswith("store/tmp") for k in keys)


def test_unusable_store_uri(tmp_path):
    with pytest.raises(InvalidInputError):
        ArtifactStore("nosuchscheme://bucket/x")
    assert ArtifactStore(f"file://{tmp_path}/s").is_local
    assert Path(ArtifactStore(tmp_path / "s2").uri) == tmp_path / "s2"


def test_stale_temporaries_on_s3_are_removed_by_age(s3_endpoint, rng):
    """On S3 a temporary object exists only between the end of its upload and its move into
    place: one left by a killed process is removed once older than the limit, a recent one is
    kept, and stored objects are never touched."""
    endpoint, client = s3_endpoint
    client.create_bucket(Bucket="stale")
    store = ArtifactStore(_s3_uri(endpoint, "stale"))
    data = rng.bytes(int(rng.integers(1, 5000)))
    sha, _ = store.put_bytes(data)
    client.put_object(Bucket="stale", Key="store/tmp/" + "ab" * 16, Body=b"left by a kill")

    def keys():  # objects, without the empty folder markers pyarrow keeps
        listed = client.list_objects_v2(Bucket="stale")["Contents"]
        return sorted(o["Key"] for o in listed if not o["Key"].endswith("/"))

    assert store.clean_temporaries() == []  # a minute old at most: kept
    assert "store/tmp/" + "ab" * 16 in keys()
    assert store.clean_temporaries(older_than=0) == ["ab" * 16]
    assert keys() == [f"store/objects/sha256/{sha[:2]}/{sha}"]
    assert store.get_bytes(sha) == data
