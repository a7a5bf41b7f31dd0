"""Write-audit-publish: nothing reaches the published branch unless the staged commit is read back and checked."""

import dataclasses
import os
import subprocess
import uuid
from pathlib import Path

import deeplake
import numpy as np
import pytest

from lb_assets.errors import StorageWriteError, UnverifiedWriteError
from lb_assets.store import health
from lb_assets.store.atomic import META_KEY, read_meta
from lb_assets.store.publish import STAGE_PREFIX, Stage
from lb_assets.store.verify import verify_media, verify_rows


def _dataset(path: str, keys: list[str]) -> deeplake.Dataset:
    ds = deeplake.create(path)
    ds.add_column("row_key", deeplake.types.Text())
    ds.add_column("frames", deeplake.types.Image(sample_compression="jpeg"))
    ds.append({"row_key": keys, "frames": [np.full((8, 8, 3), 90, np.uint8)] * len(keys)})
    ds.commit("base")
    ds.metadata[META_KEY] = {"project_id": "p", "sources": ["a"]}
    return ds


def _append(ds: deeplake.Dataset, keys: list[str], size: int = 8) -> None:
    rng = np.random.default_rng(0)
    ds.append({"row_key": keys, "frames": [rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for _ in keys]})


def test_publish_merges_the_checked_stage_and_cleans_up(tmp_path: Path) -> None:
    path = str(tmp_path / "frames")
    main = _dataset(path, ["a:1", "a:2"])
    old = Stage.open(main, path, "old-run")  # a stage of an older main: not resumable, deleted on publish
    _append(old.ds, ["x:1"])
    old.ds.commit("old stage")
    main.append({"row_key": ["a:3"], "frames": [np.zeros((8, 8, 3), np.uint8)]})
    main.commit("main moved on")
    stage = Stage.open(main, path, "run-1")
    assert stage.name == f"{STAGE_PREFIX}main-run-1" and len(stage.ds) == 3 and not stage.resumed
    _append(stage.ds, ["b:1", "b:2"])
    stage.ds.metadata[stage.meta_key] = {"project_id": "p", "sources": ["a", "b"]}
    stage.ds.commit("stage")
    assert read_meta(deeplake.open_read_only(path)) == {"project_id": "p", "sources": ["a"]}  # not yet published
    checked, version = stage.publish(
        "publish",
        check=lambda ds: Verdict(len(ds) == 5),
        audits=(lambda ds: verify_media(ds, "frames", 3, len(ds), "stage"),),
    )
    fresh = deeplake.open_read_only(path)
    assert checked == Verdict(True) and fresh.version == version
    assert list(fresh["row_key"][:]) == ["a:1", "a:2", "a:3", "b:1", "b:2"]
    assert read_meta(fresh) == {"project_id": "p", "sources": ["a", "b"]}  # the stage's meta, published with it
    assert read_meta(fresh, stage.meta_key) is None  # the stage key is cleared
    assert sorted(fresh.branches.names()) == ["main"]  # both stages deleted


@dataclasses.dataclass(frozen=True)
class Verdict:
    passed: bool


def test_failed_check_keeps_main_and_a_rejected_stage_that_is_never_resumed(tmp_path: Path) -> None:
    path = str(tmp_path / "frames")
    main = _dataset(path, ["a:1"])
    stage = Stage.open(main, path, "run-1")
    _append(stage.ds, ["b:1"])
    stage.ds.commit("stage")
    checked, version = stage.publish("publish", check=lambda ds: Verdict(False))
    fresh = deeplake.open_read_only(path)
    assert checked == Verdict(False) and version == fresh.version and list(fresh["row_key"][:]) == ["a:1"]
    assert stage.name == "rejected-main-run-1" and stage.name in fresh.branches.names()
    again = Stage.open(deeplake.open(path), path, "run-2")
    assert not again.resumed and len(again.ds) == 1


def test_a_dead_attempt_is_resumed_after_its_last_commit(tmp_path: Path) -> None:
    path = str(tmp_path / "frames")
    main = _dataset(path, ["a:1"])
    first = Stage.open(main, path, "run-1")
    _append(first.ds, ["b:1"])
    first.ds.metadata[first.meta_key] = {"project_id": "p", "sources": ["a", "b"]}
    first.ds.commit("shard 1")
    _append(first.ds, ["c:1"])  # never committed: the attempt died here
    del first
    reopened = deeplake.open(path)
    second = Stage.open(reopened, path, "run-2")
    assert second.resumed and second.name == "stage-main-run-2" and list(second.ds["row_key"][:]) == ["a:1", "b:1"]
    assert read_meta(second.ds, second.meta_key) == {"project_id": "p", "sources": ["a", "b"]}
    assert sorted(reopened.branches.names()) == ["main", "stage-main-run-2"]


