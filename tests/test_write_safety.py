"""In-place writes are atomic: killed (SIGKILL) at any stage or failing, the original stays byte-identical
(or, once renamed, the new file is complete)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import nwb_sae
from nwb_sae import synthetic
from nwb_sae.errors import NwbSaeError
from nwb_sae.io.recording.nwb import open_activity
from nwb_sae.io.results.read import read_results
from nwb_sae.io.results.write import results_from_model, write_nwb, write_results
from nwb_sae.io.safe_write import PAUSE_AT, PAUSE_FIFO, STAGES, remove_stale_temps, staged_file

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

WINDOW = (-0.2, 0.8)
BLOCK = 4096


def sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def temps(folder) -> list:
    return sorted(p.name for p in folder.iterdir() if ".nwb-sae-" in p.name)


@pytest.fixture(scope="module")
def long_recording(tmp_path_factory):
    """A synthetic ophys file long enough (40k samples) for the codes to take ten blocks."""
    folder = tmp_path_factory.mktemp("safety")
    rec = synthetic.make_recording(n_neurons=16, n_atoms=24, n_time=20, n_presentations=2000, seed=5)
    path = synthetic.write_nwb_recording(folder / "pristine.nwb", rec, kind="ophys")
    data = nwb_sae.read_nwb(path, presentations="trials", window=WINDOW).isel(presentations=slice(0, 200))
    sae = nwb_sae.SAE(n_latents=32, k=4, epochs=1, progress=False, device="cpu").fit(data)
    return path, sae


@pytest.fixture()
def original(long_recording, tmp_path):
    """A writable copy of the recording, the file written in place."""
    path = tmp_path / "session.nwb"
    shutil.copyfile(long_recording[0], path)
    return path


def test_in_place_success(original, long_recording):
    sae = long_recording[1]
    os.chmod(original, 0o640)
    before = sha256(original)
    assert write_nwb(sae, original, in_place=True, block_rows=BLOCK) == original.resolve()
    assert sha256(original) != before
    assert stat.S_IMODE(original.stat().st_mode) == 0o640
    assert temps(original.parent) == []
    res = read_results(original, lazy=False)
    assert res.codes.shape == (40000, 32)
    assert nwb_sae.read_nwb(original, presentations="trials", window=WINDOW).shape == (16, 20, 2000)


def test_read_only_file_is_refused(original, long_recording):
    os.chmod(original, 0o444)
    before = sha256(original)
    with pytest.raises(NwbSaeError, match="read-only"):
        write_nwb(long_recording[1], original, in_place=True)
    assert sha256(original) == before


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt])
def test_failure_mid_write_leaves_original_and_no_temporary(original, long_recording, error):
    before = sha256(original)
    with open_activity(original) as source:
        results = results_from_model(long_recording[1], source, block_rows=BLOCK)
        read = results.codes.read

        def failing_read(start, stop):
            if start >= 3 * BLOCK:
                raise error("disk pulled out")
            return read(start, stop)

        results.codes.read = failing_read
        with pytest.raises(error):
            write_results(original, results, in_place=True)
    assert sha256(original) == before
    assert temps(original.parent) == []


def test_staged_file_creates_replaces_or_leaves_alone(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"source")
    dest = tmp_path / "dest.bin"
    with staged_file(src, dest) as tmp:
        assert tmp.parent == tmp_path and tmp.read_bytes() == b"source"
        tmp.write_bytes(b"new")
    assert dest.read_bytes() == b"new"
    with pytest.raises(ValueError), staged_file(src, dest) as tmp:
        tmp.write_bytes(b"half")
        raise ValueError("stop")
    assert dest.read_bytes() == b"new" and temps(tmp_path) == []


def test_stale_temporaries_are_cleaned(tmp_path):
    dest = tmp_path / "session.nwb"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".session.nwb.nwb-sae-{int(dead.stdout)}-0badc0de.tmp"
    live = tmp_path / f".session.nwb.nwb-sae-{os.getpid()}-0badc0de.tmp"
    other = tmp_path / f".other.nwb.nwb-sae-{int(dead.stdout)}-0badc0de.tmp"
    for path in (stale, live, other):
        path.write_bytes(b"partial")
    assert remove_stale_temps(dest) == [stale]
    assert not stale.exists() and live.exists() and other.exists()


# -- SIGKILL ----------------------------------------------------------------------------------------
# The writer announces each named stage (nwb_sae.io.safe_write.stage); with NWB_SAE_PAUSE_AT=<stage> and
# NWB_SAE_PAUSE_FIFO=<fifo> it writes the stage's name into the FIFO and stops itself there, so the test
# kills it exactly at that stage. Nothing here waits a fixed time: the only clock is a failure guard.

GUARD_S = 600.0
"""Give up (and fail) when a writer neither pauses nor finishes within this many seconds."""


@pytest.fixture()
def fifo(tmp_path):
    """A FIFO for the stage announcements, held open read-write so that reads block until one arrives."""
    path = tmp_path / "stages.fifo"
    os.mkfifo(path)
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    yield path, fd
    os.close(fd)


def _child(write, pipe_w: int, env: dict) -> None:
    """In the forked child: log every stage of the write to the pipe, then write; report the end."""
    os.environ.update(env)
    stream = os.fdopen(pipe_w, "w", buffering=1)
    try:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger = logging.getLogger("nwb_sae")
        logger.handlers, logger.propagate = [handler], False
        logger.setLevel(logging.INFO)
        write()
        stream.write("DONE\n")
    except BaseException as err:  # noqa: BLE001 -- report anything to the parent
        stream.write(f"ERROR {err!r}\n")
        os._exit(1)
    os._exit(0)


def wait_for_pause(fifo_fd: int, log_fd: int, lines: list) -> str | None:
    """The stage the writer paused at, or None when it ended first (its log lines are added to ``lines``)."""
    announced, buffer = b"", b""
    deadline = time.monotonic() + GUARD_S
    while True:
        ready, _, _ = select.select([fifo_fd, log_fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            pytest.fail(f"the writer neither paused nor finished within {GUARD_S:g} s: {lines[-3:]}")
        if fifo_fd in ready:
            announced += os.read(fifo_fd, 4096)
            if announced.endswith(b"\n"):
                return announced.decode().strip()
        if log_fd in ready:
            chunk = os.read(log_fd, 65536)
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            lines += [c.decode() for c in complete]
            if not chunk or any(line == "DONE" or line.startswith("ERROR") for line in lines):
                return None


def wait_stopped(pid: int) -> None:
    """Return once the paused writer has stopped itself (its SIGSTOP follows the announcement)."""
    _, status = os.waitpid(pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status), f"the writer ended instead of pausing (status {status})"


def fork_write(write, fifo=None, stage: str | None = None) -> tuple[list[str], str | None]:
    """Run ``write`` in a forked process; with ``stage``, SIGKILL it while it is paused at that stage.

    Returns the log lines and the stage it was killed at (None: it ran to its end)."""
    env = {} if stage is None else {PAUSE_AT: stage, PAUSE_FIFO: str(fifo[0])}
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover -- the child
        os.close(r)
        _child(write, w, env)
    os.close(w)
    lines: list[str] = []
    try:
        paused = wait_for_pause(fifo[1], r, lines) if stage is not None else None
        if paused is not None:
            wait_stopped(pid)
        else:
            while chunk := os.read(r, 65536):  # drain the log until the child closes it
                lines += chunk.decode().splitlines()
    finally:
        os.kill(pid, signal.SIGKILL)  # paused (stopped), or already gone
        _, status = os.waitpid(pid, 0)
        os.close(r)
    if paused is not None:
        assert paused == stage
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    return lines, paused


@pytest.fixture(scope="module")
def precomputed(long_recording):
    """The codes of the long recording, computed before forking (the child only writes)."""
    path, sae = long_recording
    with open_activity(path) as source:
        return sae.encode_samples(source.read(0, source.n_samples))


def writer_for(path, sae, codes, overwrite: bool = False):
    """The in-place write a forked child runs: write_nwb's machinery, with codes encoded in the parent."""

    def write():
        with open_activity(path) as source:
            results = results_from_model(sae, source, block_rows=BLOCK)
            results.codes.read, results.codes.encode = (lambda a, b: codes[a:b]), None
            write_results(path, results, in_place=True, overwrite=overwrite, activity_path=source.object_path)
    return write


