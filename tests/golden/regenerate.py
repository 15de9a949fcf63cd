"""Regenerate the golden images after an intended change of the render profiles:

    .venv/bin/python tests/golden/regenerate.py

Renders every memory of cases.json with every profile to tests/golden/<profile>__<case>.png.
Look at the new images (and the git diff sizes) before committing them.
"""

from __future__ import annotations

import json
from pathlib import Path

from memocr.render import PROFILES, Renderer

GOLDEN_DIR = Path(__file__).resolve().parent


def golden_path(profile: str, case: str) -> Path:
    return GOLDEN_DIR / f"{profile}__{case}.png"


def load_cases() -> dict[str, str]:
    return json.loads((GOLDEN_DIR / "cases.json").read_text(encoding="utf-8"))


def main() -> None:
    cases = load_cases()
    with Renderer(pages=2) as renderer:
        for profile in sorted(PROFILES):
            for case, memory in cases.items():
                result = renderer.render(memory, profile=profile)
                result.image.save(golden_path(profile, case), optimize=True)
                print(f"{golden_path(profile, case).name}: {result.width}x{result.height}")


if __name__ == "__main__":
    main()
