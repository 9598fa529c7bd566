"""``python -m data_curation build --engine ray``: the per-clip work as Ray tasks, shards written by the driver.

The plan, the shard layout and the summary files are the local engine's (data_curation/build.py); only where
``curate_clip`` runs changes, so both engines write the same bytes (a clip's samples do not depend on the process
that made them: one torch thread each). Results come back as they complete; the driver puts each back in its
place in the plan, so a shard's clips are always in plan order.

- no ``--address``: a local Ray with ``--workers`` CPUs is started, and stopped at the end;
- ``--address auto``: the cluster this machine belongs to (``RAY_ADDRESS``, else the last ``ray start``);
- ``--address HOST:PORT`` (the head's GCS port, 6379 by default) or ``ray://HOST:PORT`` (Ray Client).

``--workers N`` is the number of tasks in flight (one CPU each). An address that does not answer is a one-line
``ValueError`` before any output is written. A driver that is already connected (``ray.init`` called by the
caller) is used as it is and left connected.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["RayRunner", "import_ray"]

INSTALL = 'pip install -e ".[ray]"'
CONNECT_TIMEOUT_S = 5.0


def import_ray():
    """The ``ray`` module, or a one-line ``ValueError`` that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ValueError(f"--engine ray: the ray package is not installed; {INSTALL}") from None
    return ray


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300] or type(err).__name__


def _host_port(address: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``ray://HOST:PORT`` -> (host, port); ``ValueError`` for anything else."""
    rest = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--address {address}: expected auto, HOST:PORT or ray://HOST:PORT")
    return host.strip("[]"), int(port)


def _resolve_auto(ray) -> str:
    """The ``host:port`` that ``ray.init(address="auto")`` would connect to."""
    try:
        from ray._private.services import canonicalize_bootstrap_address_or_die
    except ImportError:  # a Ray without this helper: ray.init reports it itself
        return "auto"
    try:
        return canonicalize_bootstrap_address_or_die("auto")
    except (ConnectionError, ValueError) as err:
        raise ValueError(f"--address auto: no running Ray cluster found ({_one_line(err)}); start one with "
                         "`ray start --head` or give --address HOST:PORT") from None


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """A TCP connection to the address's port, so that a wrong address fails in seconds: ``ray.init`` itself
    waits for minutes on an address where nothing answers."""
    host, port = _host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as err:
        reason = "timed out" if isinstance(err, TimeoutError) else (err.strerror or _one_line(err))
        raise ValueError(f"--address {address}: no Ray cluster answers at {host}:{port} ({reason})") from None


def _run(fn: Callable, task: Any) -> Any:
    """The body of one Ray task: ``fn(task)`` on one torch thread, as the local pool's workers run it."""
    import torch

    torch.set_num_threads(1)
    return fn(task)


class RayRunner:
    """Runs ``fn(task)`` for a list of tasks on Ray, at most ``workers`` at a time; ``close()`` cancels what is
    still running and stops a Ray this runner started."""

    def __init__(self, ray, workers: int, started: bool):
        self._ray, self.workers, self.started = ray, workers, started
        self._pending: dict = {}  # ObjectRef -> task index
        self._remote = ray.remote(num_cpus=1)(_run)

    @classmethod
    def connect(cls, address: str | None, workers: int) -> RayRunner:
        """Connects to ``address`` (``None``: starts a local Ray with ``workers`` CPUs); ``ValueError`` (one
        line) if ray is missing or the cluster cannot be reached."""
        ray = import_ray()
        if address is not None:  # checked even when already connected: a wrong address is always an error
            check_reachable(_resolve_auto(ray) if address == "auto" else address)
        if ray.is_initialized():
            return cls(ray, workers, started=False)
        quiet = {"logging_level": logging.ERROR, "include_dashboard": False}
        try:
            if address is None:
                ray.init(address="local", num_cpus=workers, **quiet)
            else:
                ray.init(address=address, **quiet)
        except Exception as err:  # a version mismatch, refused authentication, no room for a local Ray
            if ray.is_initialized():  # half connected: leave nothing running
                ray.shutdown()
            if address is None:
                raise ValueError(f"--engine ray: could not start a local Ray: {_one_line(err)}") from None
            raise ValueError(f"--address {address}: {_one_line(err)} (the same Ray version there? a cluster with "
                             "token authentication also needs RAY_AUTH_MODE=token and its token here)") from None
        return cls(ray, workers, started=True)

    def imap_unordered(self, fn: Callable, tasks: list) -> Iterator[tuple[int, Any]]:
        """Yields ``(index, fn(tasks[index]))`` as results complete, ``workers`` tasks in flight. A task's own
        exception is raised here (Ray's error type is a subclass of the task's)."""
        ray = self._ray
        queue = iter(enumerate(tasks))
        for i, task in queue:
            self._pending[self._remote.remote(fn, task)] = i
            if len(self._pending) >= self.workers:
                break
        while self._pending:
            (ready,), _ = ray.wait(list(self._pending), num_returns=1)
            i = self._pending.pop(ready)
            result = ray.get(ready)
            nxt = next(queue, None)
            if nxt is not None:
                self._pending[self._remote.remote(fn, nxt[1])] = nxt[0]
            yield i, result

    def close(self) -> None:
        ray = self._ray
        for ref in list(self._pending):
            try:
                ray.cancel(ref, force=True)
            except Exception:  # already finished or its worker already gone
                pass
        self._pending.clear()
        if self.started:
            ray.shutdown()