def stages_of(lines: list[str]) -> list[str]:
    return [line[len("stage: "):] for line in lines if line.startswith("stage: ")]


def test_sigkill_at_every_stage_leaves_original_or_complete_new_file(long_recording, precomputed, tmp_path, fifo):
    pristine, sae = long_recording
    path = tmp_path / "session.nwb"
    shutil.copyfile(pristine, path)
    before = sha256(path)
    # an uninterrupted run says which stages a write passes
    lines, paused = fork_write(writer_for(path, sae, precomputed))
    assert paused is None and lines[-1] == "DONE", lines[-3:]
    stages = stages_of(lines)
    n_blocks = sum(s.startswith("encoded block") for s in stages)
    assert n_blocks >= 3  # several blocks, so some kills fall between two of them
    assert stages == ["copying", "copied", "writing codes", *[f"encoded block {i}" for i in range(n_blocks)],
                      "writing tables", "validating", "flushing", "renaming", "replaced"]
    assert [s for s in STAGES if "<" not in s and s != "removing old module"] == [
        s for s in stages if not s.startswith("encoded block")]
    complete = read_results(path, lazy=False).codes.values
    assert complete.shape == (40000, 32)
    # killed at each stage: up to the rename the original is byte-identical, from it on the new file is complete
    for stage in stages:
        shutil.copyfile(pristine, path)
        lines, paused = fork_write(writer_for(path, sae, precomputed), fifo, stage)
        assert paused == stage, f"never paused at {stage!r}: {lines[-3:]}"
        if stages.index(stage) < stages.index("replaced"):
            assert sha256(path) == before, f"original changed after SIGKILL at {stage!r}"
            # at most its own hidden temporary is left: each write first removes those of dead writers
            assert len(temps(tmp_path)) == (0 if stage == "copying" else 1)
        else:
            assert sha256(path) != before and temps(tmp_path) == []
            np.testing.assert_array_equal(read_results(path, lazy=False).codes.values, complete)
        assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["session.nwb", "stages.fifo"]
    # replacing earlier results: killed while the old module is being removed, the file keeps it
    with_results = sha256(path)
    lines, paused = fork_write(writer_for(path, sae, precomputed, overwrite=True), fifo, "removing old module")
    assert paused == "removing old module", lines[-3:]
    assert sha256(path) == with_results


