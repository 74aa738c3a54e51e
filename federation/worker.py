"""A strategy's rounds in a separate process, so that a round overlaps with training.

    worker = RoundWorker()
    pending = worker.submit(strategy, updates, round_number)   # returns once the worker has them
    ...                                                         # the caller keeps training
    average, report = pending.result()                          # blocks until the round is done
    worker.close()

A round is a pure function of (strategy, updates, round number): its average does not depend on
when or where it runs (secure aggregation's masks cancel exactly; the quantised mean is
deterministic), so a run that overlaps rounds is as reproducible as one that does not.

The worker is `python -m federation.worker`, started on first use: a fresh interpreter that
imports only the federation (no fork of a process holding torch's thread pools, and unlike
multiprocessing's spawn it never re-imports the caller's main script). It reads one request at
a time from its stdin and answers on its stdout (length-prefixed pickles between two processes
of the same user). One round is in flight at a time. The worker ignores SIGINT (the caller
decides what Ctrl-C means, then closes it), exits when its stdin closes, and is killed with its
parent (Linux parent-death signal), so an interrupted or crashed trainer leaves no process
behind. A worker that dies mid-round fails that round's `result()` with a `FederationError`
naming the round and the exit status; an exception inside the round is raised in the caller as
itself. Nothing the caller passed in is modified.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from federation.errors import ConfigError, FederationError

if TYPE_CHECKING:
    from typing import Self  # Python >= 3.11; annotations only

Params = dict[str, Any]
_LEN = struct.Struct("<Q")
_PARENT_ENV = "FEDMARL_ROUND_WORKER_PARENT"  # the pid the worker must outlive no longer than


def _write_frame(stream: BinaryIO, payload: bytes) -> None:
    stream.write(_LEN.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def _read_frame(stream: BinaryIO) -> bytes | None:
    """One frame, or None at a clean end of stream."""
    head = stream.read(_LEN.size)
    if not head:
        return None
    if len(head) != _LEN.size:
        raise EOFError("truncated frame header")
    (n,) = _LEN.unpack(head)
    body = stream.read(n)
    if len(body) != n:
        raise EOFError("truncated frame")
    return body


class PendingRound:
    """A submitted round: `result()` gives the strategy's (average, report), once."""

    def __init__(self, worker: RoundWorker, round_number: int) -> None:
        self._worker = worker
        self.round_number = round_number
        self._outcome: tuple[Params | None, dict[str, Any]] | None = None

    def result(self) -> tuple[Params | None, dict[str, Any]]:
        if self._outcome is None:
            self._outcome = self._worker._receive(self)
        return self._outcome

    def cancel(self) -> None:
        """Drop the round: its answer is read and discarded (the worker stays usable)."""
        if self._outcome is None and self._worker._in_flight is self:
            with contextlib.suppress(Exception):  # a dropped round's failure is nobody's
                self.result()


class RoundWorker:
    """One background process that runs aggregation rounds one at a time."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._in_flight: PendingRound | None = None

    def _start(self) -> subprocess.Popen:
        root = str(Path(__file__).resolve().parent.parent)  # where `federation` imports from
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
        env[_PARENT_ENV] = str(os.getpid())
        return subprocess.Popen([sys.executable, "-m", "federation.worker"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, env=env, cwd=root)

    def submit(self, strategy: Any, updates: list[Params], round_number: int) -> PendingRound:
        if self._in_flight is not None:
            raise FederationError(f"round {self._in_flight.round_number + 1} is still in flight;"
                                  " take its result() first")
        try:
            payload = pickle.dumps((strategy, updates, round_number), pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            raise ConfigError(f"an overlapped round needs a picklable strategy: {exc}") from exc
        if self._proc is None:
            self._proc = self._start()
        try:
            _write_frame(self._proc.stdin, payload)
        except (BrokenPipeError, OSError) as exc:
            raise self._died(round_number) from exc
        self._in_flight = PendingRound(self, round_number)
        return self._in_flight

    def _receive(self, pending: PendingRound) -> tuple[Params | None, dict[str, Any]]:
        if self._in_flight is not pending or self._proc is None:
            raise FederationError(f"round {pending.round_number + 1} is no longer in flight")
        self._in_flight = None
        try:
            frame = _read_frame(self._proc.stdout)
        except (EOFError, OSError):
            frame = None
        if frame is None:
            raise self._died(pending.round_number)
        status, value = pickle.loads(frame)
        if status == "error":
            raise value
        return value

    def _died(self, round_number: int) -> FederationError:
        proc, self._proc = self._proc, None
        code = None
        if proc is not None:
            proc.kill()
            code = proc.wait()
        return FederationError(f"the federation worker process died during round"
                               f" {round_number + 1} (exit status {code})")

    def close(self) -> None:
        """Stop the worker (a round in flight is abandoned); safe to call twice."""
        proc, self._proc, self._in_flight = self._proc, None, None
        if proc is None:
            return
        try:
            proc.stdin.close()  # the worker exits at the end of its input
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # still inside a round: no need to wait for it
            proc.kill()
            proc.wait()
        proc.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _die_with_parent() -> None:
    try:
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the end of stdin still stops the worker
        pass


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    # The parent died before the death signal was armed (compared with the pid it gave, not
    # with 1: a trainer that is a container's init is pid 1 itself).
    if os.environ.get(_PARENT_ENV, str(os.getppid())) != str(os.getppid()):
        return 1
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames on the answer pipe
    while (frame := _read_frame(stdin)) is not None:
        strategy, updates, round_number = pickle.loads(frame)
        try:
            answer = ("ok", strategy.aggregate(updates, round_number))
        except Exception as exc:  # noqa: BLE001 - raised again in the caller, as itself
            answer = ("error", exc)
        try:
            reply = pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - e.g. an exception that does not pickle
            reply = pickle.dumps(("error", FederationError(
                f"round {round_number + 1} failed in the worker: {answer[1]!r} ({exc})")))
        _write_frame(stdout, reply)
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["PendingRound", "RoundWorker"]
