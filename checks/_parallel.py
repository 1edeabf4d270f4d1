"""Where independent work runs: in this process, in local worker processes, or on a dask cluster.

``Engine(jobs=1)`` runs each call in this process, in order. ``Engine(jobs=N)`` (N > 1) runs them
on N local worker processes (the standard library's process pool; on Linux the workers are forked
from this process, so they start with everything it has imported and derived). ``Engine(scheduler=
"tcp://HOST:PORT")`` connects to a running dask.distributed cluster (whose workers must have
flowcert installed: tasks travel as references to its module-level functions). Results are the same
on every engine: each call is a pure function of its arguments, and callers put the results back in
their own order, whatever order they finish in.

dask is an optional dependency (``pip install 'flowcert[distributed]'``), needed only for
``--scheduler``; asking for it without dask is a :class:`UsageError` naming the extra.
"""
from __future__ import annotations

import os
import re
from typing import Callable, Iterable, Iterator, Sequence

from ._experiment import UsageError

EXTRA = "pip install 'flowcert[distributed]'"
#: seconds to reach a scheduler before ``--scheduler`` gives up
CONNECT_TIMEOUT = 10


def have_dask() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def _call(fn: Callable, args: tuple, kwargs: dict):
    """One task on a worker: one BLAS thread (flowcert's matrices are small; see serial_blas)."""
    from flowcert.numerics import serial_blas
    with serial_blas():
        return fn(*args, **kwargs)


def _exit_with_parent(parent: int) -> None:
    """In a worker: exit once the process that started it is gone (``kill -9`` of ``verify``).
    A forked worker holds both ends of its task pipe, so it would otherwise wait forever."""
    import threading
    import time

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="flowcert-orphan-guard").start()


