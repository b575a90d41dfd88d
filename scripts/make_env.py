"""Write a local ``.env`` from ``.env.example`` with fresh random keys (used by ``make run``)."""

import secrets
import sys
from pathlib import Path


def main(example: str, target: str) -> None:
    lines = []
    for line in Path(example).read_text().splitlines():
        if line.startswith(("SECRET_KEY=", "JWT_SIGNING_KEY=")):
            key = line.split("=", 1)[0]
            line = f"{key}={secrets.token_urlsafe(50)}"
        lines.append(line)
    Path(target).write_text("\n".join(lines) + "\n")
    print(f"Wrote {target} with fresh SECRET_KEY and JWT_SIGNING_KEY (DEBUG=1 for local use).")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
