"""Summaries of a py-spy profile in raw (collapsed-stack) format, recorded with --threads --function.

Each line is `thread (TID): NAME;frame;frame;…;leaf COUNT`, a frame being `func (path:line)`.

    python -m tests.perf.profile_summary /tmp/profile.txt [--top 20]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

_THREAD = re.compile(r"^thread \((?:0x)?[0-9A-Fa-f]+\): ?(.*)$")
_FRAME = re.compile(r"^(?P<func>.*) \((?P<path>[^()]*):(?P<line>\d+)\)$")


@dataclass(slots=True)
class Profile:
    total: int = 0
    threads: Counter[str] = field(default_factory=Counter)
    own: Counter[str] = field(default_factory=Counter)  # leaf frame → samples
    inclusive: Counter[str] = field(default_factory=Counter)  # frame anywhere on the stack → samples
    inclusive_by_thread: dict[str, Counter[str]] = field(default_factory=dict)
    own_by_area: Counter[str] = field(default_factory=Counter)
    stacks: list[tuple[str, str, int]] = field(default_factory=list)  # (thread, "f1;f2;…", count)


def area(frame: str) -> str:
    """Where a frame's code lives: a package (sqlalchemy, pydantic…), a stdlib module or our module."""
    match = _FRAME.match(frame)
    if match is None:
        return frame
    path = match["path"]
    if path.startswith("console/"):
        return path.removesuffix(".py")
    parts = path.split("/")
    return parts[0].removesuffix(".py") if parts[0] else path


def load(path: Path) -> Profile:
    profile = Profile()
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = frames[0]
        match = _THREAD.match(thread)
        if match is not None:
            thread = match[1] or thread
            frames = frames[1:]
        if not frames:
            continue
        profile.total += count
        profile.threads[thread] += count
        profile.own[frames[-1]] += count
        profile.own_by_area[area(frames[-1])] += count
        profile.stacks.append((thread, ";".join(frames), count))
        per_thread = profile.inclusive_by_thread.setdefault(thread, Counter())
        for frame in set(frames):
            profile.inclusive[frame] += count
            per_thread[frame] += count
    return profile


def breakdown(profile: Profile, rules: list[tuple[str, str, str]]) -> list[tuple[str, int]]:
    """Samples per stage: the first rule (label, thread name, text in a frame) that a stack matches."""
    counts: Counter[str] = Counter()
    for thread, stack, count in profile.stacks:
        label = next(
            (label for label, name, text in rules if name == thread and text in stack), f"{thread}: other"
        )
        counts[label] += count
    order = {label: i for i, (label, _, _) in enumerate(rules)}
    return sorted(counts.items(), key=lambda item: order.get(item[0], len(order)))


def render_breakdown(profile: Profile, rules: list[tuple[str, str, str]]) -> str:
    if profile.total == 0:
        return "no samples"
    return "\n".join(f"  {100 * n / profile.total:5.1f}%  {label}" for label, n in breakdown(profile, rules))


def render(profile: Profile, *, top: int = 20, seconds: float | None = None, rate: int | None = None) -> str:
    if profile.total == 0:
        return "no samples"
    total = profile.total
    lines = [f"samples: {total}"]
    if seconds and rate:
        lines[0] += f" (≈ {total / (seconds * rate):.2f} of one core busy in Python code, holding the GIL)"

    def share(n: int) -> str:
        return f"{100 * n / total:5.1f}%"

    lines.append("by thread:")
    lines += [f"  {share(n)}  {name}" for name, n in profile.threads.most_common(top)]
    lines.append("own time by package/module (the leaf frame's code):")
    lines += [f"  {share(n)}  {name}" for name, n in profile.own_by_area.most_common(top)]
    lines.append("own time by function (the leaf frame):")
    lines += [f"  {share(n)}  {name}" for name, n in profile.own.most_common(top)]
    for thread, counts in sorted(
        profile.inclusive_by_thread.items(), key=lambda item: -profile.threads[item[0]]
    ):
        in_thread = profile.threads[thread]
        if in_thread < total * 0.02:
            continue
        lines.append(
            f"inclusive time, thread {thread} (share of all samples; frames on ~every stack left out):"
        )
        ranked = [(name, n) for name, n in counts.most_common() if n < in_thread * 0.98]
        lines += [f"  {share(n)}  {name}" for name, n in ranked[: top + 10]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args(argv)
    print(render(load(args.path), top=args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
