"""The living corpus in a real browser: a watched corpus folder, the corpus page, the timeline, stored chats.

One `streamlit run app.py` (with `RAG_WATCH=true`, so the corpus watcher runs beside the app) over a private
copy of the seed corpus and index, driven by Playwright in Debian's headless Chromium; the server is
restarted once, by PID, for the conversation test. Screenshots go to `test-artifacts/`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from rag.config import Settings
from tests.e2e.test_chat_browser import (
    ANSWER_MS,
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DEV,
    NEW_ARTICLE,
    NEW_QUESTION,
    STARTUP_MS,
    ask,
    free_port,
    wait_healthy,
    wait_idle,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
#: The issue's promise: a file dropped into the watched corpus is answerable within this many seconds.
DROP_TO_ANSWERABLE_S = 10.0


class Server:
    """`streamlit run app.py` on a fixed port; start() and stop() (by PID) can be repeated over the same data."""

    def __init__(self, base: Path, corpus: Path, index: Path) -> None:
        self.base, self.corpus, self.index = base, corpus, index
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log_path = base / "streamlit.log"

    def start(self) -> None:
        env = os.environ | {
            "RAG_INDEX_DIR": str(self.index),
            "RAG_CORPUS_DIR": str(self.corpus),
            "RAG_WATCH": "true",
            "RAG_INDEX_POLL_SECONDS": "1",
        }
        cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(self.port)]
        cmd += ["--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
        cmd += ["--server.fileWatcherType", "none"]
        log = self.log_path.open("a")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        try:
            wait_healthy(self.url, self.proc)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}\n--- streamlit log ---\n{self.log_path.read_text()[-3000:]}") from None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@pytest.fixture(scope="module")
def server(seed_index: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("e2e-living")
    corpus, index = base / "corpus", base / "index"
    shutil.copytree(seed_index.corpus_dir, corpus)
    shutil.copytree(seed_index.index_dir, index)
    s = Server(base, corpus, index)
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium chromium-driver)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server: Server, request: pytest.FixtureRequest) -> Iterator:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.goto(server.url)
    wait_idle(page, STARTUP_MS)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def cited_titles(answer) -> list[str]:
    cards = answer.locator(".rag-card")
    return [cards.nth(i).locator(".rag-card-title").inner_text().rstrip(" ↗") for i in range(cards.count())]


def timeline_marks(answer):
    """The points of the answer's timeline chart (SVG paths of Vega's symbol marks)."""
    return answer.locator("[class*='st-key-timeline-box'] g.mark-symbol path")


def test_a_file_dropped_into_the_watched_corpus_is_answerable_without_a_reload(page, server: Server) -> None:
    before = ask(page, NEW_QUESTION)
    assert before.locator(".rag-refusal").count() == 1
    dropped = time.monotonic()
    (server.corpus / "lantern-festival.md").write_bytes(NEW_ARTICLE)
    # The open chat notices the new index by itself (no reload, no click): a poll with the deadline.
    note = page.locator(".rag-index-note", has_text="Index updated: 1 article added")
    note.wait_for(timeout=DROP_TO_ANSWERABLE_S * 1000)
    noticed = time.monotonic() - dropped
    wait_idle(page)
    answer = ask(page, NEW_QUESTION)
    answered = time.monotonic() - dropped
    assert "12,400" in answer.locator(".rag-answer").inner_text()
    assert "Harbor Gazette" in answer.locator(".rag-card .rag-outlet").first.inner_text()
    assert noticed <= DROP_TO_ANSWERABLE_S, f"noticed after {noticed:.1f} s"
    (ARTIFACTS / "watch_timing.txt").write_text(f"noticed {noticed:.1f} s, answered {answered:.1f} s after the drop\n")
    assert "1 added" in server.log_path.read_text(), "the watcher logged its update"


def test_the_timeline_draws_one_mark_per_cited_article_and_opens_it(page) -> None:
    answer = ask(page, DEV["s01"]["question"])
    titles = cited_titles(answer)
    marks = timeline_marks(answer)
    marks.first.wait_for(timeout=ANSWER_MS)
    assert marks.count() == len(set(titles)), f"{marks.count()} marks for {len(set(titles))} articles"
    page.set_viewport_size({"width": 1400, "height": 1400})  # question, answer, timeline and cards
    page.get_by_test_id("stChatMessage").first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "chat_timeline.png"))  # docs/screenshots/chat.png
    page.set_viewport_size({"width": 1400, "height": 1000})
    wait_idle(page)
    dialog = page.get_by_role("dialog")
    click_until(lambda: timeline_marks(answer).first.click(), dialog.locator(".rag-article"))
    assert dialog.locator("mark.rag-hl").count() == 1, "the cited passage is highlighted"
    page.screenshot(path=str(ARTIFACTS / "timeline_click.png"))


def test_an_article_removed_on_the_corpus_page_is_no_longer_cited(page, server: Server) -> None:
    question = DEV["s01"]["question"]
    first = ask(page, question)
    title = cited_titles(first)[0]
    page.goto(f"{server.url}/corpus")
    page.get_by_text("Files that could not be indexed").wait_for(timeout=STARTUP_MS)
    wait_idle_page(page)
    corpus_marks = page.locator(".st-key-corpus-timeline g.mark-symbol path")
    corpus_marks.first.wait_for(timeout=ANSWER_MS)
    assert corpus_marks.count() == len(list(server.corpus.rglob("*.md")))  # one article per file here
    page.screenshot(path=str(ARTIFACTS / "corpus_page.png"), full_page=True)
    dialog = page.get_by_role("dialog")  # a point of the corpus timeline opens its article
    click_until(lambda: page.locator(".st-key-corpus-timeline g.mark-symbol path").first.click(), dialog)
    dialog.locator(".rag-article").wait_for(timeout=ANSWER_MS)
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden", timeout=ANSWER_MS)
    option = page.get_by_role("option", name=title).first
    click_until(lambda: page.get_by_test_id("stSelectbox").click(), option)
    option.click()
    page.get_by_role("button", name="Remove from corpus").click()
    page.get_by_role("button", name="Remove", exact=True).click()
    page.get_by_text("Removed “").wait_for(timeout=ANSWER_MS)
    assert all(title not in p.read_text() for p in server.corpus.rglob("*.md")), "its file left the corpus"
    page.goto(server.url)
    wait_idle(page, STARTUP_MS)
    again = ask(page, question)
    assert title not in cited_titles(again)


def click_until(click, shown, attempts: int = 3, each_ms: int = 10_000) -> None:
    """Click and wait for `shown`; again if a rerun redrew the element under the click (a chart re-embedded
    after a resize, a dropdown closed by a redraw). Fails after `attempts`."""
    for attempt in range(attempts):
        click()
        try:
            shown.wait_for(timeout=each_ms)
            return
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise


def wait_idle_page(page) -> None:
    """`wait_idle` for a page without the chat input (the corpus page)."""
    idle = "() => !document.querySelector('[data-testid=\"stStatusWidgetRunningIcon\"]')"
    for _ in range(2):
        page.wait_for_function(idle, timeout=ANSWER_MS)
        page.wait_for_timeout(300)


def test_the_exported_markdown_holds_the_answer_and_its_sources(page) -> None:
    answer = ask(page, DEV["s01"]["question"])
    text = answer.locator(".rag-answer").inner_text()
    first_line = next(line for line in text.split("\n") if line.strip())
    titles = cited_titles(answer)
    with page.expect_download() as info:
        page.get_by_role("button", name="Export Markdown").click()
    md = Path(info.value.path()).read_text(encoding="utf-8")
    assert md.startswith("# ")
    words = [w for w in first_line.replace("[", " ").replace("]", " ").split() if w.isalpha()][:6]
    assert all(w in md for w in words), (words, md[:500])
    assert "**Sources**" in md and all(t.split(" ")[0] in md for t in titles)
    assert "1. **" in md and "> " in md
    assert DEV["s01"]["question"].split()[0] in md


def test_a_conversation_survives_a_reload_and_a_server_restart(page, server: Server) -> None:
    question = DEV["s01"]["question"]
    ask(page, question)
    assert "c=" in page.url, "the conversation's id is in the URL"
    url = page.url
    page.reload()
    wait_idle(page, STARTUP_MS)
    messages = page.get_by_test_id("stChatMessage")
    assert question in messages.first.inner_text()
    assert messages.nth(1).locator(".rag-card").count() >= 1
    sidebar = page.get_by_test_id("stSidebar")
    assert sidebar.get_by_text("Conversations").count() == 1

    server.stop()
    server.start()
    page.goto(url)
    wait_idle(page, STARTUP_MS)
    messages = page.get_by_test_id("stChatMessage")
    messages.first.wait_for(timeout=ANSWER_MS)
    assert question in messages.first.inner_text()
    assert messages.nth(1).locator(".rag-card").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "after_restart.png"), full_page=True)

    # Delete it from the sidebar: it leaves the list and the chat is empty again.
    cid = url.split("c=", 1)[1].split("&")[0]
    before = sidebar.locator("[class*='st-key-delete-']").count()
    sidebar.locator(f".st-key-delete-{cid}").get_by_role("button").first.click()
    wait_idle(page)
    assert sidebar.locator("[class*='st-key-delete-']").count() == before - 1
    assert page.get_by_test_id("stChatMessage").count() == 0
