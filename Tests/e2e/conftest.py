import os
import subprocess
import tempfile

import pytest

# The C++ client writes its logs and broadcasting offsets under $HOME: keep them out of the real one.
os.environ["HOME"] = tempfile.mkdtemp(prefix="rmq-client-home-")

from harness import Cluster  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    c = Cluster().start()
    yield c
    c.stop()
    c.cleanup()


@pytest.fixture
def small_disk():
    """A real, size-limited filesystem (24 MiB tmpfs) for disk-full tests."""
    mount_point = tempfile.mkdtemp(prefix="rmq-tmpfs-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mount_point], check=True)
    yield mount_point
    subprocess.run(["umount", "-l", mount_point], check=False)
    os.rmdir(mount_point)


_counter = [0]


@pytest.fixture
def unique():
    """A fresh suffix for topic and group names, so tests never see each other's messages."""
    _counter[0] += 1
    return "%d_%d" % (os.getpid(), _counter[0])


_exit_status = [0]


def pytest_sessionfinish(session, exitstatus):
    _exit_status[0] = int(exitstatus)


def pytest_unconfigure(config):
    """Leave without running the stock client's destructors (see clients._KEEP_ALIVE): after
    pytest printed its summary, exit with its status."""
    import sys
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status[0])
