"""Chats kept on disk: a small SQLite file beside the index (never in the corpus), plain tables, JSON answers.

    conversations(id, title, created_at, updated_at)
    messages(conversation_id, position, role, text, answer)   answer: JSON of `Answer.to_json()` + warnings

An answer is stored as the `rag ask --json` object plus its warnings: everything the chat needs to draw it
again (text, `[n]` citations with their quotes and spans, search line, filters, answerer). Nothing is
pickled; every write is one transaction, so a crash leaves the conversation as it was before or after it.
"""

from __future__ import annotations

import builtins
import json
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.types import Answer, Citation

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    position INTEGER NOT NULL, role TEXT NOT NULL, text TEXT NOT NULL, answer TEXT,
    PRIMARY KEY (conversation_id, position)
);
"""
#: Longest title kept (the first question, cut at a word).
TITLE_CHARS = 70


@dataclass(frozen=True, slots=True)
class ConversationInfo:
    id: str
    title: str
    created_at: str
    updated_at: str
    messages: int


@dataclass(frozen=True, slots=True)
class StoredMessage:
    role: str  # "user" or "assistant"
    text: str
    answer: Answer | None = None


def answer_to_json(answer: Answer) -> dict[str, Any]:
    """What is stored for an answer: the `rag ask --json` object and the warnings shown with it."""
    return answer.to_json() | {"warnings": list(answer.warnings)}


def answer_from_json(d: dict[str, Any]) -> Answer:
    """The `Answer` a stored (or exported) object describes; its passages (`hits`) are not kept."""
    return Answer(
        question=str(d.get("question", "")),
        text=str(d.get("answer", "")),
        citations=[Citation(**{k: c[k] for k in Citation.__slots__ if k in c}) for c in d.get("citations", [])],
        refused=bool(d.get("refused", False)),
        search_query=str(d.get("search_query", "")),
        filters=dict(d.get("filters") or {}),
        answerer=str(d.get("answerer", "extractive")),
        warnings=[str(w) for w in d.get("warnings", [])],
        preface=str(d.get("preface", "")),
    )


def title_for(question: str) -> str:
    q = " ".join(question.split())
    if len(q) <= TITLE_CHARS:
        return q or "New chat"
    return q[:TITLE_CHARS].rsplit(" ", 1)[0] + "…"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ConversationStore:
    """The chats in one SQLite file. Each call opens its own connection (safe across Streamlit's threads)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.executescript(_SCHEMA)
            with conn:  # one transaction: committed whole or rolled back
                yield conn
        finally:
            conn.close()

    def create(self, title: str) -> str:
        cid = secrets.token_hex(8)
        now = _now()
        with self._conn() as c:
            c.execute("INSERT INTO conversations VALUES (?, ?, ?, ?)", (cid, title_for(title), now, now))
        return cid

    def append(self, cid: str, role: str, text: str, answer: Answer | None = None) -> None:
        """Add a message at the end of conversation `cid`."""
        blob = json.dumps(answer_to_json(answer), ensure_ascii=False) if answer is not None else None
        with self._conn() as c:
            (pos,) = c.execute("SELECT COALESCE(MAX(position) + 1, 0) FROM messages WHERE conversation_id = ?", (cid,))
            c.execute("INSERT INTO messages VALUES (?, ?, ?, ?, ?)", (cid, pos[0], role, text, blob))
            c.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (_now(), cid))

    def list(self) -> list[ConversationInfo]:
        """Every conversation, the most recently active first."""
        if not self.path.is_file():  # reading never creates the file (or the index folder)
            return []
        with self._conn() as c:
            rows = c.execute(
                "SELECT c.id, c.title, c.created_at, c.updated_at, COUNT(m.position) FROM conversations c "
                "LEFT JOIN messages m ON m.conversation_id = c.id GROUP BY c.id "
                "ORDER BY c.updated_at DESC, c.created_at DESC, c.rowid DESC"
            ).fetchall()
        return [ConversationInfo(*r) for r in rows]

    def get(self, cid: str) -> ConversationInfo | None:
        return next((i for i in self.list() if i.id == cid), None)

    def load(self, cid: str) -> builtins.list[StoredMessage]:  # `list` here is the method above
        """The messages of `cid` in order (empty if there is no such conversation)."""
        if not self.path.is_file():
            return []
        with self._conn() as c:
            rows = c.execute(
                "SELECT role, text, answer FROM messages WHERE conversation_id = ? ORDER BY position", (cid,)
            ).fetchall()
        out = []
        for role, text, blob in rows:
            answer = None
            if blob:
                try:
                    answer = answer_from_json(json.loads(blob))
                except (ValueError, TypeError, KeyError):
                    text = f"{text}\n(this stored answer could not be read)"
            out.append(StoredMessage(role, text, answer))
        return out

    def delete(self, cid: str) -> None:
        if not self.path.is_file():
            return
        with self._conn() as c:
            c.execute("DELETE FROM messages WHERE conversation_id = ?", (cid,))
            c.execute("DELETE FROM conversations WHERE id = ?", (cid,))
