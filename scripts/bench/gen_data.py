#!/usr/bin/env python3
"""Deterministic benchmark input generators, cached under ``scripts/bench/.data/``.

Two inputs are produced (pair datasets are generated inside the jobs):

* a text corpus of Zipf-distributed words: a fixed vocabulary of ~50k distinct
  lowercase words with realistic lengths (frequent words tend to be short, as
  in natural language), letters drawn with English letter frequencies, 10-12
  words per line;
* the same corpus split at line boundaries into many small files whose
  concatenation is byte-identical to the single file (so word counts over both
  inputs must agree).

Everything derives from one seeded ``random.Random``; a manifest next to each
output records the parameters, and an output is regenerated only when its
manifest is missing or differs. Outputs are written to a temporary name and
renamed into place, so an interrupted run never leaves a half-written cache.

Usage::

    python scripts/bench/gen_data.py                 # full size: 100 MB, 1000 files
    python scripts/bench/gen_data.py --size-mb 4 --files 100
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import os
import random
import shutil
import sys
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / ".data"
GENERATOR_VERSION = 1
DEFAULT_SEED = 20240601
VOCABULARY_SIZE = 50_000
ZIPF_EXPONENT = 1.0
WORDS_PER_LINE = (10, 12)
SAMPLE_BATCH = 1 << 20

# Approximate English letter frequencies (percent).
LETTER_WEIGHTS = {
    "e": 12.7, "t": 9.1, "a": 8.2, "o": 7.5, "i": 7.0, "n": 6.7, "s": 6.3,
    "h": 6.1, "r": 6.0, "d": 4.3, "l": 4.0, "c": 2.8, "u": 2.8, "m": 2.4,
    "w": 2.4, "f": 2.2, "g": 2.0, "y": 2.0, "p": 1.9, "b": 1.5, "v": 1.0,
    "k": 0.8, "j": 0.15, "x": 0.15, "q": 0.1, "z": 0.07,
}
# Relative frequency of word lengths in a dictionary (not in running text).
LENGTH_WEIGHTS = {
    2: 1, 3: 4, 4: 8, 5: 11, 6: 13, 7: 13, 8: 12, 9: 10, 10: 8,
    11: 6, 12: 4, 13: 2, 14: 1, 15: 0.5,
}


def build_vocabulary(rng: random.Random, size: int = VOCABULARY_SIZE) -> list[str]:
    """Return ``size`` distinct words ordered by Zipf rank (most frequent first).

    Ranks are assigned by word length plus Gaussian noise, so frequent words
    are mostly short without the ordering being strictly by length.
    """
    letters = list(LETTER_WEIGHTS)
    letter_weights = list(LETTER_WEIGHTS.values())
    lengths = list(LENGTH_WEIGHTS)
    length_weights = list(LENGTH_WEIGHTS.values())
    words: set[str] = set()
    ordered: list[str] = []
    while len(ordered) < size:
        length = rng.choices(lengths, length_weights)[0]
        word = "".join(rng.choices(letters, letter_weights, k=length))
        if word not in words:
            words.add(word)
            ordered.append(word)
    rank_key = {word: len(word) + rng.gauss(0.0, 2.0) for word in ordered}
    return sorted(ordered, key=rank_key.__getitem__)


def zipf_cum_weights(size: int, exponent: float = ZIPF_EXPONENT) -> list[float]:
    """Cumulative Zipf weights ``1 / rank**exponent`` for ranks ``1..size``."""
    return list(itertools.accumulate(1.0 / rank**exponent for rank in range(1, size + 1)))


def generate_lines(seed: int, target_bytes: int):
    """Yield corpus lines (without newline) until ``target_bytes`` is reached."""
    rng = random.Random(seed)
    vocabulary = build_vocabulary(rng)
    cum_weights = zipf_cum_weights(len(vocabulary))
    total = cum_weights[-1]
    last = len(vocabulary) - 1
    low, high = WORDS_PER_LINE
    written = 0
    while written < target_bytes:
        batch = [
            vocabulary[bisect.bisect(cum_weights, rng.random() * total, 0, last)]
            for _ in range(SAMPLE_BATCH)
        ]
        pos = 0
        while written < target_bytes:
            count = rng.randint(low, high)
            if pos + count > len(batch):
                break
            line = " ".join(batch[pos:pos + count])
            pos += count
            written += len(line) + 1
            yield line


def _manifest_path(output: Path) -> Path:
    return output.with_name(output.name + ".manifest.json")


def _is_fresh(output: Path, manifest: dict) -> bool:
    """True when ``output`` exists and was produced with exactly ``manifest``."""
    path = _manifest_path(output)
    if not output.exists() or not path.exists():
        return False
    try:
        return json.loads(path.read_text()) == manifest
    except (OSError, ValueError):
        return False


def _write_manifest(output: Path, manifest: dict) -> None:
    _manifest_path(output).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def ensure_data_dir() -> Path:
    """Create the cache directory (with a .gitignore that ignores everything)."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    gitignore = DATA_DIR / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("# Generated benchmark inputs: never commit.\n*\n")
    return DATA_DIR


