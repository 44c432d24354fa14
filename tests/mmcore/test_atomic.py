"""An interrupted write leaves the old file untouched and no temporary files behind; special files and symlink
targets are written, never replaced; stale temporary files of killed runs are removed, nothing else."""

import os
import signal
import stat
import subprocess
import sys
import threading
import time

import h5py
import numpy as np
import pytest
import torch

from mmcore.atomic import (
    OutputKind,
    atomic_output,
    atomic_write_text,
    new_temporary_sibling,
    output_target,
    remove_stale_temporaries,
)


def test_replaces_content(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second")
    assert target.read_text() == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_failure_keeps_old_file_and_cleans_up(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as temporary:
            temporary.write_text("half a fi")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_creates_missing_directories(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    atomic_write_text(target, "x")
    assert target.read_text() == "x"


def test_written_file_gets_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        target = tmp_path / "out.txt"
        atomic_write_text(target, "x")
        assert target.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(umask)


# ----- special files, symlinks, standard output: written in place, never replaced -----


def test_fifo_is_written_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    atomic_write_text(fifo, "through the pipe")
    reader.join(timeout=10)
    assert received == [b"through the pipe"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_h5py_output_through_a_fifo(tmp_path):
    """Writers that seek (HDF5) still work on a pipe: the content is finished first, then copied in."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    with atomic_output(fifo) as temporary, h5py.File(temporary, "w") as handle:
        handle["x"] = np.arange(3)
    reader.join(timeout=10)
    assert received[0].startswith(b"\x89HDF")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can replace /dev/null, so only root shows the bug")
@pytest.mark.parametrize("device", ["/dev/null", "/dev/full"])
def test_character_devices_stay_devices(device):
    before = os.stat(device)
    if device == "/dev/full":
        with pytest.raises(OSError):  # ENOSPC, as for `echo x > /dev/full`
            atomic_write_text(device, "x")
    else:
        atomic_write_text(device, "discarded")
    after = os.stat(device)
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)
    assert not [name for name in os.listdir("/dev") if name.startswith(f".{os.path.basename(device)}.")]


def test_dev_null_is_a_direct_target():
    assert output_target("/dev/null").kind is OutputKind.DIRECT
    assert output_target("-").kind is OutputKind.STDOUT


def test_symlink_is_written_through_and_kept(tmp_path):
    target = tmp_path / "real.tsv"
    target.write_text("old")
    link = tmp_path / "link.tsv"
    link.symlink_to(target)
    atomic_write_text(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.tsv", "real.tsv"]


def test_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.tsv"
    link.symlink_to(tmp_path / "made.tsv")
    atomic_write_text(link, "new")
    assert link.is_symlink() and (tmp_path / "made.tsv").read_text() == "new"


def test_directory_target_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError, match=str(tmp_path)):
        atomic_write_text(tmp_path, "x")


def test_stdout(capfd):
    atomic_write_text("-", "to stdout\n")
    assert capfd.readouterr().out == "to stdout\n"


def test_a_writer_that_recreates_the_temporary_file_still_gets_ordinary_permissions(tmp_path):
    """safetensors' save_file replaces the file it is given; the model file must not end up owner-only."""
    from safetensors.torch import save_file

    umask = os.umask(0o022)
    try:
        target = tmp_path / "weights.safetensors"
        with atomic_output(target) as temporary:
            save_file({"w": torch.zeros(2)}, str(temporary))
        assert target.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(umask)


def test_replacing_keeps_the_file_mode(tmp_path):
    target = tmp_path / "private.txt"
    target.write_text("old")
    target.chmod(0o600)
    atomic_write_text(target, "new")
    assert target.stat().st_mode & 0o777 == 0o600


def test_keyboard_interrupt_removes_the_temporary_file(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(target) as temporary:
            temporary.write_text("half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


# ----- stale temporary files of killed runs -----
def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid  # reaped: no process has this pid now (reuse within the test is vanishingly unlikely)


def test_temporary_name_carries_the_pid(tmp_path):
    temporary = new_temporary_sibling(tmp_path / "out.tsv")
    assert temporary.name.startswith(f".out.tsv.{os.getpid()}@")
    assert temporary.name.endswith(".tmp")


def test_stale_temporary_of_a_dead_process_is_removed_and_foreign_files_kept(tmp_path):
    target = tmp_path / "out.tsv"
    ours = new_temporary_sibling(target)
    stale = ours.with_name(ours.name.replace(f".{os.getpid()}@", f".{_dead_pid()}@"))
    ours.rename(stale)
    alive = new_temporary_sibling(target)  # this process is alive: its file stays
    foreign = [
        tmp_path / ".out.tsv.notes.tmp",  # similar, not our pattern
        tmp_path / ".other.tsv.123@abcdef.abcdefgh.tmp",  # our pattern for another target
        tmp_path / "out.tsv.abcdefgh.tmp",  # the cache's old pattern, not asked for here
        tmp_path / ".out.tsv.abcdefgh.tmp",  # an old-style name, but recent
    ]
    for path in foreign:
        path.write_text("keep me")
    atomic_write_text(target, "new")
    assert not stale.exists()
    assert alive.exists()
    assert all(path.read_text() == "keep me" for path in foreign)
    assert target.read_text() == "new"


def test_old_temporaries_are_removed_after_the_age_limit(tmp_path):
    target = tmp_path / "cache.h5"
    old_hidden = tmp_path / ".cache.h5.abcdefgh.tmp"
    old_unhidden = tmp_path / "cache.h5.ijklmnop.tmp"
    other_host = tmp_path / f".cache.h5.{os.getpid() + 1}@000000.qrstuvwx.tmp"
    for path in (old_hidden, old_unhidden, other_host):
        path.write_text("left by a killed run")
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    removed = remove_stale_temporaries(target, include_unhidden_legacy=True)
    assert sorted(removed) == sorted([old_hidden, old_unhidden, other_host])


def test_sigterm_removes_the_temporary_file(tmp_path):
    """A stopped job (SIGTERM) unwinds like Ctrl-C: the temporary file goes, the old output stays."""
    target = tmp_path / "out.txt"
    target.write_text("old")
    script = (
        "import sys, time\n"
        "from mmcore.atomic import atomic_output\n"
        "from mmcore.interrupts import raise_on_sigterm\n"
        "raise_on_sigterm()\n"
        f"with atomic_output({str(target)!r}) as temporary:\n"
        "    temporary.write_text('half')\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "writing\n"
    assert len(list(tmp_path.iterdir())) == 2
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 128 + signal.SIGTERM
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    assert target.read_text() == "old"
