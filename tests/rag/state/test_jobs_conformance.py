"""The job store and queue (`JobStore`): enqueue, claim under a lease, heartbeat, finish,
unfinished; every backend, the same behaviour."""

from __future__ import annotations

import threading

from rag.state.base import JobRecord, StateBackend

T0 = 1_000_000.0
REDO = {"text": "a note", "source": "note.txt", "title": ""}  # what any worker can run again


def _job(job_id: str, created: float = T0, kb: str = "default", **extra: object) -> JobRecord:
    extra.setdefault("redo", REDO)
    return JobRecord(job_id, kb, "ingest", "queued", created, **extra)  # type: ignore[arg-type]


def test_enqueue_is_idempotent_and_listed_as_unfinished(state: StateBackend) -> None:
    jobs = state.jobs()
    try:
        redo = {"text": "another note", "source": "b.txt", "title": ""}
        jobs.enqueue(_job("a", redo=redo, temp_dir="/tmp/x"))
        jobs.enqueue(_job("a"))
        jobs.enqueue(_job("b", created=T0 + 1))
        assert [j.id for j in jobs.unfinished()] == ["a", "b"]
        stored = jobs.get("a")
        assert stored is not None and stored.state == "queued" and stored.attempts == 0
        assert stored.redo == redo and stored.temp_dir == "/tmp/x"
        assert jobs.get("nope") is None
    finally:
        jobs.close()


def test_claims_go_oldest_first_one_worker_each(state: StateBackend) -> None:
    jobs = state.jobs()
    try:
        jobs.enqueue(_job("late", created=T0 + 5))
        jobs.enqueue(_job("early", created=T0))
        first = jobs.claim("w1", lease_s=30, now=T0 + 10)
        second = jobs.claim("w2", lease_s=30, now=T0 + 10)
        assert first is not None and second is not None
        assert (first.job.id, second.job.id) == ("early", "late")
        assert first.job.state == "running" and first.job.worker == "w1"
        assert first.lease_until == T0 + 40 and first.job.attempts == 1
        assert jobs.claim("w3", lease_s=30, now=T0 + 11) is None  # both held
    finally:
        jobs.close()


def test_a_stalled_job_is_claimed_again_and_the_old_worker_learns_it(
    state: StateBackend,
) -> None:
    jobs = state.jobs()
    try:
        jobs.enqueue(_job("a"))
        assert jobs.claim("dead", lease_s=30, now=T0) is not None
        assert jobs.heartbeat("a", "dead", lease_s=30, now=T0 + 20)  # lease now T0 + 50
        assert jobs.claim("w2", lease_s=30, now=T0 + 45) is None  # still leased
        again = jobs.claim("w2", lease_s=30, now=T0 + 51)
        assert again is not None and again.job.worker == "w2" and again.job.attempts == 2
        assert not jobs.heartbeat("a", "dead", lease_s=30, now=T0 + 52)
        assert not jobs.finish("a", "dead", "done", None, [], now=T0 + 52)
        results = [{"source": "a.txt", "status": "parsed"}]
        assert jobs.finish("a", "w2", "done", None, results, now=T0 + 60)
        done = jobs.get("a")
        assert done is not None and done.state == "done" and done.finished_at == T0 + 60
        assert list(done.results) == results and jobs.unfinished() == []
        assert not jobs.finish("a", "w2", "failed", "again", [], now=T0 + 61)  # finished once
    finally:
        jobs.close()


def test_progress_and_a_queued_job_failed_unclaimed(state: StateBackend) -> None:
    jobs = state.jobs()
    try:
        jobs.enqueue(_job("a"))
        jobs.enqueue(_job("b", created=T0 + 1))
        claimed = jobs.claim("w", lease_s=30, now=T0)
        assert claimed is not None
        assert jobs.progress(
            "a", [{"source": "one.md", "status": "parsed"}], {"done": 1, "total": 3}
        )
        running = jobs.get("a")
        assert running is not None and running.results[0]["source"] == "one.md"
        assert running.progress == {"done": 1, "total": 3}
        assert not jobs.finish("a", "other", "failed", "not its job", [], now=T0 + 1)
        assert jobs.finish("b", "w", "failed", "the server shut down", [], now=T0 + 2)
        failed = jobs.get("b")
        assert failed is not None and failed.state == "failed" and failed.error
    finally:
        jobs.close()


