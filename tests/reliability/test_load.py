"""Eight simultaneous users on one Pipeline (as the chat app's sessions share it) get the sequential answers.

Each of 8 threads asks every seed dev question, in its own order; every answer (text, refusal, each
citation's article, span and quote) must equal the answer the same question gets when asked alone, and no
call may raise. Memory must level off: a second round of the same load may not grow the resident set by more
than a small allowance (a leak per question would show as steady growth). Latency and peak memory are
measured by `bench/load.py`, not asserted here.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from rag.config import Settings
from rag.pipeline import Pipeline

from .helpers import ROOT

pytestmark = pytest.mark.slow

DEV = ROOT.parent / "shared" / "eval" / "seeds_dev.jsonl"
USERS = 8


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _key(answer) -> tuple:
    return (
        answer.text,
        answer.refused,
        tuple((c.article_id, c.start, c.end, c.quote) for c in answer.citations),
    )


def _questions() -> list[str]:
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["question"] for r in rows]


def _load(pipe: Pipeline, questions: list[str], rounds: int) -> tuple[dict[str, set], list[str]]:
    answers: dict[str, set] = {q: set() for q in questions}
    errors: list[str] = []
    lock = threading.Lock()

    def user(u: int) -> None:
        order = questions[u:] + questions[:u]
        for _ in range(rounds):
            for q in order:
                try:
                    key = _key(pipe.ask(q))
                except Exception as exc:  # noqa: BLE001 - collected and asserted on
                    with lock:
                        errors.append(f"{q}: {exc!r}")
                    continue
                with lock:
                    answers[q].add(key)

    threads = [threading.Thread(target=user, args=(u,)) for u in range(USERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers, errors


@pytest.mark.skipif(not DEV.is_file(), reason=f"dev questions not found at {DEV}")
def test_eight_users_at_once_get_the_sequential_answers(seed_index: Settings) -> None:
    pipe = Pipeline(seed_index)  # fresh: nothing cached from other tests
    questions = _questions()
    expected = {q: _key(pipe.ask(q)) for q in questions}
    assert sum(not k[1] for k in expected.values()) >= len(questions) // 2  # most are answered, not refused

    answers, errors = _load(pipe, questions, rounds=1)
    assert errors == []
    assert {q: a for q, a in answers.items() if a != {expected[q]}} == {}

    rss_after_first = _rss_kb()
    answers, errors = _load(pipe, questions, rounds=1)
    assert errors == [] and all(a == {expected[q]} for q, a in answers.items())
    growth_mb = (_rss_kb() - rss_after_first) / 1024
    # 96 more answers; allocator noise is a few MB, a leak of 1 MB per answer would exceed this.
    assert growth_mb < 64, f"resident memory grew {growth_mb:.0f} MB under the same load again"
