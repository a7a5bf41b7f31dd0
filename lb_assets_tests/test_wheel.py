"""The package installed from its wheel (not the repository) validates and runs the demo outside the repo."""

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEADLINE = 900  # building and running the demo on a busy 2-core machine


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=DEADLINE)
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


@pytest.mark.timeout(1200)
def test_wheel_installs_and_runs_outside_the_repository(tmp_path: Path) -> None:
    dist, venv, work, src = tmp_path / "dist", tmp_path / "venv", tmp_path / "elsewhere", tmp_path / "src"
    work.mkdir()
    # build from a clean copy of the sources (an in-tree build would leave build/ in the repository)
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info",
                                                             "__pycache__", "demo_output", ".lb_assets_data"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(src)], cwd=tmp_path)
    [wheel] = list(dist.glob("lb_assets-*.whl"))
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=work).strip())
    # the dependencies come from the test environment (a plain path: its editable lb_assets hook is not loaded)
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site), str(wheel)], cwd=work)

    where = _run([str(python), "-c", "import lb_assets; print(lb_assets.__file__)"], cwd=work).strip()
    assert where.startswith(str(site)), where  # the wheel's copy, not the repository's
    out = _run([str(python), "-m", "dagster", "definitions", "validate", "-m", "lb_assets.definitions"], cwd=work)
    assert "Validation successful" in out
    demo = _run([str(python), "-c", "from lb_assets.cli import main; raise SystemExit(main(['demo', '--no-progress']))"],
                cwd=work)
    assert (work / "demo_output").is_dir() and "frame_dataset" in demo