def ensure_corpus(size_mb: int, seed: int = DEFAULT_SEED) -> Path:
    """Return the path of the single-file corpus, generating it if needed."""
    ensure_data_dir()
    output = DATA_DIR / f"corpus-{size_mb}mb-seed{seed}.txt"
    manifest = {
        "kind": "corpus", "version": GENERATOR_VERSION, "seed": seed,
        "size_mb": size_mb, "vocabulary": VOCABULARY_SIZE,
        "zipf_exponent": ZIPF_EXPONENT, "words_per_line": list(WORDS_PER_LINE),
    }
    if _is_fresh(output, manifest):
        return output
    print(f"[gen_data] generating {output.name} ({size_mb} MB)...", file=sys.stderr, flush=True)
    tmp = output.with_name(output.name + ".tmp")
    with open(tmp, "w", encoding="ascii", newline="\n") as handle:
        for line in generate_lines(seed, size_mb * 1_000_000):
            handle.write(line)
            handle.write("\n")
    os.replace(tmp, output)
    _write_manifest(output, manifest)
    return output


def ensure_corpus_dir(size_mb: int, n_files: int, seed: int = DEFAULT_SEED) -> Path:
    """Return a directory holding the corpus split into ``n_files`` small files.

    Lines are assigned in order, rolling over to the next file whenever the
    running byte count passes the next ``total / n_files`` boundary, so files
    have nearly equal sizes and their concatenation equals the corpus.
    """
    corpus = ensure_corpus(size_mb, seed)
    output = DATA_DIR / f"corpus-{size_mb}mb-seed{seed}-{n_files}files"
    manifest = {
        "kind": "corpus_dir", "version": GENERATOR_VERSION, "source": corpus.name,
        "source_bytes": corpus.stat().st_size, "files": n_files,
    }
    if _is_fresh(output, manifest):
        return output
    print(f"[gen_data] splitting into {n_files} files: {output.name}", file=sys.stderr, flush=True)
    tmp = output.with_name(output.name + ".tmp")
    _remove(tmp)
    tmp.mkdir()
    _split_lines(corpus, tmp, n_files)
    _remove(output)
    os.replace(tmp, output)
    _write_manifest(output, manifest)
    return output


def _split_lines(corpus: Path, directory: Path, n_files: int) -> None:
    """Write the lines of ``corpus`` into ``n_files`` part files in ``directory``."""
    total = corpus.stat().st_size
    written = 0
    index = 0
    out = open(directory / f"part-{index:05d}.txt", "wb")
    try:
        with open(corpus, "rb") as source:
            for line in source:
                boundary = total * (index + 1) // n_files
                if written >= boundary and index < n_files - 1:
                    out.close()
                    index += 1
                    out = open(directory / f"part-{index:05d}.txt", "wb")
                out.write(line)
                written += len(line)
    finally:
        out.close()
    for missing in range(index + 1, n_files):  # only for absurdly many files
        (directory / f"part-{missing:05d}.txt").touch()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=100, help="corpus size in MB (default 100)")
    parser.add_argument("--files", type=int, default=1000, help="number of small files (default 1000)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    print(ensure_corpus(args.size_mb, args.seed))
    print(ensure_corpus_dir(args.size_mb, args.files, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