def test_finished_jobs_beyond_the_newest_are_forgotten(state: StateBackend) -> None:
    jobs = state.jobs()
    try:
        for n in range(5):
            jobs.enqueue(_job(f"j{n}", created=T0 + n, temp_dir=f"batch-{n}"))
            assert jobs.claim("w", lease_s=30, now=T0 + n) is not None
            assert jobs.finish(f"j{n}", "w", "done", None, [], now=T0 + 10 + n)
        jobs.enqueue(_job("open", created=T0 + 20))
        assert sorted(jobs.forget_finished(keep=2)) == ["batch-0", "batch-1", "batch-2"]
        kept = [j for j in ("j0", "j1", "j2", "j3", "j4") if jobs.get(j) is not None]
        assert kept == ["j3", "j4"] and jobs.get("open") is not None
    finally:
        jobs.close()


def test_concurrent_claims_never_share_a_job(state: StateBackend) -> None:
    setup = state.jobs()
    for n in range(40):
        setup.enqueue(_job(f"j{n:02d}", created=T0 + n))
    setup.close()
    taken: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        jobs = state.jobs()  # each worker its own handle, as separate processes would
        try:
            while (claimed := jobs.claim(name, lease_s=60, now=T0 + 100)) is not None:
                with lock:
                    taken.append(claimed.job.id)
        finally:
            jobs.close()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == [f"j{n:02d}" for n in range(40)]  # each exactly once


def test_a_worker_started_again_takes_back_its_own_job_by_id(state: StateBackend) -> None:
    jobs = state.jobs()
    try:
        jobs.enqueue(_job("a"))
        jobs.enqueue(_job("b", created=T0 + 1))
        assert jobs.claim("writer", lease_s=600, now=T0) is not None  # "a", then a crash
        assert jobs.claim("other", lease_s=600, now=T0 + 1, job_id="a") is None  # leased
        again = jobs.claim("writer", lease_s=600, now=T0 + 1, job_id="a")
        assert again is not None and again.job.id == "a" and again.job.attempts == 2
        chosen = jobs.claim("writer", lease_s=600, now=T0 + 1, job_id="b")
        assert chosen is not None and chosen.job.id == "b"
        assert jobs.claim("writer", lease_s=600, now=T0 + 2, job_id="nope") is None
    finally:
        jobs.close()


def test_claims_are_fair_between_knowledge_bases(state: StateBackend) -> None:
    """A long upload to one knowledge base (many jobs) does not hold back another's one job:
    a knowledge base with nothing running goes first, then the one served least recently."""
    jobs = state.jobs()
    try:
        for n in range(5):
            jobs.enqueue(_job(f"big{n}", created=T0 + n, kb="big"))
        jobs.enqueue(_job("small", created=T0 + 10, kb="small"))
        first = jobs.claim("w1", lease_s=30, now=T0 + 20)
        second = jobs.claim("w2", lease_s=30, now=T0 + 20)
        assert first is not None and second is not None
        assert (first.job.id, second.job.id) == ("big0", "small")  # not big1
        assert jobs.finish("big0", "w1", "done", None, [], now=T0 + 21)
        jobs.enqueue(_job("small2", created=T0 + 22, kb="small"))
        assert jobs.finish("small", "w2", "done", None, [], now=T0 + 23)
        # both idle now: "big" was served less recently than "small"
        third = jobs.claim("w1", lease_s=30, now=T0 + 24)
        fourth = jobs.claim("w2", lease_s=30, now=T0 + 24)
        assert third is not None and fourth is not None
        assert (third.job.id, fourth.job.id) == ("big1", "small2")
    finally:
        jobs.close()


def test_a_job_that_keeps_stopping_its_worker_is_failed_after_its_attempts(
    state: StateBackend,
) -> None:
    jobs = state.jobs()
    try:
        jobs.enqueue(_job("poison"))
        now = T0
        for attempt in range(1, 4):
            claimed = jobs.claim(f"w{attempt}", lease_s=30, now=now, max_attempts=3)
            assert claimed is not None and claimed.job.attempts == attempt
            now += 31  # the worker died: its lease runs out
        assert jobs.claim("w4", lease_s=30, now=now, max_attempts=3) is None
        failed = jobs.get("poison")
        assert failed is not None and failed.state == "failed" and failed.attempts == 3
        assert failed.error and "stopped 3 times" in failed.error
        assert jobs.unfinished() == []
    finally:
        jobs.close()


