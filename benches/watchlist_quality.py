#!/usr/bin/env python3
"""Precision and recall of `checkpointctl watchlist screen` on the labelled set in
tests/fixtures/watchlist/ (built by benches/watchlist_labelled.py), compared on the same pairs
with OpenSanctions' nomenklatura matcher (logic-v2, the algorithm yente uses by default).

Setup:   scripts/watchlist-venv            (nomenklatura into .tools/watchlist-venv)
         cargo build --release --bin checkpointctl
Run:     .tools/watchlist-venv/bin/python benches/watchlist_quality.py \
             --checkpointctl target/release/checkpointctl [--sweep]
Without the venv, `--no-reference` measures checkpointctl alone with the system python3.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures", "watchlist")


def load(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def ours(checkpointctl):
    """{(traveller, alert): score} for every pair scoring above 0, and the full screen output."""
    with open(os.path.join(FIXTURES, "travellers.jsonl"), "rb") as stdin:
        done = subprocess.run(
            [checkpointctl, "watchlist", "screen", "--alerts",
             os.path.join(FIXTURES, "alerts.jsonl"), "--threshold", "0", "--json"],
            stdin=stdin, capture_output=True, check=True)
    scores = {}
    for line in done.stdout.decode().splitlines():
        row = json.loads(line)
        for match in row["matches"]:
            scores[(row["id"], match["alert_id"])] = match["score"]
    return scores


def reference_scores(pairs, travellers, alerts):
    from followthemoney import model
    from nomenklatura.matching import get_algorithm

    algorithm = get_algorithm("logic-v2")
    config = algorithm.default_config()

    def person(entity_id, names, birth, nationalities, sex):
        proxy = model.make_entity("Person")
        proxy.id = entity_id
        for surname, given in names:
            proxy.add("name", f"{given} {surname}".strip())
            proxy.add("firstName", given)
            proxy.add("lastName", surname)
        if birth:
            proxy.add("birthDate", birth)
        for code in nationalities:
            proxy.add("nationality", code.lower()[:2] if len(code) == 2 else code)
        if sex in ("M", "F"):
            proxy.add("gender", "male" if sex == "M" else "female")
        return proxy

    by_id = {t["id"]: t for t in travellers}
    alert_by_id = {a["alert_id"]: a for a in alerts}
    scores = {}
    for pair in pairs:
        t, a = by_id[pair["traveller"]], alert_by_id[pair["alert"]]
        query = person(t["id"], [(t["surname"], t["given_names"])], t["birth_date"],
                       [t["nationality"]] if t.get("nationality") else [], t.get("sex"))
        result = person(a["alert_id"], [(n["surname"], n.get("given_names", "")) for n in a["names"]],
                        a.get("birth_date"), a.get("nationalities") or [], a.get("sex"))
        scores[(pair["traveller"], pair["alert"])] = algorithm.compare(query, result, config).score
    return scores


def figures(pairs, scores, threshold):
    tp = fp = fn = tn = 0
    for pair in pairs:
        hit = scores.get((pair["traveller"], pair["alert"]), 0.0) >= threshold
        if pair["same"]:
            tp, fn = tp + hit, fn + (not hit)
        else:
            fp, tn = fp + hit, tn + (not hit)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, tp, fp, fn


def main():
    global FIXTURES
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpointctl", default=os.path.join(HERE, "..", "target", "release", "checkpointctl"))
    parser.add_argument("--threshold", type=float, default=0.72)
    parser.add_argument("--reference-threshold", type=float, default=0.7,
                        help="nomenklatura's cut-off (yente's default 0.70)")
    parser.add_argument("--sweep", action="store_true", help="print figures over a range of thresholds")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--misses", action="store_true", help="list the pairs ours gets wrong")
    parser.add_argument("--fixtures", default=FIXTURES, help="a labelled set's directory")
    args = parser.parse_args()
    FIXTURES = args.fixtures

    pairs, travellers, alerts = load("pairs.jsonl"), load("travellers.jsonl"), load("alerts.jsonl")
    print(f"{len(pairs)} labelled pairs ({sum(p['same'] for p in pairs)} same person), "
          f"{len(travellers)} travellers, {len(alerts)} alerts")
    scores = ours(args.checkpointctl)
    p, r, tp, fp, fn = figures(pairs, scores, args.threshold)
    print(f"checkpointctl   threshold {args.threshold:.2f}: precision {p:.4f} recall {r:.4f} (tp {tp}, fp {fp}, fn {fn})")
    # Over the whole list: every alert returned for a traveller that is not their own is a false hit.
    own = {p["traveller"]: p["alert"] for p in pairs if p["same"]}
    labelled = {(p["traveller"], p["alert"]) for p in pairs}
    stray = sum(1 for (t, a), s in scores.items()
                if s >= args.threshold and (t, a) not in labelled and own.get(t) != a)
    print(f"checkpointctl   unlabelled alerts above the threshold over the whole list: {stray} "
          f"(of {len(travellers) * len(alerts)} traveller-alert pairs)")
    if args.sweep:
        for t in [x / 100 for x in range(50, 96, 2)]:
            p, r, *_ = figures(pairs, scores, t)
            print(f"  ours  {t:.2f}: precision {p:.4f} recall {r:.4f}")
    if args.misses:
        for pair in pairs:
            s = scores.get((pair["traveller"], pair["alert"]), 0.0)
            if (s >= args.threshold) != pair["same"]:
                t = next(x for x in travellers if x["id"] == pair["traveller"])
                a = next(x for x in alerts if x["alert_id"] == pair["alert"])
                print(f"  {'FN' if pair['same'] else 'FP'} {s:.3f} {pair['why']}: "
                      f"{t['surname']} / {t['given_names']} {t['birth_date']} vs "
                      f"{a['names'][0]['surname']} / {a['names'][0].get('given_names')} {a.get('birth_date')}")
    if args.no_reference:
        return
    reference = reference_scores(pairs, travellers, alerts)
    p, r, tp, fp, fn = figures(pairs, reference, args.reference_threshold)
    print(f"nomenklatura logic-v2 threshold {args.reference_threshold:.2f}: precision {p:.4f} recall {r:.4f} (tp {tp}, fp {fp}, fn {fn})")
    best = max(((figures(pairs, reference, t / 100), t / 100) for t in range(5, 100)),
               key=lambda x: (x[0][1] if x[0][0] >= 0.95 else -1, x[0][0]))
    (bp, br, *_), bt = best
    print(f"nomenklatura logic-v2 best threshold for precision >= 0.95: {bt:.2f}: precision {bp:.4f} recall {br:.4f}")
    if args.sweep:
        for t in [x / 100 for x in range(30, 96, 5)]:
            p, r, *_ = figures(pairs, reference, t)
            print(f"  nomenklatura {t:.2f}: precision {p:.4f} recall {r:.4f}")


if __name__ == "__main__":
    sys.exit(main())
