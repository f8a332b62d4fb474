"""Whether this checkout's intake analysis gives exactly what another checkout's gives.

    .venv/bin/python bench/insights_identity.py --against /path/to/other/checkout

Each checkout analyses the same texts in its own process (its own code first on the
path): the pxtextmining comments (when present), each of them again with one word
dropped and with its words reversed (many texts neither model has seen), the test
fixture's comments and a few edge cases. Every field of every analysis is compared as
stored (``to_json``, floats by their exact ``repr``); the first differences are printed
and the exit status is 1 if there are any.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from common import DATA, ROOT, output_in_checkout

EDGE_CASES = (
    "",
    " ",
    "...",
    "12 34 567",
    "No",
    "no.",
    "Nothing",
    "N/A",
    "not bad, not good, never rude, hardly helpful",
    "Couldn’t be better! Wouldn't change a thing",
    "It's the nurse's job; the nurses' station was the staff's",
    "Please please please add more parking - and faster phones.",
    "Ça va très bien, merci. Überraschend gut! 😀",
    "staff staff staff staff staff staff staff staff staff staff",
    "kind " * 400,
    "The GP's receptionist wasn't helpful; I waited 3 hours but the doctor was lovely.",
)


def texts() -> list[str]:
    sys.path.append(str(ROOT))  # for the fixture: the code measured comes first
    from consultations.insights.training import read_pxtextmining
    from tests.insights.fixture import COMMENTS

    comments = [c.text for c in read_pxtextmining(DATA)] if DATA.exists() else []
    chooser = random.Random(11)
    dropped = []
    for comment in comments:
        words = comment.split()
        if len(words) > 1:
            del words[chooser.randrange(len(words))]
        dropped.append(" ".join(words))
    reversed_ = [" ".join(reversed(c.split())) for c in comments]
    return [*comments, *dropped, *reversed_, *COMMENTS, *EDGE_CASES]


def child() -> None:
    from consultations.insights import analyse_text, text

    analyses = [analyse_text(t).to_json() for t in texts()]
    sys.stdout.write(json.dumps({"code": text.__file__, "analyses": analyses}))


def run(code: Path) -> list[dict[str, object]]:
    result = json.loads(output_in_checkout(code, str(Path(__file__).resolve()), "--child"))
    if not Path(result["code"]).is_relative_to(code):
        raise SystemExit(f"{code} measured {result['code']}")
    analyses: list[dict[str, object]] = result["analyses"]
    return analyses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="the other checkout (e.g. of main)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return 0
    if args.against is None:
        parser.error("--against is required")
    sample = texts()
    ours, theirs = run(ROOT), run(args.against.resolve())
    if len(ours) != len(theirs):
        print(f"{len(ours)} analyses here, {len(theirs)} there")
        return 1
    differ = [i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b]
    # Equal dicts can still differ in a float's sign of zero: compare the stored text too.
    differ += [
        i
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True))
        if a == b and json.dumps(a) != json.dumps(b)
    ]
    for i in differ[:10]:
        print(f"{sample[i]!r}:\n  here  {ours[i]}\n  there {theirs[i]}")
    fields = sum(len(a) for a in ours)
    print(f"{len(ours)} texts ({fields} fields): {len(differ)} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
