"""One-writer leases on a real S3-compatible server (moto on loopback): contention, renewal, takeover, errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from lb_assets.errors import LeaseHeldError, StorageWriteError
from lb_assets.store import lease
from lb_assets.store.objects import S3Creds, S3Objects
from lb_assets_tests.infra.helpers import free_port
from lb_assets_tests.infra.objectstore.helpers import SECRET_KEY, MotoS3
from lb_assets_tests.polling import wait_for

pytestmark = pytest.mark.infra

DEADLINE = 60.0  # seconds; generous, polled


def _location(s3: MotoS3) -> S3Objects:
    return S3Objects.at(f"s3://{s3.bucket}/{s3.new_prefix()}/project-1/_leases")


def test_second_writer_waits_then_fails_naming_the_holder_while_renewals_keep_it(s3_env: MotoS3) -> None:
    where = _location(s3_env)
    with lease.hold(where, "frames@main", owner="run-a", ttl_seconds=3) as held:
        assert held.owner == "run-a" and lease.current_holder(where, "frames@main").owner == "run-a"
        started = time.monotonic()
        with pytest.raises(LeaseHeldError, match=r"frames@main .* run run-a \(pid \d+ on") as raised:
            with lease.hold(where, "frames@main", owner="run-b", wait_seconds=5, ttl_seconds=3):
                pytest.fail("run-b took a lease run-a holds")
        assert time.monotonic() - started >= 5  # waited longer than the ttl: the heartbeat renewed run-a's lease
        assert where.url().rsplit("/", 1)[0] in str(raised.value)
        assert lease.current_holder(where, "frames@main").owner == "run-a"
    assert not where.exists("frames@main.json")  # released: deleted
    assert lease.current_holder(where, "frames@main") is None


def test_waiting_writer_gets_the_lease_when_the_holder_releases(s3_env: MotoS3) -> None:
    where = _location(s3_env)
    taken = threading.Event()

    def first() -> None:
        with lease.hold(where, "export", owner="run-a"):
            taken.set()
            time.sleep(2)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert taken.wait(DEADLINE)
        with lease.hold(where, "export", owner="run-b", wait_seconds=DEADLINE) as held:
            assert held.owner == "run-b" and lease.current_holder(where, "export").owner == "run-b"
    finally:
        thread.join(DEADLINE)


def test_killed_holder_lease_expires_and_one_taker_wins(s3_env: MotoS3) -> None:
    where = _location(s3_env)
    script = ("import sys, time\nfrom lb_assets.store import lease\n"
              f"with lease.hold({where.url()!r}, 'annotations@main', owner='doomed', ttl_seconds=2):\n"
              "    print('held', flush=True)\n    time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=dict(os.environ))
    try:
        assert proc.stdout.readline().strip() == b"held"
        assert lease.current_holder(where, "annotations@main").owner == "doomed"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(DEADLINE)
    wait_for(lambda: lease.current_holder(where, "annotations@main") is None, DEADLINE,
             "the killed holder's lease to expire", interval=0.1)

    winners: list[str] = []
    losers: list[LeaseHeldError] = []
    go = threading.Barrier(2)

    def take(owner: str) -> None:
        go.wait()
        try:
            with lease.hold(where, "annotations@main", owner=owner, wait_seconds=1, ttl_seconds=30):
                winners.append(owner)
                time.sleep(3)
        except LeaseHeldError as exc:
            losers.append(exc)

    threads = [threading.Thread(target=take, args=(f"taker-{n}",)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    assert len(winners) == 1 and len(losers) == 1
    assert f"run {winners[0]} " in str(losers[0])


def test_unreachable_endpoint_names_the_lease_not_the_secret(s3_env: MotoS3) -> None:
    where = S3Objects(s3_env.bucket, "p/project-1/_leases",
                      S3Creds(secret_access_key=SECRET_KEY, endpoint_url=f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(StorageWriteError) as raised:
        with lease.hold(where, "frames@main", owner="run-a", wait_seconds=0):
            pytest.fail("took a lease on an unreachable endpoint")
    text = str(raised.value)
    assert f"s3://{s3_env.bucket}/p/project-1/_leases/frames@main.json" in text and "cannot reach" in text
    assert SECRET_KEY not in text
