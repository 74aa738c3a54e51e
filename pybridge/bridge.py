"""Shared-memory bridge between Python and a C++ peer process (the ns-3 scenario, the echo peer).

Python creates the segment (/dev/shm/fedmarl-<pid>-<hex>) and its array table, launches the peer
with ``--segment=NAME`` and waits for its hello. Each request then costs two cache-line handoffs
and, only when a side sleeps, one futex wake: Python writes the inputs into zero-copy numpy views,
publishes ``request_seq``, and waits on ``response_seq`` (a short spin, then futex sleeps of at
most 50 ms with the GIL released, checking between sleeps that the peer is alive). The layout
lives in one C++ header (pybridge/native/include/fedmarl/shm_layout.h) compiled both into the peer
and into ``pybridge._shm``, and both sides check its version and hash at hello.

Failure handling is the point of this module: a peer that dies, hangs, refuses the layout or
reports an error gives one ``BridgeError`` naming the binary, how it ended and the tail of its
stderr; the peer is then gone (reaped) and the segment unlinked. Segments are also unlinked on
interpreter exit, on SIGTERM/SIGINT, and by ``sweep_stale_segments`` (segments whose owner
process died, e.g. by SIGKILL) each time a segment is created.

A Bridge is used by one thread at a time; several bridges (different segments and peers) can
run concurrently in one process, from one thread or several.
"""

from __future__ import annotations

import atexit
import contextlib
import enum
import mmap
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from typing_extensions import Self

try:
    from pybridge import _shm
except ImportError as _exc:  # not built yet: importing this module must still work
    _shm = None
    _SHM_IMPORT_ERROR: ImportError | None = _exc
else:
    _SHM_IMPORT_ERROR = None

ROOT = Path(__file__).resolve().parents[1]
SHM_DIR = Path("/dev/shm")
SEGMENT_PREFIX = "fedmarl-"
_NAME_RE = re.compile(r"^fedmarl-(\d+)-([0-9a-f]{1,64})$")

SLICE_MS = 50.0  # longest futex sleep between liveness checks
DEFAULT_SPIN_US = 50.0  # a fast peer answers within a few microseconds; a slow one costs 50 us CPU
DEFAULT_STEP_TIMEOUT = 30.0
DEFAULT_HELLO_TIMEOUT = 30.0
MAX_TIMEOUT = 24 * 3600.0  # "bounded": no request waits forever
STDERR_TAIL_LINES = 20
BUILD_HINT = "run `make test` (or scripts/bootstrap.sh) to build the native parts"


class BridgeError(RuntimeError):
    """The peer died, hung, refused the segment or reported an error; the bridge is closed."""


class Command(enum.IntEnum):
    """Request commands (values from shm_layout.h; a test checks they match pybridge._shm)."""

    STEP = 1
    RESET = 2
    CLOSE = 3


class PeerState(enum.IntEnum):
    CREATED = 0
    HELLO = 1
    READY = 2
    ERROR = 3
    CLOSED = 4


_DTYPES = {"f32": np.dtype(np.float32), "f64": np.dtype(np.float64),
           "i32": np.dtype(np.int32), "u8": np.dtype(np.uint8)}


def _require_shm():
    if _shm is None:
        raise BridgeError(f"the bridge extension pybridge._shm is not built ({_SHM_IMPORT_ERROR});"
                          f" {BUILD_HINT}")
    return _shm


# --------------------------------------------------------------------------- arrays and names
ArraySpecLike = tuple[str, Any, int]


def _normalise_arrays(arrays: Iterable[ArraySpecLike]) -> list[tuple[str, int, int]]:
    """[(name, dtype code, count)] from (name, dtype, count) with dtype "f32"/np.float32/..."""
    shm = _require_shm()
    out = []
    for spec in arrays:
        name, dtype, count = spec
        code = None
        if isinstance(dtype, str) and dtype in shm.DTYPES:
            code = shm.DTYPES[dtype][0]
        else:
            dt = np.dtype(dtype)
            for short, known in _DTYPES.items():
                if dt == known:
                    code = shm.DTYPES[short][0]
        if code is None:
            raise ValueError(f"array {name!r}: dtype {dtype!r} is not one of"
                             f" {', '.join(_DTYPES)} (float32, float64, int32, uint8)")
        if int(count) != count or count <= 0:
            raise ValueError(f"array {name!r}: count must be a positive integer, got {count!r}")
        out.append((str(name), code, int(count)))
    return out