class Engine:
    """A context manager; :meth:`imap_unordered` runs calls and yields ``(index, result)`` as they end.

    ``option`` names the command-line option that chose the engine, for error messages.
    """

    def __init__(self, jobs: int = 1, scheduler: str | None = None, option: str | None = None):
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise UsageError(f"--jobs: expected a positive integer, got {jobs!r}")
        self.jobs, self.scheduler = jobs, scheduler
        self.option = option or (f"--scheduler {scheduler}" if scheduler else f"--jobs {jobs}")
        self.client = self.cluster = self.pool = None

    @property
    def distributed(self) -> bool:
        return self.scheduler is not None or self.jobs > 1

    def describe(self) -> str:
        if self.scheduler:
            return f"dask cluster at {self.scheduler}"
        return "this process" if self.jobs == 1 else f"{self.jobs} local worker processes"

    def __enter__(self):
        if not self.distributed:
            return self
        if self.scheduler is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor
            # fork: a worker starts with the parent's imports and derivations instead of paying
            # for them again (seconds of CPU each); elsewhere the platform's default
            ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods()
                                              else None)
            try:
                self.pool = ProcessPoolExecutor(self.jobs, mp_context=ctx, initializer=_exit_with_parent,
                                                initargs=(os.getpid(),))
            except (OSError, ValueError) as e:
                raise UsageError(f"{self.option}: cannot start worker processes ({e})") from None
            return self
        if not have_dask():
            raise UsageError(f"{self.option}: needs dask.distributed, which is not installed ({EXTRA})")
        self.client = _connect(self.scheduler, self.option)
        return self

    def __exit__(self, *exc):
        if self.pool is not None:
            # an interrupted run must not wait for the queue: drop what has not started
            self.pool.shutdown(wait=exc[0] is None if exc else True, cancel_futures=True)
            self.pool = None
        for x in (self.client, self.cluster):
            if x is not None:
                try:
                    x.close()
                except Exception:
                    pass
        self.client = self.cluster = None
        return False

    def imap_unordered(self, fn: Callable, calls: Sequence[tuple[tuple, dict]],
                       priorities: Sequence[float] | None = None,
                       names: Sequence[str] | None = None) -> Iterator[tuple[int, object]]:
        """``fn(*args, **kwargs)`` for each ``(args, kwargs)`` of ``calls``; yields ``(i, result)``.

        In this process the calls run in order; on a cluster they run concurrently and are yielded
        as they finish, higher ``priorities`` scheduled first (long tasks first balances the load).
        A call that raises on a worker ends the iteration with :class:`TaskError` (``names[i]``
        says which); in this process the exception propagates as it is.
        """
        if not self.distributed:
            for i, (args, kwargs) in enumerate(calls):
                yield i, _call(fn, args, kwargs)
            return
        pri = list(priorities) if priorities is not None else [0.0] * len(calls)
        if self.pool is not None:
            yield from self._pool_map(fn, calls, pri, names)
            return
        if self.client is None:
            raise RuntimeError("Engine: use it as a context manager")
        from distributed import as_completed
        # dask's priorities are integers; rank the costs so that any float ordering carries over
        rank = {j: r for r, j in enumerate(sorted(range(len(calls)), key=lambda j: pri[j]))}
        futures = {}
        for i, (args, kwargs) in enumerate(calls):
            f = self.client.submit(_call, fn, args, kwargs, pure=False, priority=rank[i])
            futures[f] = i
        try:
            for f in as_completed(list(futures), loop=self.client.loop):
                i = futures.pop(f)
                if f.status == "error":
                    exc = f.exception()
                    name = names[i] if names is not None else f"task {i}"
                    raise TaskError(f"{name}: failed on a worker ({type(exc).__name__}: {exc})"
                                    .replace("\n", " "))
                yield i, f.result()
                f.release()
        finally:
            for f in futures:
                f.cancel()

    def _pool_map(self, fn, calls, pri, names):
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool
        # the pool starts tasks in submission order: the costliest first balances the load
        order = sorted(range(len(calls)), key=lambda j: (-pri[j], j))
        futures = {self.pool.submit(_call, fn, *calls[i]): i for i in order}
        pending = set(futures)
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in sorted(finished, key=futures.get):
                    i = futures[f]
                    exc = f.exception()
                    if exc is not None:
                        name = names[i] if names is not None else f"task {i}"
                        why = "a worker process died" if isinstance(exc, BrokenProcessPool) else \
                            f"failed on a worker ({type(exc).__name__}: {exc})"
                        raise TaskError(f"{name}: {why}".replace("\n", " "))
                    yield i, f.result()
        finally:
            for f in pending:
                f.cancel()


def _connect(address: str, option: str):
    """A dask client of the scheduler at ``address`` within :data:`CONNECT_TIMEOUT` seconds of wall
    time. dask's own ``timeout`` covers the TCP connect only: a peer that accepts and never answers
    its handshake would hold the command forever, so the attempt runs on a daemon thread and is
    abandoned (its client closed if it ever arrives) when the deadline passes."""
    import threading
    out: dict = {}

    def attempt():
        from distributed import Client
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except Exception as e:  # unreachable address, malformed address, refused connection
            out["error"] = e
            return
        if out.get("abandoned"):
            _close_quietly(client)
        else:
            out["client"] = client

    t = threading.Thread(target=attempt, name="flowcert-connect", daemon=True)
    t.start()
    t.join(CONNECT_TIMEOUT + 2)
    if "client" in out:
        return out["client"]
    out["abandoned"] = True
    e = out.get("error")
    why = f"{type(e).__name__}: {e}" if e is not None else f"no answer within {CONNECT_TIMEOUT + 2} s"
    raise UsageError(f"{option}: cannot connect ({why})".replace("\n", " "))


def _close_quietly(client) -> None:
    try:
        client.close()
    except Exception:
        pass


