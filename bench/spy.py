"""Summarise a py-spy raw profile: where one worker's samples were, by function.

    py-spy record -r 250 -d 5 -p <worker pid> --format raw -o profile.raw --nonblocking
    python -m bench.spy profile.raw --title "what ran meanwhile" > bench/results/profile-....txt

Self time is the function on top of the stack; inclusive time counts a
function once per sample wherever it is on the stack.
"""

import argparse
import re
from collections import Counter
from pathlib import Path

# Paths shortened to what identifies the code.
_PREFIX = re.compile(r"/\S*?/(?:site-packages|lib/python3\.\d+)/|/\S*?/(?=chat/|bench/)")


def summarise(raw: str, top_self: int = 25, top_inclusive: int = 30) -> str:
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [
            _PREFIX.sub("", f)
            for f in stack.split(";")
            if not f.startswith(("process ", "thread "))
        ]
        if not frames:
            continue
        n = int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            anywhere[frame] += n
    lines = [f"samples {total}", "-- self time"]
    lines += [f"{100 * n / total:5.1f}% {f}" for f, n in own.most_common(top_self)]
    lines.append("-- inclusive time")
    lines += [f"{100 * n / total:5.1f}% {f}" for f, n in anywhere.most_common(top_inclusive)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path)
    parser.add_argument("--title", default="", help="a first line saying what ran")
    args = parser.parse_args()
    if args.title:
        print(args.title)
    print(summarise(args.raw.read_text()))


if __name__ == "__main__":
    main()