def _dtype_of_code(code: int) -> np.dtype:
    for short, (c, _size) in _require_shm().DTYPES.items():
        if c == code:
            return _DTYPES[short]
    raise BridgeError(f"unknown dtype code {code} in the segment's array table")


def make_segment_name(owner_pid: int | None = None) -> str:
    """A fresh name fedmarl-<owner pid>-<16 hex digits>; the pid lets the stale sweep work."""
    return f"{SEGMENT_PREFIX}{os.getpid() if owner_pid is None else owner_pid}-{secrets.token_hex(8)}"


def _pid_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as dead: it will never answer)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] not in (["Z"], ["X"])


def sweep_stale_segments(shm_dir: Path | str = SHM_DIR) -> list[str]:
    """Unlink fedmarl-<pid>-* segments whose owner process is gone; returns their names.

    A Python killed by SIGKILL cannot clean up; the next bridge created on the machine does.
    """
    removed = []
    try:
        entries = list(os.scandir(shm_dir))
    except OSError:
        return removed
    me = os.getpid()
    for entry in entries:
        match = _NAME_RE.match(entry.name)
        if not match:
            continue
        pid = int(match.group(1))
        if pid == me or _pid_alive(pid):
            continue
        with contextlib.suppress(FileNotFoundError, PermissionError):
            os.unlink(entry.path)
            removed.append(entry.name)
    return removed


# --------------------------------------------------------------------------- cleanup registry
_LIVE: weakref.WeakSet = weakref.WeakSet()  # bridges, peers and segments not yet closed
_LIVE_LOCK = threading.RLock()  # re-entrant: a signal handler may run inside
_HANDLERS_INSTALLED = False
_PREVIOUS_HANDLERS: dict[int, Any] = {}


def _register(obj: Any) -> None:
    with _LIVE_LOCK:
        _LIVE.add(obj)
    _install_cleanup()


def close_all() -> None:
    """Close every live bridge, peer and segment of this process (exit and signal paths)."""
    with _LIVE_LOCK:
        objs = list(_LIVE)
    # Bridges first (they stop their peer gracefully), then stray peers, then segments.
    for kind in (Bridge, PeerProcess, ShmSegment):
        for obj in objs:
            if not isinstance(obj, kind):
                continue
            with contextlib.suppress(Exception):
                if isinstance(obj, ShmSegment):
                    obj.close()
                else:
                    obj.close(timeout=1.0)


def _on_signal(signum: int, frame: Any) -> None:
    close_all()
    previous = _PREVIOUS_HANDLERS.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)  # e.g. Python's default SIGINT handler raises KeyboardInterrupt
    elif previous == signal.SIG_DFL:
        # Die of the same signal, so the parent sees the true cause.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    # SIG_IGN: the process chose to ignore it; the bridges are closed, carry on.


def _install_cleanup() -> None:
    global _HANDLERS_INSTALLED
    if _HANDLERS_INSTALLED:
        return
    _HANDLERS_INSTALLED = True
    atexit.register(close_all)
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread; atexit still covers exit
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)
        if previous is None:  # set from C: we cannot chain to it, leave it alone
            continue
        _PREVIOUS_HANDLERS[signum] = previous
        signal.signal(signum, _on_signal)