class TaskError(UsageError):
    """A task raised on a worker (flowcert missing or another version there, a bug): the CLI
    prints it on one line and exits with status 2."""


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def add_engine_options(parser, what: str, default: int | str = 1) -> None:
    """``--jobs N`` and ``--scheduler ADDRESS`` on a subcommand (``default`` ``"auto"``: one worker
    per usable CPU)."""
    shown = f"one per usable CPU, here {usable_cpus()}" if default == "auto" else str(default)
    parser.add_argument("--jobs", type=_jobs, default=default, metavar="N",
                        help=f"run {what} on N local worker processes (default: {shown}; 1 runs them "
                             "in this process)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help=f"run {what} on the dask.distributed cluster at ADDRESS (tcp://HOST:PORT)")


_ADDRESS = re.compile(r"(?:(?:tcp|tls)://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})")


def check_address(address: str) -> str:
    """A scheduler address ``[tcp://|tls://]HOST:PORT``, checked before any connection is tried."""
    m = _ADDRESS.fullmatch(address.strip())
    if not m or not 0 < int(m.group(1)) < 65536:
        raise UsageError(f"--scheduler: expected an address like tcp://HOST:PORT, got {address!r}")
    return address.strip()


def engine_from_args(a, tasks: int | None = None) -> Engine:
    """The engine the options ask for; ``--jobs auto`` uses no more workers than ``tasks``."""
    if a.scheduler is not None and a.jobs not in (1, "auto"):
        raise UsageError("--jobs and --scheduler: give one (--scheduler uses the cluster's workers)")
    if a.scheduler is not None:
        return Engine(1, check_address(a.scheduler))
    jobs = a.jobs
    if jobs == "auto":
        jobs = max(1, min(usable_cpus(), tasks if tasks is not None else usable_cpus()))
    return Engine(jobs)


def _jobs(s):
    import argparse
    if s == "auto":
        return s
    try:
        v = int(s)
    except ValueError:
        v = 0
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}")
    return v


def verify_claims(claim_ids: Sequence[str], profile: str, seed: int, dps: int, timeout: float = 600.0) -> list:
    """Claims on a worker, in order: the same :class:`Result` each as ``run_claim`` in the parent
    process. One task holds the claims that share an experiment (``Claim.shares``)."""
    import warnings
    from ._registry import CLAIMS, load
    from ._runner import RunOptions, run_claim
    load(sorted({c.split(".")[0] for c in claim_ids}), "claims")
    with warnings.catch_warnings():
        # Hypothesis compares the global `random` state before and after each draw; a dask worker's
        # own threads use `random` meanwhile, so it warns about strategies that never touch it.
        # The draws come from Hypothesis' own generator and are unaffected.
        warnings.filterwarnings("ignore", message="Do not use the `random` module inside strategies")
        opts = RunOptions(profile=profile, seed=seed, dps=dps, timeout=timeout)
        return [run_claim(CLAIMS[c], opts) for c in claim_ids]


def share_groups(claims: Sequence) -> list[list[int]]:
    """Indices of ``claims`` in tasks: one per claim, except that claims naming the same
    ``shares`` go together (in their order), where the first to run computes what the others
    reuse; on separate workers each would compute it again."""
    groups: dict = {}
    for i, c in enumerate(claims):
        groups.setdefault(getattr(c, "shares", "") or ("", c.id), []).append(i)
    return sorted(groups.values())


def run_in_order(engine: Engine, fn: Callable, calls: Sequence[tuple[tuple, dict]],
                 on_result: Callable[[int, object], None],
                 on_finish: Callable[[int, object], None] | None = None,
                 priorities: Iterable[float] | None = None, names: Sequence[str] | None = None) -> None:
    """Run ``calls`` on ``engine``. ``on_finish(i, r)`` is called as each call ends (to save it);
    ``on_result(i, r)`` in index order, buffering results that finish early, so that what it
    prints is the same on every engine."""
    ready: dict = {}
    nxt = 0
    pri = list(priorities) if priorities is not None else None
    for i, r in engine.imap_unordered(fn, calls, pri, names):
        if on_finish is not None:
            on_finish(i, r)
        ready[i] = r
        while nxt in ready:
            on_result(nxt, ready.pop(nxt))
            nxt += 1