def pause_process(script: str, stage: str, fifo) -> tuple[subprocess.Popen, str | None, list[str]]:
    """Start ``script`` in a new Python process paused at ``stage``; return it once stopped there."""
    env = {**os.environ, PAUSE_AT: stage, PAUSE_FIFO: str(fifo[0])}
    proc = subprocess.Popen([sys.executable, "-u", "-c", textwrap.dedent(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env)
    lines: list[str] = []
    try:
        paused = wait_for_pause(fifo[1], proc.stdout.fileno(), lines)
        if paused is not None:
            wait_stopped(proc.pid)  # a SIGCONT sent before the writer has stopped itself would be lost
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, paused, lines


def test_sigkill_of_a_real_inference_process(long_recording, tmp_path, fifo):
    """A separate Python process loads a checkpoint and writes in place with write_nwb; kill it mid-codes."""
    pristine, sae = long_recording
    path = tmp_path / "session.nwb"
    shutil.copyfile(pristine, path)
    sae.save(tmp_path / "model")
    before = sha256(path)
    proc, paused, lines = pause_process(f"""
        import nwb_sae
        sae = nwb_sae.load({str(tmp_path / "model")!r})
        nwb_sae.write_nwb(sae, {str(path)!r}, in_place=True, block_rows={BLOCK})
        print("DONE", flush=True)
    """, "encoded block 2", fifo)
    proc.kill()
    proc.wait()
    assert paused == "encoded block 2", lines[-5:]
    assert proc.returncode == -signal.SIGKILL
    assert sha256(path) == before
    assert len(temps(tmp_path)) == 1
    write_nwb(sae, path, in_place=True)  # the next write cleans up and succeeds
    assert temps(tmp_path) == [] and read_results(path, lazy=False).codes.shape == (40000, 32)


def test_a_paused_writer_goes_on_when_continued(tmp_path, fifo):
    """The hook only pauses: continued (SIGCONT) at 'renaming', the write completes; before, nothing changed."""
    target = tmp_path / "metrics.json"
    target.write_text("old")
    proc, paused, lines = pause_process(f"""
        from nwb_sae.io.jsonable import write_json
        write_json({str(target)!r}, {{"fvu": 0.25}})
        print("DONE", flush=True)
    """, "renaming", fifo)
    try:
        assert paused == "renaming", lines
        assert target.read_text() == "old" and len(temps(tmp_path)) == 1
        proc.send_signal(signal.SIGCONT)
        assert proc.wait(timeout=GUARD_S) == 0
    finally:
        proc.kill()
        proc.wait()
    assert json.loads(target.read_text()) == {"fvu": 0.25} and temps(tmp_path) == []
