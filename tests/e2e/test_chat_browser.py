"""End to end in a real browser: `streamlit run app.py` driven by Playwright in Debian's headless Chromium.

One server for the module, on a free port, over a temporary copy of the seed corpus and its index (the
session's `seed_index`). Screenshots go to `test-artifacts/` (git-ignored); the time from starting the
server to the first answer is written to `test-artifacts/first_answer.json` (measured, never asserted).
Needs `/usr/bin/chromium` (`make browser`); never a downloaded browser build.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from rag.config import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
DEV = {q["id"]: q for q in map(json.loads, (ROOT.parent / "shared/eval/seeds_dev.jsonl").read_text().splitlines())}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Milliseconds to wait for the server's first page (it loads the embedding model) and for one answer.
STARTUP_MS = 180_000
ANSWER_MS = 120_000

NEW_ARTICLE = b"""---
outlet: Harbor Gazette
title: Lantern festival draws record crowd to Port Ellery
published: 2026-04-12
url: https://harbor-gazette.example/lantern-festival
---

The annual Lantern Festival in Port Ellery drew 12,400 visitors on Saturday, organisers said.

Festival director Mara Quint said the lighthouse parade was the longest in the festival's 40-year history.
"""
NEW_QUESTION = "How many visitors did the Lantern Festival in Port Ellery draw?"

SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=2">'
HOSTILE_ARTICLE = f"""---
outlet: Quarry Ledger
title: Zinc smelter approved <b>after</b> debate
published: 2026-05-02
---

The council of Brackenford approved the zinc smelter expansion {SCRIPT} on Tuesday.

Mayor Odile Ferrant said the zinc smelter vote {IMG} ended a decade of debate.

Residents can read the zinc smelter ruling [here](javascript:window.__xss=3) or <a href="https://evil.example">there</a>.
""".encode()
HOSTILE_QUESTION = "What did the council of Brackenford approve about the zinc smelter?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"streamlit did not become healthy at {url} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def server(seed_index: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """`streamlit run app.py` on a free port over a private copy of the seed corpus and index."""
    base = tmp_path_factory.mktemp("e2e")
    corpus, index = base / "corpus", base / "index"
    shutil.copytree(seed_index.corpus_dir, corpus)
    shutil.copytree(seed_index.index_dir, index)
    port = free_port()
    env = os.environ | {"RAG_INDEX_DIR": str(index), "RAG_CORPUS_DIR": str(corpus)}
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port)]
    cmd += ["--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    log = (base / "streamlit.log").open("w")
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_healthy(url, proc)
        except (RuntimeError, TimeoutError) as exc:
            log.flush()
            tail = (base / "streamlit.log").read_text()[-3000:]
            raise RuntimeError(f"{exc}\n--- streamlit log ---\n{tail}") from None
        yield {"url": url, "started": started, "corpus": corpus, "log": base / "streamlit.log"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium chromium-driver)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server: dict, request: pytest.FixtureRequest) -> Iterator:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(server["url"])
    wait_idle(page, STARTUP_MS)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def wait_idle(page, timeout_ms: int = ANSWER_MS) -> None:
    """Wait until the chat input is there and the script has finished running (Streamlit's running icon gone,
    and still gone a moment later: the icon can blink off between two reruns)."""
    page.get_by_test_id("stChatInputTextArea").wait_for(timeout=timeout_ms)
    idle = "() => !document.querySelector('[data-testid=\"stStatusWidgetRunningIcon\"]')"
    for _ in range(2):
        page.wait_for_function(idle, timeout=timeout_ms)
        page.wait_for_timeout(300)
    page.wait_for_function(idle, timeout=timeout_ms)


def ask(page, question: str):
    """Type a question, wait for its answer (or refusal) to appear; return that answer's chat message."""
    messages = page.get_by_test_id("stChatMessage")
    before = messages.count()
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(
        f"() => document.querySelectorAll('[data-testid=\"stChatMessage\"]').length >= {before + 2}",
        timeout=ANSWER_MS,
    )
    last = messages.nth(before + 1)
    last.locator(".rag-answer, .rag-refusal").first.wait_for(timeout=ANSWER_MS)
    wait_idle(page)
    if last.locator(".rag-answer").count():
        last.locator(".rag-card").first.wait_for(timeout=ANSWER_MS)
    return last


