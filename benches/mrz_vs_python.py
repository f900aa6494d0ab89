#!/usr/bin/env python3
"""Throughput of `checkpointctl mrz --jsonl` against the Python `mrz` package's checker.

Both read the same generated documents (half TD3, half TD1, 1 in 10 with a corrupted check digit)
and produce a JSON object per document. Target: checkpointctl at least 20 times the Python rate.

Setup:   python3 -m venv /tmp/mrzvenv && /tmp/mrzvenv/bin/pip install mrz
         CARGO_TARGET_DIR=/work/target cargo build --release --bin checkpointctl
Run:     /tmp/mrzvenv/bin/python benches/mrz_vs_python.py \
             --checkpointctl /work/target/release/checkpointctl [--count 100000]
"""

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time

from mrz.checker.td1 import TD1CodeChecker
from mrz.checker.td3 import TD3CodeChecker

WEIGHTS = (7, 3, 1)
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
STATES = ("UTO", "AZE", "FRA", "DEU", "ITA", "ESP", "NLD", "POL")


def value(c):
    if c.isdigit():
        return int(c)
    if c == "<":
        return 0
    return ord(c) - 55


def check(text):
    return str(sum(value(c) * WEIGHTS[i % 3] for i, c in enumerate(text)) % 10)


def pad(text, width):
    return (text + "<" * width)[:width]


def rand_date(rng):
    return "%02d%02d%02d" % (rng.randrange(100), rng.randrange(1, 13), rng.randrange(1, 29))


def rand_word(rng, low, high):
    return "".join(rng.choice(LETTERS) for _ in range(rng.randint(low, high)))


def rand_alnum(rng, n):
    return "".join(rng.choice(LETTERS + "0123456789") for _ in range(n))


def td3(rng):
    state = rng.choice(STATES)
    name = rand_word(rng, 3, 12) + "<<" + rand_word(rng, 3, 8)
    line1 = "P<" + state + pad(name, 39)
    number = pad(rand_alnum(rng, 9), 9)
    birth, expiry = rand_date(rng), rand_date(rng)
    personal = pad(rand_alnum(rng, rng.randint(0, 14)), 14)
    line2 = (number + check(number) + state + birth + check(birth) + rng.choice("MF<")
             + expiry + check(expiry) + personal + check(personal))
    line2 += check(line2[0:10] + line2[13:20] + line2[21:43])
    return [line1, line2]


def td1(rng):
    state = rng.choice(STATES)
    number = rand_alnum(rng, 9)
    line1 = "I<" + state + number + check(number) + pad(rand_alnum(rng, rng.randint(0, 10)), 15)
    birth, expiry = rand_date(rng), rand_date(rng)
    line2 = birth + check(birth) + rng.choice("MF<") + expiry + check(expiry) + state + "<" * 11
    line2 += check(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29])
    name = rand_word(rng, 3, 12) + "<<" + rand_word(rng, 3, 8)
    return [line1, line2, pad(name, 30)]


def corrupt(lines, rng):
    # Bump the birth-date check digit: a refuted check every parser must catch.
    line = 1
    column = 19 if len(lines) == 2 else 6
    text = lines[line]
    digit = str((int(text[column]) + 1) % 10)
    lines[line] = text[:column] + digit + text[column + 1:]
    return lines


def generate(count, seed):
    rng = random.Random(seed)
    documents = []
    for index in range(count):
        lines = td3(rng) if index % 2 == 0 else td1(rng)
        if index % 10 == 9:
            lines = corrupt(lines, rng)
        documents.append(lines)
    return documents


def run_python(documents):
    n_valid = 0
    out = []
    for lines in documents:
        text = "\n".join(lines)
        checker = TD3CodeChecker(text) if len(lines) == 2 else TD1CodeChecker(text)
        valid = bool(checker)
        n_valid += valid
        fields = checker.fields()._asdict()
        fields["valid"] = valid
        out.append(json.dumps(fields))
    return n_valid, len(out)


def run_rust(binary, path):
    with open(path, "rb") as stdin:
        result = subprocess.run(
            [binary, "mrz", "--jsonl", "--reference-date", "2026-11-23"],
            stdin=stdin, stdout=subprocess.PIPE, check=False)
    if result.returncode not in (0, 1):
        sys.exit("checkpointctl failed with status %d" % result.returncode)
    return result.stdout


def count_valid(stdout):
    lines = stdout.splitlines()
    return sum(1 for line in lines if json.loads(line)["valid"]), len(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpointctl", required=True)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=9303)
    args = parser.parse_args()

    documents = generate(args.count, args.seed)
    with tempfile.NamedTemporaryFile("w", suffix=".mrz", delete=False) as handle:
        handle.write("\n\n".join("\n".join(lines) for lines in documents) + "\n")
        path = handle.name

    start = time.perf_counter()
    rust_stdout = run_rust(args.checkpointctl, path)
    rust_seconds = time.perf_counter() - start
    rust_valid, rust_count = count_valid(rust_stdout)

    start = time.perf_counter()
    python_valid, python_count = run_python(documents)
    python_seconds = time.perf_counter() - start

    rust_rate = rust_count / rust_seconds
    python_rate = python_count / python_seconds
    print("documents:            %d (expected valid: %d)" % (args.count, args.count - args.count // 10))
    print("checkpointctl --jsonl: %8.3f s  %10.0f docs/s  valid %d/%d"
          % (rust_seconds, rust_rate, rust_valid, rust_count))
    print("python mrz checker:    %8.3f s  %10.0f docs/s  valid %d/%d"
          % (python_seconds, python_rate, python_valid, python_count))
    print("speed-up:              %.1fx (target >= 20x)" % (rust_rate / python_rate))


if __name__ == "__main__":
    main()
