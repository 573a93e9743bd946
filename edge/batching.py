"""One age batch for the faces of every camera (``AgeBatcher``), and a bound on concurrent frames.

With several cameras on one agent, each camera's worker thread runs its own frame through detection
and alignment; the faces it finds go to ``AgeBatcher.predict_faces``, which hands them to one batching
thread. That thread runs the age model(s) once on the faces of every camera that asked within
``max_wait_s`` (it stops waiting early once every camera that is mid-frame has asked), and gives each
camera its own rows back. The queue is bounded (``max_pending`` requests): a camera that outruns the age
model waits for it rather than piling faces up in memory. Faces live only in memory, as before.

Every estimator takes a list of ``FaceView`` (each with its own frame), so faces of different cameras
batch together whatever the model; a model that scores faces one by one (insightface genderage) gains
nothing and loses nothing.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from humiao.edge.age import N_AGES, FaceAges
from humiao.edge.types import FaceView


@dataclass
class _Request:
    faces: list[FaceView]
    done: threading.Event = field(default_factory=threading.Event)
    result: np.ndarray | None = None
    error: BaseException | None = None


class AgeBatcher:
    """The shared age estimator behind the estimator interface (``predict_faces``), batching across cameras."""

    def __init__(
        self,
        estimator: FaceAges,
        max_wait_s: float = 0.004,
        max_faces: int = 32,
        max_pending: int = 32,
        on_batch: Callable[[int], None] | None = None,
    ):
        self.estimator = estimator
        self.name = getattr(estimator, "name", "age")
        self.max_wait_s, self.max_faces = max_wait_s, max_faces
        self.on_batch = on_batch  # e.g. the agent's batch-size histogram
        self._q: queue.Queue[_Request | None] = queue.Queue(max_pending)
        self._busy = 0  # cameras mid-frame: the most requests worth waiting for
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.faces = 0

    def start(self) -> AgeBatcher:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="edge-age-batch", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._q.put(None)
            thread.join(timeout=10)

    @contextmanager
    def frame(self) -> Iterator[None]:
        """Around one camera's frame: while it is inside, the batcher may wait for its faces."""
        with self._lock:
            self._busy += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1

    def predict_faces(self, faces: Sequence[FaceView]) -> np.ndarray:
        if not faces:
            return np.zeros((0, N_AGES), dtype=np.float32)
        if self._thread is None:  # not started (or stopped): in this thread
            return self.estimator.predict_faces(faces)
        req = _Request(list(faces))
        self._q.put(req)  # bounded: blocks while the age model is behind
        req.done.wait()
        if req.error is not None:
            raise req.error
        assert req.result is not None
        return req.result

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._q.get()
            if first is None:
                return
            batch, n = [first], len(first.faces)
            deadline = time.monotonic() + self.max_wait_s
            while n < self.max_faces and len(batch) < self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    nxt = self._q.get(timeout=remaining)
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
                n += len(nxt.faces)
            self._answer(batch, n)

    def _answer(self, batch: list[_Request], n: int) -> None:
        try:
            probs = self.estimator.predict_faces([f for r in batch for f in r.faces])
            start = 0
            for r in batch:
                r.result, start = probs[start : start + len(r.faces)], start + len(r.faces)
            self.batches += 1
            self.faces += n
            if self.on_batch is not None:
                self.on_batch(n)
        except BaseException as err:  # the cameras that asked raise it in their own threads
            for r in batch:
                r.error = err
        finally:
            for r in batch:
                r.done.set()


class Slots:
    """At most ``n`` frames in the models at once (across cameras); ``n`` ≤ 0: one per CPU core."""

    def __init__(self, n: int):
        self.n = n if n > 0 else cores()
        self._sem = threading.BoundedSemaphore(self.n)

    def __enter__(self) -> Slots:
        self._sem.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self._sem.release()


def cores() -> int:
    """The CPU cores this process may run on (its affinity, e.g. a container's cpuset), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
