"""Judges a worker-pool trace against the contract, rule by rule, and tells it in words.

The driver plays a scenario in virtual time and returns its events in the order
they happened, each with its virtual time. Virtual time moves only when every task
waits, so the end of an instant is a quiet moment: the state there is what the
statement's rules speak of ("at a quiet moment submit returns at once exactly
when …"). The judge replays the events, keeps the pool's observable state (running,
queued, waiting submitters, closing) and records every broken rule as a
``Violation`` tagged with the check that owns it. It knows nothing of how a pool is
built; it only knows what the statement promises.

Generated scenarios never put a director action in the same instant as a job's end
(actions sit at distinct fractions of a second, jobs last whole seconds), so what
happens in one instant never depends on which of two unrelated wake-ups ran first.
The director lets the pool settle after every action, so a caller it cancels (a task
waiting in submit, result() or close()) is cancelled at a quiet moment: it was
waiting because there was nothing to give it, and the only right answer is to leave at
once with the cancellation — or, for submit, with a Job the pool took in that very
step (trio lets an operation that completed return instead of raising).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Tags: which check owns a broken rule.
BOUND, REUSE, QUEUE, FIFO, ERRORS, COMPLETE, EXIT = (
    "bound",
    "reuse",
    "queue",
    "fifo",
    "errors",
    "complete",
    "exit",
)
CANCEL, CLOSE, EXIT_ERROR, OUTER, LEAKS, CALLER, CRASH = (
    "cancel",
    "close",
    "exit_error",
    "outer_cancel",
    "leaks",
    "caller_cancel",
    "crash",
)
PART1_TAGS = frozenset({BOUND, REUSE, QUEUE, FIFO, ERRORS, COMPLETE, EXIT, CRASH})
ALL_TAGS = PART1_TAGS | {CANCEL, CLOSE, EXIT_ERROR, OUTER, LEAKS, CALLER}
# How the block must end → the check that owns a wrong ending.
EXIT_TAGS = {"normal": EXIT, "raise": EXIT_ERROR, "outer": OUTER}


def describe_job(i: int, job: dict[str, Any]) -> str:
    end = job["end"]
    if end == "not_async":
        return f"job {i} (a plain function, not async: awaiting it is a TypeError)"
    if end == "group":
        return f"job {i} ({job['d']:g} s, then raises an ExceptionGroup)"
    if end == "error_now":
        return f"job {i} (raises JobError before its first await)"
    verb = {
        "error": "raises JobError",
        "none": "returns None",
        "self_cancel": "raises a cancellation of its own",
    }.get(end, "returns its value")
    return f"job {i} ({job['d']:g} s, then {verb})"


@dataclass
class Violation:
    tag: str
    time: float
    text: str


@dataclass
class JobState:
    call_t: float | None = None
    call_seq: int = -1
    method: str = ""
    accepted_t: float | None = None
    refused: str | None = None
    starts: int = 0
    end_t: float | None = None
    end_how: str | None = None
    refused_t: float | None = None
    cancelled_queued_t: float | None = None  # Job.cancel() while it waited
    killed_t: float | None = None  # the pool cancelled everything while it waited
    cancel_asked_t: float | None = None  # Job.cancel() while it ran
    caller_cancelled_t: float | None = None  # the task waiting in its submit() was cancelled
    left_t: float | None = None  # and its submit() raised that cancellation


@dataclass
class Waiter:
    """A task beside the block waiting in ``result()`` of one job."""

    job: int
    t: float
    cancelled_t: float | None = None  # the director cancelled it while it waited
    left_t: float | None = None  # result() raised that cancellation
    returned_t: float | None = None
    got: str = ""


@dataclass
class Judge:
    scenario: dict[str, Any]
    events: list[list[Any]]
    violations: list[Violation] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workers = int(self.scenario["workers"])
        self.queue_size = int(self.scenario["queue_size"])
        self.jobs: dict[int, JobState] = {}
        self.closing_t: float | None = None  # no more jobs accepted from here on
        self.cancelling_t: float | None = None  # and none starts; running ones are cancelled
        self.cancel_cause = CLOSE
        self.exit_t: float | None = None
        self.exit_detail = ""
        self.leave_t: float | None = None
        self.raise_t: float | None = None
        self.tombstones: set[int] = set()
        self.closes: dict[int, dict[str, Any]] = {}
        self.waiters: dict[int, Waiter] = {}
        self.first_caller_cancel = float("inf")  # when the first waiting caller was cancelled
        self.running: set[int] = set()
        self.started_in_instant: list[int] = []
        self.outcomes: dict[int, tuple[bool, list[str]]] = {}
        self.scope_caught = False
        self.tasks_left = ""
        self.stuck_after: list[tuple[str, int]] = []  # ("pending" | "close_pending", number)
        self.outer_at = self.scenario.get("outer_cancel_at")
        self.horizon = float(self.scenario.get("horizon", float("inf")))
        # What the pool looked like when the latest submit_nowait was called.
        self._nowait_state: tuple[bool, bool] = (False, False)
        self._judge()

    # -- reporting ------------------------------------------------------------

    def fail(self, tag: str, t: float, text: str) -> None:
        self.violations.append(Violation(tag, t, text))

    def of(self, tags: frozenset[str] | set[str]) -> list[Violation]:
        return [v for v in self.violations if v.tag in tags]

    def job_words(self, i: int) -> str:
        return describe_job(i, self.scenario["jobs"][i])

    # -- state ----------------------------------------------------------------

    def job(self, i: int) -> JobState:
        return self.jobs.setdefault(i, JobState())

    def queued(self) -> list[int]:
        """Accepted, not started, not ended by a cancellation: waiting for a worker."""
        return [
            i
            for i, s in self.jobs.items()
            if s.accepted_t is not None
            and s.starts == 0
            and s.cancelled_queued_t is None
            and s.killed_t is None
        ]

    def blocked(self) -> list[int]:
        """Submitters still waiting for an answer."""
        return [
            i
            for i, s in self.jobs.items()
            if s.call_t is not None
            and s.accepted_t is None
            and s.refused is None
            and s.left_t is None
        ]

    def room(self) -> bool:
        """Room even if every cancelled job that may still hold a queue place does."""
        return len(self.running) < self.workers or (
            len(self.queued()) + len(self.tombstones) < self.queue_size
        )

    def _close_at(self, t: float) -> None:
        """The pool stops accepting at ``t``, unless it already had."""
        if self.closing_t is None:
            self.closing_t = t

    def _outer_reached(self, t: float) -> None:
        """From the outer deadline on, the pool is cancelling (the first event there says so)."""
        if self.outer_at is not None and t >= self.outer_at and self.cancelling_t is None:
            self._kill_queued(self.outer_at, OUTER)

    def _kill_queued(self, t: float, cause: str) -> None:
        self._close_at(t)
        if self.cancelling_t is None:
            self.cancelling_t = t
            self.cancel_cause = cause
        for i in self.queued():
            self.jobs[i].killed_t = t

    # -- the walk -------------------------------------------------------------

    def _judge(self) -> None:
        current: float | None = None
        after_exit = False
        collecting = False
        for seq, (t, kind, i, detail) in enumerate(self.events):
            if not after_exit and current is not None and t != current:
                self._end_of_instant(current)
            current = t
            if kind == "exit":
                self._end_of_instant(t, exiting=True)
                self.exit_t, self.exit_detail = t, detail
                after_exit = True
                continue
            if kind == "outcomes":
                collecting = True
                continue
            if kind == "after":
                collecting = False
                continue
            if kind == "outcome":
                done, *seen = detail.split("|")
                self.outcomes[i] = (done == "done", seen)
                continue
            if kind in ("pending", "close_pending"):
                self.stuck_after.append((kind, i))
                continue
            if kind in ("waited", "wait_cancelled", "wait_pending"):
                self._waiter_answer(t, kind, i, detail)
                continue
            if kind == "scope_caught":
                self.scope_caught = True
                continue
            if kind == "tasks_left":
                self.tasks_left = detail
                continue
            if collecting:
                continue
            self._event(seq, t, kind, i, detail, after_exit)
        self._final()

    def _event(self, seq: int, t: float, kind: str, i: int, detail: str, after_exit: bool) -> None:
        if t >= self.horizon:
            return  # the driver gave up on the block here: said once, as "never ended"
        if after_exit and kind in ("start", "accepted"):
            self.fail(LEAKS, t, f"{self.job_words(i)}: {kind} after the block had ended")
        self._outer_reached(t)
        if kind == "call":
            s = self.job(i)
            s.call_t, s.call_seq, s.method = t, seq, detail
            if detail == "submit_nowait":  # judged on its answer, against the state now
                self._nowait_state = (self.room(), bool(self.blocked()))
        elif kind == "accepted":
            s = self.job(i)
            s.accepted_t = t
            if self.closing_t is not None and self.cancel_cause == OUTER and t == self.outer_at:
                # The outer cancellation reaches the pool's own tasks in the same instant
                # as the block: a worker may free a place before __aexit__ runs. Such a
                # job must never start and must end cancelled — nothing more can be asked.
                s.killed_t = t
            elif self.closing_t is not None:
                self.fail(CLOSE, t, f"{s.method}({self.job_words(i)}) was accepted after close")
            if s.method == "submit_nowait" and self.blocked():
                waiting = ", ".join(f"job {j}" for j in self.blocked())
                self.fail(
                    FIFO,
                    t,
                    f"submit_nowait(job {i}) got in ahead of {waiting}, whose submit() waited for room",
                )
        elif kind == "refused":
            self._refused(t, i, detail)
        elif kind == "start":
            self._start(t, i)
        elif kind == "end":
            self._end(t, i, detail)
        elif kind == "cancel":
            self._cancel(t, i, detail)
        elif kind == "close":
            self.closes[i] = {"t": t, "cancel": detail == "cancel", "returned": None}
            self._close_at(t)
            if detail == "cancel":
                self._kill_queued(t, CLOSE)
        elif kind == "closed":
            self.closes[i]["returned"] = t
        elif kind == "close_raised":
            if self.closes[i].get("cancelled") is None:  # else judged with the cancelled callers
                self.fail(CLOSE, t, f"close() raised {detail}")
            self.closes[i]["returned"] = t
            self.closes[i]["raised"] = detail
        elif kind == "close_cancelled":
            self.closes[i]["left"] = t
        elif kind == "submit_cancelled":
            self.job(i).left_t = t
        elif kind == "wait":
            self.waiters[int(detail[1:])] = Waiter(job=i, t=t)
        elif kind == "cancel_caller":
            self._caller_cancelled(t, i, detail)
        elif kind == "job_done":
            self._job_done_after_waiter(t, i, detail)
        elif kind == "raise":
            self.raise_t = t
            self._kill_queued(t, EXIT_ERROR)
        elif kind == "leave":
            self.leave_t = t
            self._close_at(t)

    def _refused(self, t: float, i: int, name: str) -> None:
        s = self.job(i)
        s.refused, s.refused_t = name, t
        words = f"{s.method}({self.job_words(i)})"
        if s.caller_cancelled_t is not None:
            return  # its caller was cancelled: judged with the cancelled callers
        if self.closing_t is not None:
            if name != "PoolClosed":
                self.fail(CLOSE, t, f"{words} raised {name}, not PoolClosed, after close")
            return
        if name == "PoolClosed":
            self.fail(QUEUE, t, f"{words} raised PoolClosed although nothing had closed the pool")
        elif name == "WouldBlock" and s.method == "submit_nowait":
            room, waiting = self._nowait_state
            if room and not waiting:
                self.fail(
                    QUEUE,
                    t,
                    f"{words} raised WouldBlock although there was room ({self._load_words()})",
                )
        else:
            self.fail(QUEUE, t, f"{words} raised {name}")

    def _caller_cancelled(self, t: float, i: int, detail: str) -> None:
        """The director cancelled a caller: ``detail`` is ``submit``, ``result|wN`` or
        ``close``, with ``|answered`` when that call had already returned (nothing to judge)."""
        of, *rest = detail.split("|")
        if "answered" in rest:
            return
        self.first_caller_cancel = min(self.first_caller_cancel, t)
        if of == "submit":
            self.job(i).caller_cancelled_t = t
        elif of == "result":
            self.waiters[int(rest[0][1:])].cancelled_t = t
        else:
            self.closes[i]["cancelled"] = t

    def _job_done_after_waiter(self, t: float, i: int, detail: str) -> None:
        """Right after a waiter of job ``i`` left with its cancellation: the job must go on."""
        s = self.job(i)
        done = self._done_time(s)
        if detail != "done" or (done is not None and done <= t):
            return
        self.fail(
            CALLER,
            t,
            f"right after the task waiting in result() of {self.job_words(i)} was cancelled, "
            f"job.done was True: cancelling a waiter ended the job, which must go on",
        )
        if not s.starts:  # ended while queued: nothing else is to blame for what follows
            s.cancelled_queued_t = t
            self.tombstones.add(i)

    def _waiter_answer(self, t: float, kind: str, i: int, detail: str) -> None:
        number, _, got = detail.partition("|")
        w = self.waiters.get(int(number[1:]))
        if w is None:
            return
        if kind == "waited":
            w.returned_t, w.got = t, got
        elif kind == "wait_cancelled":
            w.left_t = t
        # "wait_pending": still waiting when the play was over (returned_t stays None)

    def _blame(self, i: int, t: float) -> str | None:
        """A cancelled caller that job ``i``'s fate by ``t`` may come from, in words."""
        for w in self.waiters.values():
            if w.job == i and w.cancelled_t is not None and w.cancelled_t <= t:
                return f"a task waiting in its result() was cancelled at t={w.cancelled_t:g}"
        for c in self.closes.values():
            cancelled = c.get("cancelled")
            if cancelled is not None and cancelled <= t and not c["cancel"]:
                return f"the caller of a plain close() was cancelled at t={cancelled:g}"
        return None

    def _load_words(self) -> str:
        return (
            f"{len(self.running)} of {self.workers} workers busy, "
            f"{len(self.queued())} of {self.queue_size} queue places taken"
        )

    def _start(self, t: float, i: int) -> None:
        s = self.job(i)
        s.starts += 1
        words = self.job_words(i)
        if s.starts > 1:
            self.fail(COMPLETE, t, f"{words} started a second time")
            return
        self.started_in_instant.append(i)
        if s.refused is not None:
            self.fail(COMPLETE, t, f"{words} started although its {s.method} raised {s.refused}")
        if s.left_t is not None:
            self.fail(
                CALLER,
                t,
                f"{words} started, although its submit() had left with the cancellation of "
                f"its caller at t={s.left_t:g}: a cancelled submit must leave no job behind",
            )
        if s.cancelled_queued_t is not None:
            self.fail(CANCEL, t, f"{words} started although it was cancelled while it waited")
        elif self.cancelling_t is not None and t >= self.cancelling_t:
            why = {
                CLOSE: "close(cancel=True)",
                EXIT_ERROR: "an exception left the block",
                OUTER: "the enclosing scope was cancelled",
            }[self.cancel_cause]
            self.fail(
                self.cancel_cause, t, f"{words} started after {why}: queued jobs must never start"
            )
        self.running.add(i)
        self.tombstones -= {j for j in self.tombstones if self.jobs[j].call_seq < s.call_seq}
        if len(self.running) > self.workers:
            others = ", ".join(f"job {j}" for j in sorted(self.running - {i}))
            self.fail(
                BOUND,
                t,
                f"{words} started while {others} still ran: {len(self.running)} jobs at once "
                f"with workers={self.workers}",
            )

    def _end(self, t: float, i: int, how: str) -> None:
        s = self.job(i)
        s.end_t, s.end_how = t, how
        self.running.discard(i)
        if how == "cancelled":
            caused = (s.cancel_asked_t is not None) or (
                self.cancelling_t is not None and t >= self.cancelling_t
            )
            if not caused:
                blame = self._blame(i, t)
                self.fail(
                    COMPLETE if blame is None else CALLER,
                    t,
                    f"{self.job_words(i)} was cancelled, but nothing cancelled it"
                    + ("" if blame is None else f" — only {blame}, which must not touch the job"),
                )

    def _cancel(self, t: float, i: int, detail: str) -> None:
        s = self.job(i)
        words = self.job_words(i)
        if detail.startswith("raised"):
            self.fail(CANCEL, t, f"Job.cancel() on {words} {detail}")
            return
        if s.end_t is not None or s.cancelled_queued_t is not None or s.killed_t is not None:
            return  # done already: nothing must change (judged by its outcome)
        if s.starts:
            s.cancel_asked_t = t
            return
        if s.accepted_t is None:
            return
        s.cancelled_queued_t = t
        self.tombstones.add(i)
        if detail != "done":
            self.fail(CANCEL, t, f"right after Job.cancel() on queued {words}, job.done was False")

    def _end_of_instant(self, t: float, *, exiting: bool = False) -> None:
        """The rules about quiet moments, judged on the state at the end of instant ``t``."""
        self._outer_reached(t)
        # Order: b started while a, called before it and still owed a start, waited.
        for b in self.started_in_instant:
            sb = self.jobs[b]
            for a, sa in self.jobs.items():
                # The director settles after every action, so an earlier call has
                # been accepted or is waiting for room by the time the next is made.
                if a == b or sa.call_t is None or sa.call_seq >= sb.call_seq:
                    continue
                if sa.refused is not None or sa.starts or sa.cancelled_queued_t is not None:
                    continue
                if sa.left_t is not None:
                    continue
                if sa.killed_t is not None:
                    continue
                self.fail(
                    FIFO,
                    t,
                    f"{self.job_words(b)} started while {self.job_words(a)}, submitted before it, "
                    f"still waited",
                )
        self.started_in_instant.clear()
        if exiting:
            return
        queued = self.queued()
        if len(queued) > self.queue_size:
            self.fail(
                QUEUE,
                t,
                f"{len(queued)} jobs accepted but not started (jobs {', '.join(map(str, queued))}) "
                f"with queue_size={self.queue_size}",
            )
        if self.cancelling_t is not None and t >= self.cancelling_t:
            for i in sorted(self.running):
                self.fail(
                    self.cancel_cause,
                    t,
                    f"{self.job_words(i)} still ran after the pool cancelled its jobs",
                )
        for i in sorted(self.running):
            asked = self.jobs[i].cancel_asked_t
            if asked is not None and asked <= t:
                self.fail(
                    CANCEL, t, f"{self.job_words(i)} still ran after Job.cancel() at t={asked:g}"
                )
        if len(self.running) < self.workers and queued and self.cancelling_t is None:
            self.fail(
                REUSE,
                t,
                f"{len(self.running)} of {self.workers} workers busy while job {queued[0]} waited "
                f"in the queue: a free worker must take it at once",
            )
        for i in self.blocked():
            if self.closing_t is not None and t >= self.closing_t:
                self.fail(
                    CLOSE,
                    t,
                    f"submit({self.job_words(i)}) still waited after the pool began closing",
                )
            elif self.room():
                self.fail(
                    QUEUE,
                    t,
                    f"submit({self.job_words(i)}) waited although there was room ({self._load_words()})",
                )
        if len(self.running) < self.workers:
            self.tombstones.clear()

    # -- after the block -------------------------------------------------------

    def _expected_exit(self) -> tuple[str, float | None]:
        """How the block must end: ``normal``, ``raise`` or ``outer``, and when (None: judged otherwise)."""
        if self.raise_t is not None and (self.outer_at is None or self.raise_t < self.outer_at):
            return "raise", self.raise_t
        if self.outer_at is not None:
            if (
                self.exit_t is not None
                and self.exit_t < self.outer_at
                and self.exit_detail == "normally"
            ):
                return "normal", None
            return "outer", self.outer_at
        return "normal", None

    def _final(self) -> None:
        if self.exit_t is None:
            self.fail(CRASH, self.events[-1][0] if self.events else 0.0, "the block never ended")
            return
        mode, when = self._expected_exit()
        exit_tag = EXIT_TAGS[mode]
        if self.exit_t >= self.horizon:
            waiting = [
                self.job_words(i)
                for i, s in sorted(self.jobs.items())
                if s.accepted_t is not None and self._done_time(s) is None
            ]
            self.fail(
                exit_tag,
                self.exit_t,
                f"the block never ended: still waiting at t={self.horizon:g}"
                + (f" for {', '.join(waiting)}" if waiting else ""),
            )
            return
        if mode == "raise":
            if self.exit_detail != "the same exception":
                self.fail(
                    EXIT_ERROR,
                    self.exit_t,
                    f"the exception raised in the block left it as {self.exit_detail}",
                )
        elif mode == "outer":
            if self.exit_detail != "a cancellation":
                self.fail(
                    OUTER,
                    self.exit_t,
                    f"the cancelled block ended by {self.exit_detail}, not by the cancellation",
                )
            elif not self.scope_caught:
                self.fail(OUTER, self.exit_t, "the enclosing scope did not catch its cancellation")
        else:
            self._judge_normal_exit()
        if when is not None and self.exit_t > when:  # raise and outer: at once
            self.fail(
                exit_tag, self.exit_t, f"the block ended only at t={self.exit_t:g}, not at once"
            )
        if self.tasks_left:
            self.fail(
                LEAKS,
                self.exit_t,
                f"tasks of the pool still alive after the block: {self.tasks_left}",
            )
        for kind, i in self.stuck_after:
            if kind == "pending" and self.jobs[i].caller_cancelled_t is None:
                self.fail(
                    exit_tag,
                    self.exit_t,
                    f"submit({self.job_words(i)}) still waited after the block ended",
                )
            elif kind == "close_pending" and self.closes[i].get("cancelled") is None:
                self.fail(CLOSE, self.exit_t, f"close() #{i} still waited after the block ended")
        self._judge_closes()
        self._judge_outcomes(exit_tag)
        self._judge_cancelled_callers()
        self._judge_waiters()

    def _judge_normal_exit(self) -> None:
        assert self.exit_t is not None
        if self.exit_detail != "normally":
            failed = any(self.scenario["jobs"][i]["end"] != "value" for i in self.jobs)
            self.fail(
                ERRORS if failed else EXIT, self.exit_t, f"the block ended by {self.exit_detail}"
            )
            return
        last = max(
            [self.leave_t or 0.0] + [s.end_t for s in self.jobs.values() if s.end_t is not None]
        )
        if self.exit_t > last:
            self.fail(
                EXIT,
                self.exit_t,
                f"the block ended at t={self.exit_t:g}, later than its last job (t={last:g})",
            )

    def _done_time(self, s: JobState) -> float | None:
        for t in (s.end_t, s.cancelled_queued_t, s.killed_t):
            if t is not None:
                return t
        return None

    def _judge_closes(self) -> None:
        assert self.exit_t is not None
        accepted = [s for s in self.jobs.values() if s.accepted_t is not None or s.starts]
        for c in self.closes.values():
            if c["returned"] is None or c.get("cancelled") is not None:
                continue  # reported as stuck, or judged with the cancelled callers
            dones = [self._done_time(s) for s in accepted if (s.accepted_t or 0) <= c["t"]]
            if any(d is None for d in dones):
                continue  # a job never ended: reported with the outcomes
            expected = max([c["t"]] + [d for d in dones if d is not None])
            what = "close(cancel=True)" if c["cancel"] else "close()"
            if c["returned"] < expected:
                self.fail(
                    CLOSE,
                    c["returned"],
                    f"{what} called at t={c['t']:g} returned at t={c['returned']:g}, before the last job ended (t={expected:g})",
                )
            elif c["returned"] > expected:
                self.fail(
                    CLOSE,
                    c["returned"],
                    f"{what} called at t={c['t']:g} returned only at t={c['returned']:g}; every job had ended at t={expected:g}",
                )

    def _want(self, s: JobState) -> tuple[list[str], str] | None:
        return _want(s, self.cancel_cause)

    def _judge_cancelled_callers(self) -> None:
        """A caller cancelled while it waited in submit() or close() leaves at once, with
        its cancellation (a submit may instead return the Job it got in that very step)."""
        assert self.exit_t is not None
        for i, s in sorted(self.jobs.items()):
            c = s.caller_cancelled_t
            if c is None:
                continue
            words = f"the caller of submit({self.job_words(i)}), waiting for room, was cancelled at t={c:g}"
            if s.left_t is not None:
                if s.left_t > c:
                    self.fail(
                        CALLER, s.left_t, f"{words}; submit() raised it only at t={s.left_t:g}"
                    )
            elif s.accepted_t is not None:
                if s.accepted_t > c:
                    self.fail(
                        CALLER,
                        s.accepted_t,
                        f"{words}; submit() went on waiting and returned a Job at t={s.accepted_t:g}",
                    )
            elif s.refused is not None:
                self.fail(
                    CALLER,
                    s.refused_t or c,
                    f"{words}; submit() raised {s.refused} instead of the cancellation",
                )
            else:
                self.fail(
                    CALLER, self.exit_t, f"{words}; submit() still waited when the block ended"
                )
        for n, close in sorted(self.closes.items()):
            c = close.get("cancelled")
            if c is None:
                continue
            words = f"the caller of close() #{n}, waiting for the jobs, was cancelled at t={c:g}"
            left, returned = close.get("left"), close["returned"]
            if left is not None:
                if left > c:
                    self.fail(CALLER, left, f"{words}; close() raised it only at t={left:g}")
            elif close.get("raised"):
                self.fail(CALLER, returned, f"{words}; close() raised {close['raised']} instead")
            elif returned is not None:
                self.fail(
                    CALLER,
                    returned,
                    f"{words}; close() returned at t={returned:g} instead of raising the "
                    "cancellation at once",
                )
            else:
                self.fail(
                    CALLER, self.exit_t, f"{words}; close() still waited when the block ended"
                )

    def _judge_waiters(self) -> None:
        """Every task waiting in result() gets the job's answer in the instant it is done;
        a cancelled one leaves at once with its cancellation."""
        assert self.exit_t is not None
        for _, w in sorted(self.waiters.items()):
            s = self.jobs[w.job]
            words = f"a task waiting in result() of {self.job_words(w.job)} since t={w.t:g}"
            c = w.cancelled_t
            if c is not None:
                if w.left_t is not None:
                    if w.left_t > c:
                        self.fail(
                            CALLER,
                            w.left_t,
                            f"{words} was cancelled at t={c:g}; result() raised it only at t={w.left_t:g}",
                        )
                elif w.returned_t is not None:
                    self.fail(
                        CALLER,
                        w.returned_t,
                        f"{words} was cancelled at t={c:g}; result() gave {w.got} at "
                        f"t={w.returned_t:g} instead of raising the cancellation",
                    )
                else:
                    self.fail(
                        CALLER,
                        self.exit_t,
                        f"{words} was cancelled at t={c:g}; result() still waited when the block ended",
                    )
                continue
            done, expected = self._done_time(s), self._want(s)
            if done is None or expected is None:
                continue  # the job itself broke a rule: said with its outcome
            due = max(w.t, done)
            late = COMPLETE if self._blame(w.job, due) is None else CALLER
            if w.returned_t is None:
                self.fail(late, due, f"{words} was never woken; the job was done at t={done:g}")
            elif w.returned_t != due:
                self.fail(
                    late,
                    w.returned_t,
                    f"{words} got its answer at t={w.returned_t:g}; the job was done at t={done:g}",
                )
            elif not _matches([w.got], expected[0][:1]):
                self.fail(
                    expected[1],
                    w.returned_t,
                    f"{words}: result() gave {w.got}; expected {expected[0][0]}",
                )

    def _judge_outcomes(self, exit_tag: str) -> None:
        assert self.exit_t is not None
        for i, s in sorted(self.jobs.items()):
            if s.accepted_t is None and not s.starts:
                continue
            if s.left_t is not None and s.accepted_t is None:
                continue  # no Job was handed out; that it ran at all was said at its start
            words = self.job_words(i)
            done, seen = self.outcomes.get(i, (False, ["never asked"]))
            if not done:
                self.fail(exit_tag, self.exit_t, f"{words} was not done when the block ended")
            if s.starts and s.end_how is None:
                self.fail(exit_tag, self.exit_t, f"{words} was still running when the block ended")
                continue
            blame = self._blame(i, self.exit_t)
            expected = self._want(s)
            if expected is None:
                if self.cancelling_t is not None and (s.accepted_t or 0) >= self.cancelling_t:
                    continue  # accepted after the pool cancelled its jobs: said when it was accepted
                self.fail(
                    COMPLETE if blame is None else CALLER,
                    self.exit_t,
                    f"{words} was accepted but never ran, and nothing cancelled it"
                    + ("" if blame is None else f" — only {blame}"),
                )
                continue
            want, tag = expected
            if tag == COMPLETE and blame is not None:
                tag = CALLER
            if not _matches(seen, want):
                self.fail(
                    tag,
                    self.exit_t,
                    f"{words}: result() gave {' / then '.join(seen)}; expected {' / then '.join(want)}",
                )


