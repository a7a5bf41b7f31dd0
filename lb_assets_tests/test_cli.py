"""The lb-assets CLI, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lb_assets.cli import main
from lb_assets_tests.labelbox.helpers import seed_project


@pytest.mark.parametrize("command", [[], ["sandbox"], ["export"], ["overview"], ["demo"], ["dev"]])
def test_help_of_each_command(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: lb-assets") and (not command or command[0] in out)


def test_export_command(lb_sandbox_env, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    pid, ids = seed_project(lb_sandbox_env, 4)
    out = tmp_path / "export.ndjson"
    assert main(["export", "--project-id", pid, "--out", str(out), "--workflow-status", "DONE"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["data_rows"] == 1 and summary["path"] == str(out)
    assert [json.loads(line)["data_row"]["id"] for line in out.read_text().splitlines()] == [ids[0]]
    assert main(["export", "--project-id", pid, "--out", str(out), "--global-key", "gk-00001",
                 "--global-key", "gk-00002"]) == 0
    assert json.loads(capsys.readouterr().out)["data_rows"] == 2


def test_overview_command(lb_sandbox_env, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    pid, _ = seed_project(lb_sandbox_env, 4)
    assert main(["overview", "--project-id", pid, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 4
    assert main(["overview", "--project-id", pid]) == 0
    assert "to_label" in capsys.readouterr().out


def test_errors_exit_1_without_the_key(lb_sandbox_env, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    pid, _ = seed_project(lb_sandbox_env, 1)
    key = "wrong-key-7777777"
    assert main(["overview", "--project-id", pid, "--api-key", key]) == 1
    err = capsys.readouterr().err
    assert "rejected" in err and key not in err
    assert main(["export", "--project-id", "missing", "--out", str(tmp_path / "x.ndjson")]) == 1
    assert "missing" in capsys.readouterr().err


def test_missing_key(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("LABELBOX_API_KEY", raising=False)
    assert main(["overview", "--project-id", "p"]) == 1
    assert "LABELBOX_API_KEY" in capsys.readouterr().err


def test_demo_dispatches_to_demo_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import lb_assets.cli_demo as demo_run

    seen: dict[str, object] = {}

    def fake_demo(ns: object) -> int:
        seen["demo"] = getattr(ns, "output")
        return 0

    def fake_dev(ns: object) -> int:
        seen["dev"] = getattr(ns, "advance_every")
        return 3

    monkeypatch.setattr(demo_run, "run_demo", fake_demo)
    monkeypatch.setattr(demo_run, "run_dev", fake_dev)
    assert main(["demo", "--output", "out"]) == 0
    assert main(["dev", "--advance-every", "5"]) == 3
    assert seen == {"demo": "out", "dev": 5.0}
