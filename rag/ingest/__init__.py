"""Reading a corpus folder into `Article`s: one reader per format, problems reported, never fatal.

`read_corpus(folder)` walks the folder, picks a reader by extension, and returns the articles it could read
plus a list of `Problem`s (file name and what to do) for the ones it could not. A bad file never stops the
rest from being indexed.
"""

from rag.ingest.base import Problem, ReadResult
from rag.ingest.corpus import SUPPORTED_EXTENSIONS, parse_bytes, read_corpus, read_file

__all__ = ["SUPPORTED_EXTENSIONS", "Problem", "ReadResult", "parse_bytes", "read_corpus", "read_file"]
