"""Atomicity (failure midway leaves the last commit; re-run does not duplicate) and D4 credentials."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import deeplake
import pytest

from lb_assets.errors import ConfigError, MediaError
from lb_assets.store import datasets
from lb_assets.store.annotations import apply_annotations
from lb_assets.store.datasets import open_or_create
from lb_assets.store.frames import build_frame_dataset
from lb_assets.store.row_keys import read_row_keys
from lb_assets_tests.store import helpers as h


def test_failure_midway_keeps_previous_commit_and_rerun_does_not_duplicate(tmp_path: Path, monkeypatch) -> None:
    media = tmp_path / "media"
    media.mkdir()
    infos = [h.info(f"dr-{i}", h.write_video(media / f"{i}.mp4", 3), frame_count=3, index=i) for i in range(3)]
    path = str(tmp_path / "frames")
    ds = open_or_create(path)
    build_frame_dataset(ds, infos[:1], h.fetcher(media))
    committed = ds.version
    fetcher = h.fetcher(media)
    real_open = fetcher.open_url
    calls = {"n": 0}

    def failing_open(row_data: str):  # the third video fails after the second was appended
        calls["n"] += 1
        if calls["n"] == 2:
            raise MediaError("injected failure")
        return real_open(row_data)

    monkeypatch.setattr(fetcher, "open_url", failing_open)
    with pytest.raises(MediaError, match="injected failure"):
        build_frame_dataset(ds, infos, fetcher)
    assert ds.version == committed and len(ds) == 3
    ds.commit("a caller's commit after the failure publishes nothing half-written")
    assert len(open_or_create(path)) == 3
    result = build_frame_dataset(open_or_create(path), infos, h.fetcher(media))
    assert result.data_rows_added == 2
    again = open_or_create(path)
    keys = read_row_keys(again)
    assert len(keys) == len(set(keys)) == 9


def test_annotation_failure_rolls_back_columns(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    info = h.info("dr-a", h.write_video(media / "a.mp4", 2), frame_count=2)
    ds = open_or_create(str(tmp_path / "frames"))
    build_frame_dataset(ds, [info], h.fetcher(media))
    before = ds.version

    def rows():
        yield h.converted(info, {"car": {0: h.box(1, 1, 1, 1)}})
        raise RuntimeError("converter crashed")

    with pytest.raises(RuntimeError, match="converter crashed"):
        apply_annotations(ds, rows(), h.plan(car="bbox"), commit_message="never")
    assert ds.version == before and "car" not in [c.name for c in ds.schema.columns]


def test_uncommitted_writes_do_not_survive_a_dead_process(tmp_path: Path) -> None:
    path = str(tmp_path / "ds")
    script = (
        "import os, deeplake\n"
        f"ds = deeplake.create({path!r}); ds.add_column('k', deeplake.types.Text())\n"
        "ds.append({'k': ['a']}); ds.commit('one row')\n"
        "ds.append({'k': ['b']}); os._exit(1)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=False)
    reopened = deeplake.open(path)
    assert len(reopened) == 1 and list(reopened["k"][0:1]) == ["a"]


def test_creds_token_and_org_id_are_real_arguments_d4(monkeypatch: pytest.MonkeyPatch, mem_url) -> None:
    seen: list[tuple] = []
    import os

    def fake_create(url, creds=None, token=None):  # deeplake 4.7.4's signature (no org_id)
        seen.append(("create", url, creds, token, os.environ.get(datasets.ORG_ENV)))
        return "dataset"

    monkeypatch.setattr(datasets.deeplake, "create", fake_create)
    monkeypatch.setattr(datasets.deeplake, "exists", lambda url, creds=None, token=None: False)
    monkeypatch.delenv(datasets.ORG_ENV, raising=False)
    creds = {"aws_access_key_id": "AKIA", "aws_secret_access_key": "secret"}
    assert open_or_create("s3://bucket/ds", creds=creds, token="tok", org_id="org-1") == "dataset"
    assert seen == [("create", "s3://bucket/ds", creds, "tok", "org-1")]  # creds not nested with org_id
    assert datasets.ORG_ENV not in __import__("os").environ


def test_overwrite_and_bad_creds(mem_url) -> None:
    url = mem_url()
    ds = open_or_create(url)
    ds.add_column("k", deeplake.types.Text())
    ds.commit("x")
    assert [c.name for c in open_or_create(url).schema.columns] == ["k"]
    assert [c.name for c in open_or_create(url, overwrite=True).schema.columns] == []
    with pytest.raises(ConfigError, match="dict of strings"):
        open_or_create(url, creds={"creds": {"nested": "dict"}})


def test_atomic_removes_a_labelbox_meta_added_by_the_failed_block(tmp_path) -> None:
    """Dataset metadata is saved at once (not at the commit): a key first set in a failed block is removed."""
    import deeplake

    from lb_assets.store.atomic import atomic

    path = str(tmp_path / "fresh")
    ds = deeplake.create(path)
    with pytest.raises(RuntimeError):
        with atomic(ds, "first build"):
            ds.metadata["labelbox_meta"] = {"project_id": "p", "sources": ["a.mp4"]}
            raise RuntimeError("boom")
    assert "labelbox_meta" not in list(deeplake.open(path).metadata.keys())