# --------------------------------------------------------------------------- segment
class ShmSegment:
    """A mapped segment with its header and zero-copy numpy views of its arrays."""

    def __init__(self, name: str, mm: mmap.mmap, owner: bool) -> None:
        self.name = name
        self.path = SHM_DIR / name
        self.owner = owner
        self._mm: mmap.mmap | None = mm
        self.table = [(n, int(d), int(c), int(o)) for n, d, c, o in _require_shm().array_table(mm)]
        # np.frombuffer on the mmap: writable views that share the mapping (no copy ever).
        self.views: dict[str, np.ndarray] = {
            n: np.frombuffer(mm, dtype=_dtype_of_code(d), count=c, offset=o)
            for n, d, c, o in self.table}
        _register(self)

    @classmethod
    def create(cls, arrays: Iterable[ArraySpecLike], name: str | None = None) -> ShmSegment:
        """Create, size and initialise a new segment (mode 0600, O_EXCL)."""
        shm = _require_shm()
        specs = _normalise_arrays(arrays)
        try:
            total, _table = shm.plan_segment(specs)
        except ValueError as exc:
            raise BridgeError(f"bad array list: {exc}") from exc
        sweep_stale_segments()
        name = make_segment_name() if name is None else name
        match = _NAME_RE.match(name)
        if not match or int(match.group(1)) != os.getpid():
            raise ValueError(f"segment name {name!r} must look like fedmarl-{os.getpid()}-<hex>"
                             " (use make_segment_name())")
        path = SHM_DIR / name
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW,
                     0o600)
        try:
            os.ftruncate(fd, total)
            mm = mmap.mmap(fd, total, flags=mmap.MAP_SHARED,
                           prot=mmap.PROT_READ | mmap.PROT_WRITE)
            shm.init_segment(mm, specs, os.getpid())
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        finally:
            os.close(fd)
        try:
            return cls(name, mm, owner=True)
        except BaseException:
            mm.close()
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise

    @classmethod
    def attach(cls, name: str) -> ShmSegment:
        """Map an existing segment (not owned: close() unmaps but does not unlink)."""
        shm = _require_shm()
        if "/" in name or not name.startswith(SEGMENT_PREFIX):
            raise ValueError(f"bad segment name {name!r}")
        path = SHM_DIR / name
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise BridgeError(f"no segment {path}") from None
        try:
            size = os.fstat(fd).st_size
            if size < shm.HEADER_SIZE:
                raise BridgeError(f"{path}: {size} bytes is too small for a fedmarl segment")
            mm = mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        problem = _layout_problem(mm)
        if problem:
            mm.close()
            raise BridgeError(f"refusing segment {name}: {problem}")
        return cls(name, mm, owner=False)

    @property
    def buffer(self) -> mmap.mmap:
        if self._mm is None:
            raise BridgeError(f"segment {self.name} is closed")
        return self._mm

    @property
    def closed(self) -> bool:
        return self._mm is None

    def header(self) -> dict[str, Any]:
        return _require_shm().read_header(self.buffer)

    def close(self) -> None:
        """Unmap, and unlink if we created it. Idempotent."""
        mm, self._mm = self._mm, None
        if mm is None:
            return
        self.views = {}
        # Views handed out and still referenced keep the mapping alive (mmap refuses to close
        # while exported, so nobody reads freed memory); it is freed with the last of them.
        with contextlib.suppress(BufferError):
            mm.close()
        if self.owner:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ", ".join(f"{n}[{c}]" for n, _d, c, _o in self.table)
        return f"ShmSegment({self.name!r}, {state})"


def _layout_problem(buffer: Any) -> str:
    """'' if `buffer` is a segment of our layout, else why not (naming both versions)."""
    shm = _require_shm()
    hdr = shm.read_header(buffer)
    if hdr["magic"] != shm.MAGIC:
        return "not a fedmarl segment (bad magic)"
    if hdr["version"] != shm.LAYOUT_VERSION or hdr["layout_hash"] != shm.LAYOUT_HASH:
        return (f"layout mismatch: the segment has layout version {hdr['version']} (hash"
                f" {hdr['layout_hash']:#018x}), this Python side (pybridge._shm) has layout version"
                f" {shm.LAYOUT_VERSION} (hash {shm.LAYOUT_HASH:#018x}); {BUILD_HINT}")
    return shm.check_segment(buffer)