def _want(s: JobState, cancel_cause: str) -> tuple[list[str], str] | None:
    """What two result() calls on a job that ended as ``s`` did must give, and the check
    that owns a wrong answer; None when the job never ran and nothing ended it."""
    if s.end_how == "returned":
        return ["its value", "its value"], COMPLETE
    if s.end_how == "raised":
        return ["its exception", "its exception (same object)"], ERRORS
    if s.end_how == "returned a non-awaitable":
        return ["TypeError", "TypeError (same object)"], ERRORS
    if s.end_how == "cancelled itself":
        return ["JobCancelled", "JobCancelled"], ERRORS
    if s.end_how == "cancelled" or (
        not s.starts and (s.cancelled_queued_t is not None or s.killed_t is not None)
    ):
        asked = s.cancelled_queued_t is not None or s.cancel_asked_t is not None
        return ["JobCancelled", "JobCancelled"], CANCEL if asked else cancel_cause
    if not s.starts:
        return None
    return [f"({s.end_how})"], COMPLETE


def _matches(seen: list[str], want: list[str]) -> bool:
    if len(seen) != len(want):
        return False
    for got, expected in zip(seen, want, strict=True):
        if expected.startswith("TypeError"):
            if not got.startswith("raised TypeError") or got.endswith("(another object)"):
                return False
        elif got != expected:
            return False
    return True


