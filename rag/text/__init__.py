"""The text layer: every rule about words, sentences, names, dates and outlet names, defined once.

- `tokens`: BM25 tokens and stop words; the words of a text (`word_tokens`) and the English function words.
- `sentences`: sentence spans (chunking, quoting, verifying, sentence starts for names).
- `names`: capitalised names, speech verbs, topic words.
- `dates`: dates in questions (dateparser) and the bounds their wording sets.
- `outlets`: outlet names and their aliases, one matcher; sources a question names.
- `asks`: what a question asks for (a number, a date, a duration, a name, a reason); whether a sentence holds one.
- `markers`: the "[n]" citation markers of an answer.

Nothing here imports the index, a model or a thread-pool setting.
"""