def test_cancel_and_retry(state: StateBackend) -> None:
    jobs = state.jobs()
    try:
        jobs.enqueue(_job("queued"))
        jobs.enqueue(_job("running", created=T0 + 1))
        assert jobs.cancel("queued", now=T0) == "failed"
        cancelled = jobs.get("queued")
        assert cancelled is not None and cancelled.state == "failed"
        assert cancelled.error == "cancelled"
        claimed = jobs.claim("w", lease_s=30, now=T0)
        assert claimed is not None and claimed.job.id == "running"
        assert jobs.cancel("running", now=T0 + 1) == "running"
        assert not jobs.progress("running", [])  # the worker stops at its next step
        assert not jobs.heartbeat("running", "w", lease_s=30, now=T0 + 2)  # or heartbeat
        assert jobs.finish("running", "w", "failed", "cancelled", [], now=T0 + 3)
        assert jobs.cancel("running", now=T0 + 4) is None  # finished
        assert jobs.cancel("nope", now=T0 + 4) is None
        assert jobs.retry("queued") and not jobs.retry("queued")  # queued again, once
        again = jobs.get("queued")
        assert again is not None and again.state == "queued" and again.error is None
        assert again.attempts == 0
        retried = jobs.claim("w", lease_s=30, now=T0 + 5)
        assert retried is not None and retried.job.id == "queued"
        assert not jobs.retry("queued")  # running: not failed
    finally:
        jobs.close()


def test_a_cancelled_job_whose_worker_died_is_failed_as_cancelled(state: StateBackend) -> None:
    jobs = state.jobs()
    try:
        jobs.enqueue(_job("a"))
        assert jobs.claim("dead", lease_s=30, now=T0) is not None
        assert jobs.cancel("a", now=T0 + 1) == "running"
        assert jobs.claim("w2", lease_s=30, now=T0 + 40) is None  # not run again
        stopped = jobs.get("a")
        assert stopped is not None and stopped.state == "failed" and stopped.error == "cancelled"
    finally:
        jobs.close()


def test_a_stopping_worker_hands_its_job_back_uncounted(state: StateBackend) -> None:
    jobs = state.jobs()
    try:
        jobs.enqueue(_job("a"))
        assert jobs.claim("leaving", lease_s=600, now=T0) is not None
        assert not jobs.release("a", "other")
        assert jobs.release("a", "leaving")
        back = jobs.get("a")
        assert back is not None and back.state == "queued" and back.attempts == 0
        again = jobs.claim("w2", lease_s=30, now=T0 + 1)  # at once, not after the lease
        assert again is not None and again.job.attempts == 1
    finally:
        jobs.close()


def test_a_job_only_its_own_process_can_run_is_never_claimed_by_another(
    state: StateBackend,
) -> None:
    """A delete or knowledge-base change (no `redo`) runs in the API process that queued
    it: a worker polling for work never takes it, even before that process claims it; once
    that process stops holding its lease, the job is failed with the reason, not left
    running and not handed to a process that cannot run it."""
    jobs = state.jobs()
    try:
        jobs.enqueue(JobRecord("delete", "hr", "delete", "queued", T0))
        jobs.enqueue(_job("ingest", created=T0 + 1, kb="hr"))
        taken = jobs.claim("worker", lease_s=30, now=T0 + 2)
        assert taken is not None and taken.job.id == "ingest"
        assert jobs.claim("worker-2", lease_s=30, now=T0 + 2) is None
        own = jobs.claim("api", lease_s=30, now=T0 + 2, job_id="delete")
        assert own is not None and own.job.worker == "api"
        assert jobs.claim("worker-2", lease_s=30, now=T0 + 40) is not None  # the ingest
        failed = jobs.get("delete")
        assert failed is not None and failed.state == "failed" and failed.finished_at == T0 + 40
        assert failed.error is not None and "send the request again" in failed.error
        assert [j.id for j in jobs.unfinished()] == ["ingest"]
    finally:
        jobs.close()
