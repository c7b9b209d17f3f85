"""status.json has one writer discipline: every update_status is a read-modify-write under one lock."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from ftwizard.runs.directory import RunDirectory

WRITER = """
import sys
from ftwizard.runs.directory import RunDirectory
run = RunDirectory(sys.argv[1])
tag = sys.argv[2]
for i in range(int(sys.argv[3])):
    run.update_status(**{f"{tag}_{i}": i})
"""


def test_concurrent_writers_in_several_processes_lose_no_field(tmp_path):
    run = RunDirectory.create(tmp_path, "lock", 'name = "lock"\ntask = "viggo"\n')
    n = 150
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(run.path), tag, str(n)]) for tag in ("a", "b", "c")]
    for p in procs:
        assert p.wait(timeout=60) == 0
    status = run.status()
    missing = [f"{t}_{i}" for t in "abc" for i in range(n) if f"{t}_{i}" not in status]
    assert not missing, f"{len(missing)} updates lost, e.g. {missing[:3]}"


def test_a_cancel_during_a_long_read_modify_write_is_not_overwritten(tmp_path):
    """The hosted worker holds the lock around check-then-create; a cancel arriving meanwhile waits, then lands."""
    run = RunDirectory.create(tmp_path, "lock", 'name = "lock"\ntask = "viggo"\n')
    started = threading.Event()

    def cancel_from_another_process():
        started.wait(5)
        subprocess.run([sys.executable, "-c", "import sys; from ftwizard.runs.directory import RunDirectory; "
                        "RunDirectory(sys.argv[1]).update_status(cancel_requested=True)", str(run.path)],
                       check=True, timeout=60)

    t = threading.Thread(target=cancel_from_another_process)
    t.start()
    with run.status_lock():
        before = run.status()
        started.set()
        time.sleep(1.5)  # the other process is blocked on the lock now
        assert "cancel_requested" not in run.status()
        run.update_status(uploads={"train": "file-1"}, seen=sorted(before))  # re-entrant inside the lock
    t.join(60)
    status = run.status()
    assert status["cancel_requested"] is True and status["uploads"] == {"train": "file-1"}


def test_status_lock_is_reentrant_and_excludes_other_threads(tmp_path):
    run = RunDirectory.create(tmp_path, "lock", 'name = "lock"\ntask = "viggo"\n')
    order: list[str] = []

    def other():
        run.update_status(other=True)
        order.append("other")

    with run.status_lock():
        with run.status_lock():
            run.update_status(mine=1)
        t = threading.Thread(target=other)
        t.start()
        time.sleep(0.3)
        order.append("mine")
    t.join(10)
    assert order == ["mine", "other"]
    assert run.status()["other"] is True and run.status()["mine"] == 1
