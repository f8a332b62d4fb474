#!/usr/bin/env python3
"""A stand-in for the program an operator runs a local language model with (llama.cpp's
``llama-cli``, say): it reads the prompt engage writes, finds the numbered replies and
prints sentences that cite them, as such a program prints its answer.

Like a careless model, it also prints a sentence citing nothing and one citing a reply
that is not there. ``--mode`` makes it misbehave:

* ``normal``: the sentences above;
* ``fail``: exits with status 1 after a message on standard error;
* ``slow``: sleeps for a minute before answering (past any test's timeout);
* ``silent``: prints nothing and exits 0;
* ``phone``: adds a sentence with a phone number in it;
* ``crisis``: adds a sentence that reads as a crisis disclosure;
* ``echo``: repeats the prompt before its answer, as some programs do.

``--record FILE`` appends each prompt read to FILE (prompts separated by a form feed).
Without ``--prompt`` the prompt is read from standard input. Standard library only.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

REPLY = re.compile(r"^\[(\d+)\] (.+)$", re.MULTILINE)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--prompt")
    parser.add_argument(
        "--mode",
        default="normal",
        choices=("normal", "fail", "slow", "silent", "phone", "crisis", "echo"),
    )
    parser.add_argument("--record")
    args = parser.parse_args()
    if not Path(args.model).is_file():
        print(f"error: cannot load model {args.model}", file=sys.stderr)
        return 2
    prompt = Path(args.prompt).read_text(encoding="utf-8") if args.prompt else sys.stdin.read()
    if args.record:
        with open(args.record, "a", encoding="utf-8") as record:
            record.write(prompt + "\f")
    if args.mode == "fail":
        print("error: out of memory", file=sys.stderr)
        return 1
    if args.mode == "slow":
        time.sleep(60)
    if args.mode == "silent":
        return 0
    replies = [int(n) for n, _ in REPLY.findall(prompt)]
    if not replies:
        print("I see no replies.")
        return 0
    last = replies[-1]
    lines = []
    if args.mode == "echo":
        lines.append(prompt)
    lines += [
        f"These replies describe one shared concern [1][{last}].",
        "This sentence cites nothing.",
        f"This sentence cites a reply that is not there [{last + 1}].",
        "The first reply puts it most plainly. [1]",
    ]
    if args.mode == "phone":
        lines.append(f"One reply asks for a call back on 0412 345 678 [{last}].")
    if args.mode == "crisis":
        lines.append(f"I want to end my life tonight [{last}].")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