def upload(page, files: list[tuple[str, bytes]]) -> str:
    """Upload files through the sidebar form; return the text of the report shown afterwards."""
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        [{"name": n, "mimeType": "text/plain", "buffer": data} for n, data in files]
    )
    widget = page.get_by_test_id("stFileUploader")
    for name, _ in files:
        widget.get_by_text(name).wait_for()
    # A file shows a progress bar while it is sent to the server and its size once it is there.
    page.wait_for_function(
        '() => !document.querySelector(\'[data-testid="stFileUploader"] [role="progressbar"]\')', timeout=ANSWER_MS
    )
    page.get_by_test_id("stForm").first.get_by_role("button", name="Add and index").click()
    page.get_by_text("article(s)").first.wait_for(timeout=ANSWER_MS)
    wait_idle(page)
    return page.get_by_test_id("stSidebar").inner_text()


def test_ask_cite_and_check_the_quote_in_the_article(page, server: dict) -> None:
    q = DEV["s01"]
    answer = ask(page, q["question"])
    first_answer_s = time.monotonic() - server["started"]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "first_answer.json").write_text(json.dumps({"start_to_first_answer_s": round(first_answer_s, 1)}))

    text = answer.locator(".rag-answer").inner_text()
    assert all(f.lower() in text.lower() for f in q["expect_facts"])
    assert answer.locator(".rag-cite").count() >= 1, "inline [n] markers"
    assert "Searched for:" in answer.locator(".rag-search").first.inner_text()
    cards = answer.locator(".rag-card")
    outlets = [cards.nth(i).locator(".rag-outlet").inner_text() for i in range(cards.count())]
    assert set(outlets) & set(q["expect_outlets"]), f"cards name {outlets}; answer: {text}"
    expected = next(o for o in outlets if o in q["expect_outlets"])
    card = cards.nth(outlets.index(expected))
    assert card.locator("a").get_attribute("href").startswith("https://")
    quote = card.locator(".rag-quote").inner_text()
    page.set_viewport_size({"width": 1400, "height": 1250})  # tall enough for question, answer and cards
    page.get_by_test_id("stChatMessage").first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "chat.png"))
    page.set_viewport_size({"width": 1400, "height": 1000})

    # "View in article": the article opens with exactly the cited span highlighted.
    answer.get_by_role("button", name="View in article").nth(outlets.index(expected)).click()
    dialog = page.get_by_role("dialog")
    mark = dialog.locator("mark.rag-hl")
    mark.wait_for(timeout=ANSWER_MS)
    assert mark.inner_text().strip() == quote.strip()
    assert expected in dialog.locator(".rag-article-meta").inner_text()
    dialog.get_by_text("jump to the quote").click()
    page.screenshot(path=str(ARTIFACTS / "view_in_article.png"))
    page.keyboard.press("Escape")

    # Copy: the answer as plain text with its sources, in a code block with a copy button.
    answer.get_by_role("button", name="Copy answer").click()
    code = page.get_by_test_id("stCode").last
    code.wait_for()
    assert "Sources:" in code.inner_text()


def test_refusal_shows_no_sources(page) -> None:
    answer = ask(page, DEV["u02"]["question"])
    assert "Not answered by the articles" in answer.locator(".rag-refusal").inner_text()
    assert answer.locator(".rag-card").count() == 0


def test_uploaded_article_answers_without_restart(page) -> None:
    before = ask(page, NEW_QUESTION)
    assert before.locator(".rag-refusal").count() == 1
    report = upload(page, [("lantern festival.md", NEW_ARTICLE), ("broken.json", b'{"body": ')])
    assert "Added: 1 article(s)" in report and "Lantern festival draws record crowd" in report
    assert "broken.json: invalid JSON" in report
    answer = ask(page, NEW_QUESTION)
    assert "12,400" in answer.locator(".rag-answer").inner_text()
    assert "Harbor Gazette" in answer.locator(".rag-card .rag-outlet").first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "after_upload.png"), full_page=True)


def test_markup_in_an_article_is_shown_as_text(page) -> None:
    report = upload(page, [("smelter.md", HOSTILE_ARTICLE)])
    assert "Added: 1 article(s)" in report
    answer = ask(page, HOSTILE_QUESTION)
    shown = answer.inner_text()
    assert SCRIPT in shown, "the script tag is visible as text"
    assert page.evaluate("() => window.__xss") is None, "no script from the article ran"
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0 and page.locator("a[href*='evil.example']").count() == 0
    assert page.locator("b", has_text="after").count() == 0

    answer.get_by_role("button", name="View in article").first.click()
    article = page.get_by_role("dialog").locator(".rag-article")
    article.wait_for(timeout=ANSWER_MS)
    text = article.inner_text()
    assert SCRIPT in text and IMG in text and "[here](javascript:window.__xss=3)" not in text  # md link as words
    assert '<a href="https://evil.example">there</a>' in text
    assert page.locator("img[src='x']").count() == 0 and page.evaluate("() => window.__xss") is None
    page.screenshot(path=str(ARTIFACTS / "markup_as_text.png"))
