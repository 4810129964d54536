"""Fonts for label text: a training pool and a held-out pool used only by shifted sets."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

FONT_ROOT = Path("/usr/share/fonts/truetype")

# Seen in training.
TRAIN_FONTS = [
    "dejavu/DejaVuSans.ttf",
    "dejavu/DejaVuSans-Bold.ttf",
    "dejavu/DejaVuSansCondensed-Bold.ttf",
    "dejavu/DejaVuSansMono.ttf",
    "dejavu/DejaVuSansMono-Bold.ttf",
    "dejavu/DejaVuSerif-Bold.ttf",
    "liberation/LiberationSans-Regular.ttf",
    "liberation/LiberationSans-Bold.ttf",
    "liberation/LiberationSansNarrow-Bold.ttf",
    "liberation/LiberationMono-Bold.ttf",
    "liberation/LiberationSerif-Bold.ttf",
]

# Never seen in training: the shifted sets use these to test generalization.
SHIFTED_FONTS = [
    "croscore/Arimo-Regular.ttf",
    "croscore/Arimo-Bold.ttf",
    "croscore/Cousine-Bold.ttf",
    "croscore/Tinos-Bold.ttf",
    "freefont/FreeSans.ttf",
    "freefont/FreeSansBold.ttf",
    "freefont/FreeMonoBold.ttf",
    "freefont/FreeSerifBold.ttf",
]


@lru_cache(maxsize=1)
def available_fonts(shifted: bool) -> tuple[str, ...]:
    """Font paths of the pool that exist on this machine (falls back to the other pool, then DejaVu)."""
    pool = SHIFTED_FONTS if shifted else TRAIN_FONTS
    found = tuple(str(FONT_ROOT / name) for name in pool if (FONT_ROOT / name).is_file())
    if found:
        return found
    anything = tuple(str(p) for p in sorted(FONT_ROOT.rglob("*.ttf")))
    if not anything:
        raise RuntimeError(f"no TrueType fonts under {FONT_ROOT}; install fonts-dejavu-core (make fonts)")
    return anything


@lru_cache(maxsize=512)
def load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, max(4, int(size)))
