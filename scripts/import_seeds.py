"""Regenerate `seeds/` from the raw seed texts in ../shared/seeds (run once; the output is committed).

Each raw text becomes a Markdown file with YAML front matter (outlet, title, published, url from
`sources.json`). The body goes through the same cleaning as any user article (`rag.ingest.clean`), plus the
few removals below that no general rule can make safely: a photo caption and its credit, a section label.

    python scripts/import_seeds.py ../shared/seeds seeds
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from rag.ingest.clean import clean_body

#: Lines that are not the article (checked by reading the raw texts), removed verbatim.
NOT_ARTICLE = {
    "001_0fe97b267e466c78.txt": [
        "· · ·",
        "Clear image of a bright red 'Wrong Way' traffic sign against a cloudy sky in Miami, Florida.",
        "Abhishek Navlakha",
    ],
    "003_f50a8274451efd07.txt": ["World News"],
}


def main(src: Path, dst: Path) -> None:
    sources = json.loads((src / "sources.json").read_text(encoding="utf-8"))["articles"]
    dst.mkdir(parents=True, exist_ok=True)
    for meta in sources:
        raw = (src / meta["file"]).read_text(encoding="utf-8")
        lines = [ln for ln in raw.split("\n") if ln.strip() not in NOT_ARTICLE.get(meta["file"], [])]
        cleaned = clean_body("\n".join(lines), meta["title"])
        front = {k: meta[k] for k in ("outlet", "title", "published", "url")}
        out = dst / (Path(meta["file"]).stem + ".md")
        text = "---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False) + "---\n\n" + cleaned.body
        out.write_text(text + "\n", encoding="utf-8")
        print(f"{out}: {len(cleaned.body)} chars")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
