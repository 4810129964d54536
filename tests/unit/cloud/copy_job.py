"""A processing job for the emulator's tests: upper-cases every file of input `words` into output `shouted`."""

from __future__ import annotations

import sys

from edgecv.jobs import JobInputError, channel, job_parser


def main() -> int:
    args = job_parser("copy job").parse_args()
    try:
        words = channel(args.input_root, "words")
    except JobInputError as exc:
        print(f"copy job: {exc}", file=sys.stderr)
        return 2
    out = args.output_root / "shouted"
    for path in sorted(words.rglob("*")):
        if path.is_file():
            target = out / path.relative_to(words)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text().upper())
    return 0


if __name__ == "__main__":
    sys.exit(main())