# --------------------------------------------------------------------------- peer process
def _describe_returncode(rc: int | None) -> str:
    if rc is None:
        return "is still running"
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return f"was killed by signal {name} ({-rc})"
    return f"exited with status {rc}"


class PeerProcess:
    """A peer executable started directly (no shell) in its own session, stderr kept for errors.

    Its own session: a Ctrl-C in the terminal reaches Python only, which then closes the peer in
    order instead of both dying at once mid-step.
    """

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                 cwd: str | os.PathLike | None = None, stdout: Any = subprocess.DEVNULL) -> None:
        self.argv = [str(a) for a in argv]
        self.binary = self.argv[0]
        # Anonymous temporary file: gone with the last descriptor, whatever happens to us.
        self._stderr: IO[bytes] | None = tempfile.TemporaryFile(  # noqa: SIM115 (lives with peer)
            prefix="fedmarl-peer-", suffix=".stderr")
        self._tail_cache: str | None = None
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=stdout,
                                         stderr=self._stderr, start_new_session=True,
                                         close_fds=True, env=None if env is None else dict(env),
                                         cwd=cwd)
        except OSError as exc:
            self._stderr.close()
            self._stderr = None
            hint = f"; {BUILD_HINT}" if isinstance(exc, FileNotFoundError) else ""
            raise BridgeError(f"cannot start peer {self.binary}: {exc}{hint}") from exc
        self.pid = self.proc.pid
        _register(self)

    def poll(self) -> int | None:
        return self.proc.poll()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def describe(self) -> str:
        return f"peer {self.binary} (pid {self.pid}) {_describe_returncode(self.proc.returncode)}"

    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        """The last `lines` lines the peer wrote to stderr (kept after close())."""
        if self._stderr is None:
            return self._tail_cache or ""
        with contextlib.suppress(OSError, ValueError):
            size = os.fstat(self._stderr.fileno()).st_size
            data = os.pread(self._stderr.fileno(), 16384, max(0, size - 16384))
            text = data.decode("utf-8", "replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""

    def close(self, timeout: float = 2.0) -> int | None:
        """Stop the peer (SIGTERM, then SIGKILL after `timeout`), reap it; returns its status."""
        proc = self.proc
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5.0)  # SIGKILL cannot be caught; only an uninterruptible D state
        if self._stderr is not None:
            self._tail_cache = self.stderr_tail()
            self._stderr.close()
            self._stderr = None
        with _LIVE_LOCK:
            _LIVE.discard(self)
        return proc.returncode

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close(timeout=0.5)


# --------------------------------------------------------------------------- bridge
def _check_timeout(value: float, what: str) -> float:
    value = float(value)
    if not 0.0 < value <= MAX_TIMEOUT:
        raise ValueError(f"{what} must be in (0, {MAX_TIMEOUT:.0f}] seconds, got {value}")
    return value


