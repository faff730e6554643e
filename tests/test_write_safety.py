"""In-place writes are atomic: killed (SIGKILL) or failing at any moment, the original stays byte-identical."""

from __future__ import annotations

import hashlib
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

import pytest

import nwb_sae
from nwb_sae import synthetic
from nwb_sae.errors import NwbSaeError
from nwb_sae.io.nwb import open_activity
from nwb_sae.io.safe_write import remove_stale_temps, staged_file
from nwb_sae.io.write import read_results, results_from_model, write_nwb, write_results

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

WINDOW = (-0.2, 0.8)
BLOCK = 4096


def sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def temps(folder) -> list:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


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

def _child(write, pipe_w: int) -> None:
    """In the forked child: log every step of the write to the pipe, then write."""
    stream = os.fdopen(pipe_w, "w", buffering=1)
    try:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger = logging.getLogger("nwb_sae")
        logger.handlers, logger.propagate = [handler], False
        logger.setLevel(logging.DEBUG)
        write()
        stream.write("DONE\n")
    except BaseException as err:  # noqa: BLE001 -- report anything to the parent
        stream.write(f"ERROR {err!r}\n")
        os._exit(1)
    os._exit(0)


def fork_write(write, marker: str | None = None, delay: float = 0.0, after: float | None = None,
               timeout: float = 60.0) -> tuple[list[str], bool]:
    """Run ``write`` in a forked process and SIGKILL it when a log line contains ``marker`` (plus
    ``delay`` seconds) or ``after`` seconds from the start. Returns the log lines and whether it was killed."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover -- the child
        os.close(r)
        _child(write, w)
    os.close(w)
    lines, buffer, killed = [], b"", False
    start = time.monotonic()
    deadline = start + timeout
    try:
        while time.monotonic() < deadline:
            wait = 0.5 if after is None else max(0.0, start + after - time.monotonic())
            ready, _, _ = select.select([r], [], [], wait)
            if after is not None and time.monotonic() >= start + after:
                os.kill(pid, signal.SIGKILL)
                killed = True
                break
            if not ready:
                continue
            chunk = os.read(r, 65536)
            if not chunk:
                break
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            lines += [c.decode() for c in complete]
            if marker is not None and any(marker in line for line in lines):
                time.sleep(delay)
                os.kill(pid, signal.SIGKILL)
                killed = True
                break
    finally:
        os.close(r)
        if not killed and time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if killed:
        assert os.WIFSIGNALED(status) or os.WIFEXITED(status)
    return lines, killed


@pytest.fixture(scope="module")
def precomputed(long_recording):
    """The codes of the long recording, computed before forking (the child only writes)."""
    path, sae = long_recording
    with open_activity(path) as source:
        return sae.encode_samples(source.read(0, source.n_samples))


def writer_for(path, sae, codes):
    """The in-place write a forked child runs: write_nwb's machinery, with codes encoded in the parent."""

    def write():
        with open_activity(path) as source:
            results = results_from_model(sae, source, block_rows=BLOCK)
            results.codes.read, results.codes.encode = (lambda a, b: codes[a:b]), None
            write_results(path, results, in_place=True, activity_path=source.object_path)
    return write


MARKERS = [
    ("copying", 0.0),                      # before / during the byte copy
    ("copied; writing into", 0.0),         # staged copy complete
    ("writing codes", 0.05),               # pynwb append started
    ("encoded samples 16384:", 0.0),       # in the middle of the codes
    ("writing dictionary", 0.0),           # codes done, tables being written
    ("validating", 0.3),                   # reading back / pynwb.validate
    ("flushing", 0.0),                     # just before the rename
]


def test_sigkill_at_every_step_leaves_original_byte_identical(long_recording, precomputed, tmp_path):
    pristine, sae = long_recording
    path = tmp_path / "session.nwb"
    shutil.copyfile(pristine, path)
    before = sha256(path)
    for marker, delay in MARKERS:
        lines, killed = fork_write(writer_for(path, sae, precomputed), marker, delay)
        assert killed, f"never reached {marker!r}: {lines[-3:]}"
        assert sha256(path) == before, f"original changed after SIGKILL at {marker!r}"
        assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["session.nwb"]
    assert len(temps(tmp_path)) >= 1  # the killed runs left their hidden temporaries...
    remove_stale_temps(path)
    assert temps(tmp_path) == []  # ...which the next write to that file removes
    # an uninterrupted run completes, then kills at fractions of its duration
    start = time.monotonic()
    lines, killed = fork_write(writer_for(path, sae, precomputed))
    duration = time.monotonic() - start
    assert not killed and lines[-1] == "DONE", lines[-3:]
    assert read_results(path, lazy=False).codes.shape == (40000, 32)
    for fraction in (0.3, 0.7):
        shutil.copyfile(pristine, path)
        lines, killed = fork_write(writer_for(path, sae, precomputed), after=fraction * duration)
        if sha256(path) != before:  # killed after the rename: then the new file is complete
            assert "replaced" in " ".join(lines) or "replacing" in " ".join(lines)
            assert read_results(path, lazy=False).codes.shape == (40000, 32)


def test_sigkill_of_a_real_inference_process(long_recording, tmp_path):
    """A separate Python process loads a checkpoint and writes in place with write_nwb; kill it mid-codes."""
    pristine, sae = long_recording
    path = tmp_path / "session.nwb"
    shutil.copyfile(pristine, path)
    sae.save(tmp_path / "model")
    before = sha256(path)
    script = textwrap.dedent(f"""
        import logging, sys
        import nwb_sae
        handler = logging.StreamHandler(sys.stdout)
        logging.getLogger("nwb_sae").addHandler(handler)
        logging.getLogger("nwb_sae").setLevel(logging.DEBUG)
        sae = nwb_sae.load({str(tmp_path / "model")!r})
        nwb_sae.write_nwb(sae, {str(path)!r}, in_place=True, block_rows={BLOCK})
        print("DONE", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-u", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line.strip())
            if "encoded samples 8192:" in line:
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, seen[-5:]
    assert sha256(path) == before
    assert len(temps(tmp_path)) == 1
    write_nwb(sae, path, in_place=True)  # the next write cleans up and succeeds
    assert temps(tmp_path) == [] and read_results(path, lazy=False).codes.shape == (40000, 32)