def _cancel_caller_words(i: int, detail: str) -> str:
    of, *rest = detail.split("|")
    who = {
        "submit": f"the task waiting in submit(job {i})",
        "result": f"the task ({rest[0] if rest else '?'}) waiting in result() of job {i}",
        "close": f"the task waiting in close() #{i}",
    }.get(of, f"a task in {of}")
    if "answered" in rest:
        return f"{who} would be cancelled, but its call had already returned"
    return f"{who} is cancelled"


def tell(scenario: dict[str, Any], events: list[list[Any]]) -> list[str]:
    """The trace in plain words, one line per event, as the report shows it."""
    lines = [
        f"WorkerPool(workers={scenario['workers']}, queue_size={scenario['queue_size']}); "
        f"virtual time, in seconds"
    ]
    if scenario.get("outer_cancel_at") is not None:
        lines.append(
            f"the scope around the block is cancelled at t={scenario['outer_cancel_at']:g}"
        )
    jobs = scenario["jobs"]
    said = {
        "call": lambda i, d: f"{d}({describe_job(i, jobs[i])}) called",
        "accepted": lambda i, d: f"… submit of job {i} returned: accepted",
        "refused": lambda i, d: f"… submit of job {i} raised {d}",
        "start": lambda i, d: f"job {i} starts",
        "end": lambda i, d: f"job {i} {d}",
        "cancel": lambda i, d: f"Job.cancel() on job {i} → {d}",
        "close": lambda i, d: f"close(cancel=True) #{i} called" if d else f"close() #{i} called",
        "closed": lambda i, d: f"… close() #{i} returned",
        "close_raised": lambda i, d: f"… close() #{i} raised {d}",
        "close_cancelled": lambda i, d: f"… close() #{i} raised the cancellation of its caller",
        "wait": lambda i, d: f"a task ({d}) starts waiting in result() of job {i}",
        "waited": lambda i, d: f"… result() of job {i} ({d.split('|')[0]}) → {d.split('|', 1)[1]}",
        "wait_cancelled": lambda i, d: (
            f"… result() of job {i} ({d}) raised the cancellation of its caller"
        ),
        "wait_pending": lambda i, d: f"result() of job {i} ({d}) still waits after the block ended",
        "cancel_caller": lambda i, d: _cancel_caller_words(i, d),
        "submit_cancelled": lambda i, d: (
            f"… submit of job {i} raised the cancellation of its caller"
        ),
        "job_done": lambda i, d: f"job {i} is {d}",
        "raise": lambda i, d: "the block raises BlockError",
        "leave": lambda i, d: "the block's body ends; leaving async with",
        "exit": lambda i, d: f"the block ended: {d}",
        "scope_caught": lambda i, d: "the enclosing scope caught its cancellation",
        "tasks_left": lambda i, d: (
            f"tasks of the pool still alive: {d}" if d else "no task of the pool is left"
        ),
        "outcome": lambda i, d: (
            f"job {i}: done={d.split('|')[0] == 'done'}; result() → "
            + " / again → ".join(d.split("|")[1:])
        ),
        "pending": lambda i, d: f"submit of job {i} still waits after the block ended",
        "close_pending": lambda i, d: "a close() still waits after the block ended",
    }
    for t, kind, i, detail in events:
        speak = said.get(kind)
        if speak is not None:
            lines.append(f"t={t:g}: {speak(i, detail)}")
    return lines