class Bridge:
    """A segment plus the peer serving it. Use `launch` (we start the peer) or `attach`."""

    def __init__(self, segment: ShmSegment, peer: PeerProcess | None, *, step_timeout: float,
                 spin_us: float, label: str) -> None:
        self.segment = segment
        self.peer = peer
        self.step_timeout = _check_timeout(step_timeout, "step_timeout")
        self._spin_ns = max(0, int(spin_us * 1000))
        self._label = label  # how errors name the peer
        self._mm: mmap.mmap | None = segment.buffer
        self._seq = 0
        self._posted: tuple[int, int] | None = None  # (seq, command) sent by post()
        self._peer_pid = 0
        self._closing = False
        self._failure: str | None = None
        self._request = _shm.request  # bound once: request() runs every step
        self._wait = _shm.wait_response
        _register(self)

    # ---------------------------------------------------------------- construction
    @classmethod
    def launch(cls, binary: str | os.PathLike, args: Sequence[str] = (),
               arrays: Iterable[ArraySpecLike] = (), *,
               hello_timeout: float = DEFAULT_HELLO_TIMEOUT,
               step_timeout: float = DEFAULT_STEP_TIMEOUT, spin_us: float = DEFAULT_SPIN_US,
               env: Mapping[str, str] | None = None, cwd: str | os.PathLike | None = None,
               stdout: Any = subprocess.DEVNULL) -> Bridge:
        """Create a segment, start `binary --segment=NAME *args` and wait for its hello."""
        hello_timeout = _check_timeout(hello_timeout, "hello_timeout")
        binary = str(binary)
        segment = ShmSegment.create(arrays)
        try:
            peer = PeerProcess([binary, f"--segment={segment.name}", *args], env=env, cwd=cwd,
                               stdout=stdout)
        except BaseException:
            segment.close()
            raise
        bridge = cls(segment, peer, step_timeout=step_timeout, spin_us=spin_us,
                     label=f"peer {binary} (pid {peer.pid})")
        bridge._await_hello(hello_timeout)
        return bridge

    @classmethod
    def attach(cls, segment_name: str | None, arrays: Iterable[ArraySpecLike], *,
               hello_timeout: float = 3600.0, step_timeout: float = 3600.0,
               spin_us: float = DEFAULT_SPIN_US, command_hint: str = "<peer binary>",
               announce: bool = True) -> Bridge:
        """Create a segment and wait for a peer started by hand (e.g. under gdb).

        `segment_name`: None for a fresh name, or one from make_segment_name() when the peer's
        command line must be known in advance.

        Python prints the command to run. The peer is not our child: on errors it is reported,
        not killed (it may be stopped at a breakpoint), hence the long default timeouts.
        """
        hello_timeout = _check_timeout(hello_timeout, "hello_timeout")
        segment = ShmSegment.create(arrays, name=segment_name)
        bridge = cls(segment, None, step_timeout=step_timeout, spin_us=spin_us,
                     label=f"attached peer of segment {segment.name}")
        if announce:
            print(f"[pybridge] waiting up to {hello_timeout:.0f} s for a peer; start it with:\n"
                  f"    {command_hint} --segment={segment.name}", file=sys.stderr, flush=True)
        bridge._await_hello(hello_timeout)
        return bridge

    def _await_hello(self, timeout: float) -> None:
        shm = _shm
        deadline = time.monotonic() + timeout
        try:
            while True:
                state = shm.wait_peer_state(self._mm, PeerState.CREATED, SLICE_MS)
                if state != PeerState.CREATED:
                    break
                if self.peer is not None and not self.peer.alive:
                    raise self._fail("exited before its hello")
                if time.monotonic() > deadline:
                    raise self._fail(f"did not say hello within {timeout:g} s")
            hdr = shm.read_header(self._mm)
            versions = (f"this Python side (pybridge._shm) has layout version"
                        f" {shm.LAYOUT_VERSION} (hash {shm.LAYOUT_HASH:#018x}), the peer has layout"
                        f" version {hdr['peer_version']} (hash {hdr['peer_layout_hash']:#018x})")
            if state == PeerState.ERROR:
                if hdr["error_code"] == 1:  # kLayoutMismatch; its own message says the same
                    raise self._fail(f"refused the segment: layout mismatch: {versions};"
                                     " rebuild both sides from the same fedmarl/shm_layout.h",
                                     peer_message=False)
                raise self._fail("refused the segment")
            if state != PeerState.HELLO:
                raise self._fail(f"answered hello with unexpected state {state}")
            if (hdr["peer_version"] != shm.LAYOUT_VERSION
                    or hdr["peer_layout_hash"] != shm.LAYOUT_HASH):
                raise self._fail(f"layout mismatch, refusing the peer: {versions}; {BUILD_HINT}")
            self._peer_pid = int(hdr["peer_pid"])
            shm.cas_peer_state(self._mm, PeerState.HELLO, PeerState.READY)
        except BaseException as exc:
            if not isinstance(exc, BridgeError):
                self._teardown()
            raise

    # ---------------------------------------------------------------- properties
    @property
    def name(self) -> str:
        return self.segment.name

    @property
    def views(self) -> dict[str, np.ndarray]:
        """Zero-copy numpy views of the segment's arrays (valid until close())."""
        return self.segment.views

    @property
    def peer_pid(self) -> int:
        return self.peer.pid if self.peer is not None else self._peer_pid

    @property
    def closed(self) -> bool:
        return self._mm is None

    @property
    def step_counter(self) -> int:
        return int(self.header()["step_counter"])

    def header(self) -> dict[str, Any]:
        return _shm.read_header(self._live_buffer())

    def _live_buffer(self) -> mmap.mmap:
        mm = self._mm
        if mm is None:
            why = f" after an error: {self._failure}" if self._failure else ""
            raise BridgeError(f"bridge {self.segment.name} is closed{why}")
        return mm

    # ---------------------------------------------------------------- requests
    def request(self, command: int, arg: int = 0, timeout: float | None = None) -> None:
        """Send `command` (inputs already written in the views) and wait for the answer.

        Raises BridgeError (and closes the bridge) when the peer dies, reports an error or does
        not answer within `timeout` (default: step_timeout) seconds.
        """
        mm = self._mm
        if mm is None:
            self._live_buffer()
        if self._posted is not None:
            raise BridgeError(f"bridge {self.segment.name}: a posted request is still in flight;"
                              " collect() it first")
        seq = (self._seq + 1) & 0xFFFFFFFF
        self._seq = seq
        # Hot path, one C++ call: publish, spin, then one futex slice, all without the GIL.
        if self._request(mm, seq, command, arg, self._spin_ns, SLICE_MS):
            return
        self._wait_slow(mm, seq, command, timeout)

    def post(self, command: int, arg: int = 0) -> None:
        """Send `command` without waiting; `collect()` waits for the answer.

        Lets one Python thread drive several peers at once: post to all, then collect all, so
        the peers simulate in parallel on their own cores.
        """
        mm = self._live_buffer()
        if self._posted is not None:
            raise BridgeError(f"bridge {self.segment.name}: a request is already in flight")
        seq = (self._seq + 1) & 0xFFFFFFFF
        self._seq = seq
        _shm.signal_request(mm, seq, command, arg)
        self._posted = (seq, command)

    def collect(self, timeout: float | None = None) -> None:
        """Wait for the answer to the request sent by `post()` (errors as in `request`)."""
        if self._posted is None:
            raise BridgeError(f"bridge {self.segment.name}: nothing was posted")
        seq, command = self._posted
        self._posted = None
        mm = self._live_buffer()
        if self._wait(mm, seq, self._spin_ns, SLICE_MS):
            return
        self._wait_slow(mm, seq, command, timeout)

    def _wait_slow(self, mm: mmap.mmap, seq: int, command: int, timeout: float | None) -> None:
        limit = self.step_timeout if timeout is None else _check_timeout(timeout, "timeout")
        # The first slice (<= SLICE_MS) already ran in request().
        deadline = time.monotonic() + max(0.0, limit - SLICE_MS / 1e3)
        what = f"{_command_name(command)} (request {seq})"
        try:
            while True:
                if self._mm is None:  # closed by a signal handler between slices
                    raise BridgeError(f"bridge {self.segment.name} was closed during {what}")
                state = _shm.read_header(mm)["peer_state"]
                if state == PeerState.ERROR:
                    raise self._fail(f"reported an error during {what}")
                if not self._peer_alive():
                    raise self._fail(f"died during {what}")
                if time.monotonic() > deadline:
                    raise self._fail(f"did not answer {what} within {limit:g} s (hung?)")
                if self._wait(mm, seq, 0, SLICE_MS):
                    return
        except BridgeError:
            raise
        except BaseException:
            # KeyboardInterrupt and the like: the step is half done and cannot be resumed.
            self._teardown()
            raise

    def step(self, timeout: float | None = None) -> None:
        self.request(Command.STEP, 0, timeout)

    def reset(self, seed: int = 0, timeout: float | None = None) -> None:
        self.request(Command.RESET, seed, timeout)

    def _peer_alive(self) -> bool:
        if self.peer is not None:
            return self.peer.alive
        return _pid_alive(self._peer_pid)

    # ---------------------------------------------------------------- errors and closing
    def _fail(self, what: str, peer_message: bool = True) -> BridgeError:
        """Collect everything known about a failure, tear down, return the error to raise."""
        details = []
        hdr: dict[str, Any] = {}
        with contextlib.suppress(Exception):
            hdr = _shm.read_header(self._mm)
        if peer_message and hdr.get("error_message"):
            details.append(f"peer error: {hdr['error_message']}")
        if self.peer is not None:
            if hdr.get("peer_state") == PeerState.ERROR:
                # A peer that reported an error exits by itself: let it, for an honest status.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.peer.proc.wait(0.5)
            if self.peer.alive:
                self.peer.close(timeout=1.0)  # hung or misbehaving: stop it before reporting
                ended = f"{_describe_returncode(self.peer.proc.returncode)} by the bridge"
            else:
                ended = _describe_returncode(self.peer.proc.returncode)
            self._teardown()
            tail = self.peer.stderr_tail()
            msg = f"{self._label} {what}; it {ended}"
        else:
            alive = _pid_alive(self._peer_pid)
            self._teardown()
            tail = ""
            state = "is still running (not ours to kill)" if alive else "has exited"
            msg = f"{self._label} {what}; it {state}"
        if details:
            msg += "; " + "; ".join(details)
        if tail:
            msg += "\nlast lines of the peer's stderr:\n    " + tail.replace("\n", "\n    ")
        elif self.peer is not None:
            msg += "\n(the peer wrote nothing on stderr)"
        self._failure = msg.splitlines()[0]
        return BridgeError(msg)

    def _teardown(self) -> None:
        """Stop the peer and unlink the segment without talking to the peer."""
        self._mm = None
        if self.peer is not None:
            self.peer.close(timeout=1.0)
        self.segment.close()
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def close(self, timeout: float = 2.0) -> None:
        """Ask the peer to exit (CLOSE), stop it if it does not, unlink the segment. Idempotent."""
        if self._closing:
            return
        self._closing = True
        mm = self._mm
        try:
            if mm is not None and self._peer_alive():
                state = _shm.read_header(mm)["peer_state"]
                if state in (PeerState.READY, PeerState.HELLO):
                    seq = (self._seq + 1) & 0xFFFFFFFF
                    self._seq = seq
                    _shm.signal_request(mm, seq, Command.CLOSE, 0)
                    deadline = time.monotonic() + timeout
                    while (not _shm.wait_response(mm, seq, 0, SLICE_MS)
                           and time.monotonic() < deadline and self._peer_alive()):
                        pass
            if self.peer is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.peer.proc.wait(timeout)  # a closed peer exits by itself
        finally:
            self._teardown()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if not self._closing:
                self.close(timeout=0.5)

    def __repr__(self) -> str:
        return f"Bridge({self.segment.name!r}, {self._label}, {'closed' if self.closed else 'open'})"


def _command_name(command: int) -> str:
    try:
        return Command(command).name
    except ValueError:
        return f"command {command}"


# --------------------------------------------------------------------------- finding binaries
def find_binary(name: str, build_dir: str | os.PathLike | None = None) -> Path:
    """A native binary built by CMake: $FEDMARL_BUILD_DIR/bin, else build/bin, build-bridge/bin."""
    if build_dir is None:
        env = os.environ.get("FEDMARL_BUILD_DIR")
        dirs = [Path(env)] if env else [Path("build"), Path("build-bridge")]
    else:
        dirs = [Path(build_dir)]
    tried = []
    for d in dirs:
        path = (d if d.is_absolute() else ROOT / d) / "bin" / name
        if path.is_file() and os.access(path, os.X_OK):
            return path
        tried.append(str(path))
    raise BridgeError(f"{name} is not built (looked for {', '.join(tried)}); {BUILD_HINT}")