def test_failed_audit_leaves_main_untouched_and_keeps_the_stage(tmp_path: Path) -> None:
    path = str(tmp_path / "frames")
    main = _dataset(path, ["a:1"])
    before_version, before_meta = main.version, read_meta(main)
    stage = Stage.open(main, path, "run-2")
    _append(stage.ds, ["a:1"])  # a duplicate row key: the staged write must not be published
    stage.ds.metadata[META_KEY] = {"project_id": "p", "sources": ["a", "b"]}
    stage.ds.commit("stage")
    with pytest.raises(UnverifiedWriteError, match="duplicate row keys"):
        stage.publish("publish", check=lambda ds: Verdict(True))
    fresh = deeplake.open_read_only(path)
    assert fresh.version == before_version and list(fresh["row_key"][:]) == ["a:1"]
    assert read_meta(fresh) == before_meta  # shared metadata restored
    assert stage.name in fresh.branches.names()  # kept for inspection


def test_empty_keys_are_refused_before_the_commit(tmp_path: Path) -> None:
    ds = _dataset(str(tmp_path / "d"), ["a:1"])
    ds.append({"row_key": ["None"], "frames": [np.zeros((8, 8, 3), np.uint8)]})
    with pytest.raises(UnverifiedWriteError, match="row 1 has an empty row_key"):
        verify_rows(ds, 2, "frame dataset")
    with pytest.raises(UnverifiedWriteError, match="1 rows where 3 were expected"):
        verify_rows(_dataset(str(tmp_path / "e"), ["x:1"]), 3, "frame dataset")


def test_emptied_version_log_of_the_published_branch_is_reported(tmp_path: Path) -> None:
    path = str(tmp_path / "frames")
    main = _dataset(path, ["a:1"])
    counter = tmp_path / "frames" / "_deeplake_log" / str(main.branches["main"].id) / "next_base"
    counter.write_bytes(b"")  # what a full disk left behind
    with pytest.raises(StorageWriteError, match=r"version log .*next_base was left empty.*repair: true"):
        Stage.open(main, path, "run-3")


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    """A real 20 MiB tmpfs (needs root, as CI has); skipped where mounting is not allowed."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(directory: Path, leave_bytes: int) -> Path:
    ballast = directory / f"ballast-{uuid.uuid4().hex}"
    free = os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize
    with open(ballast, "wb") as fh:
        fh.write(b"\0" * max(0, free - leave_bytes))
    return ballast


def test_full_disk_during_the_staged_commit_is_caught_and_main_stays_readable(
    small_tmpfs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(health.MIN_FREE_ENV, "1")  # let the commit run into the full disk
    path = str(small_tmpfs / "frames")
    main = _dataset(path, ["a:1", "a:2"])
    before = main.version
    ballast = _fill(small_tmpfs, 2 * 2**20)  # 2 MiB left; the stage needs ~6 MiB of incompressible frames
    stage = Stage.open(main, path, "run-full")
    _append(stage.ds, [f"b:{i}" for i in range(1, 41)], size=224)
    with pytest.raises(StorageWriteError) as caught:
        with health.storage_errors(path):
            stage.ds.commit("stage")  # Deep Lake may or may not raise here; the publish must notice either way
            stage.publish("publish", check=lambda ds: Verdict(True),
                          audits=(lambda ds: verify_media(ds, "frames", 2, len(ds), "stage"),))
    assert path in str(caught.value) or "staging branch" in str(caught.value)
    ballast.unlink()
    fresh = deeplake.open_read_only(path)
    assert fresh.version == before and list(fresh["row_key"][:]) == ["a:1", "a:2"]
    # with space back, a new run stages and publishes over the untouched main
    again = Stage.open(deeplake.open(path), path, "run-after")
    _append(again.ds, ["c:1"])
    again.ds.commit("stage")
    again.publish("publish", check=lambda ds: Verdict(True))
    published = deeplake.open_read_only(path)
    assert list(published["row_key"][:]) == ["a:1", "a:2", "c:1"]


def test_storage_errors_name_the_dataset_and_hide_secrets() -> None:
    with pytest.raises(StorageWriteError, match=r"s3://bucket/frames\?<redacted> failed: .*No space left.*token <redacted>"):
        with health.storage_errors("s3://bucket/frames?sig=abc", secrets=("tok-123",)):
            raise OSError(28, "No space left on device (token tok-123)")
    with pytest.raises(ValueError):  # anything else passes through unchanged
        with health.storage_errors("/x"):
            raise ValueError("not a storage problem")


def test_a_published_branch_that_moved_is_merged_in_and_checked_again(tmp_path: Path) -> None:
    path = str(tmp_path / "frames")
    main = _dataset(path, ["a:1"])
    stage = Stage.open(main, path, "run-1")
    _append(stage.ds, ["b:1"])
    stage.ds.commit("stage")
    other = deeplake.open(path)  # another writer moved main after the stage was branched
    other.append({"row_key": ["c:1"], "frames": [np.zeros((8, 8, 3), np.uint8)]})
    other.commit("moved")
    seen: list[list[str]] = []

    def check(ds: deeplake.Dataset) -> Verdict:
        seen.append([str(k) for k in ds["row_key"][:]])
        return Verdict(len(set(seen[-1])) == len(seen[-1]))

    checked, _ = stage.publish("publish", check=check)
    assert checked == Verdict(True)
    assert sorted(seen[0]) == ["a:1", "b:1", "c:1"]  # the check saw the stage with main's new row merged in
    published = deeplake.open_read_only(path)
    assert sorted(str(k) for k in published["row_key"][:]) == ["a:1", "b:1", "c:1"]
