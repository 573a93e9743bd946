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
from collections import deque
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
            if thread.is_alive():  # still in the model: it takes the rest, then the None
                return
        while True:  # what was left behind (a camera still waiting answers its own request)
            try:
                left = self._q.get_nowait()
            except queue.Empty:
                break
            if left is not None:
                left.faces = []

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
        thread = self._thread
        if thread is None:  # not started (or stopped): in this thread
            return self.estimator.predict_faces(faces)
        req = _Request(list(faces))
        while True:  # bounded: waits while the age model is behind
            try:
                self._q.put(req, timeout=0.1)
                break
            except queue.Full:
                if not thread.is_alive():
                    return self.estimator.predict_faces(faces)
        while not req.done.wait(0.1):
            # stopped between the check above and the put, or with this request still queued: nobody will answer
            if not thread.is_alive() and not req.done.is_set():
                req.faces = []  # the queue may still hold the request: not the faces
                return self.estimator.predict_faces(faces)
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
                r.faces = []  # the frames they hold are not kept past their batch
                r.done.set()


class Slots:
    """At most ``n`` frames in the models at once (across cameras); ``n`` ≤ 0: one per CPU core. First come,
    first served: a freed slot goes to the camera that has waited longest (a semaphore lets the camera that
    just released it take it straight back, and with fewer slots than cameras one door could go blind)."""

    def __init__(self, n: int):
        self.n = n if n > 0 else cores()
        self._free = self.n
        self._waiting: deque[threading.Event] = deque()
        self._lock = threading.Lock()

    def __enter__(self) -> Slots:
        with self._lock:
            if self._free > 0 and not self._waiting:
                self._free -= 1
                return self
            turn = threading.Event()
            self._waiting.append(turn)
        turn.wait()  # the slot is handed over by __exit__
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._free += 1


def cores() -> int:
    """The CPU cores this process may run on (its affinity, e.g. a container's cpuset), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
