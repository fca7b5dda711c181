"""Answers from retrieved hits: the `Answerer` seam (`base`), answerers by name (`registry`, `answerers/`), the
extractive answerer and its evidence models, the LLM answerer and its verification."""
