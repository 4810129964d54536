"""Shipping labels: portrait ~2:3 paper with a carrier line, PRO line, DEST line, free text and a Code 128."""

from __future__ import annotations

from dataclasses import dataclass

import barcode
import numpy as np
from PIL import Image, ImageDraw

from contracts.pro import make_pro
from training.synth.fonts import FONT_ROOT, available_fonts, load_font

SUPERSAMPLE = 3
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CARRIER_WORDS = [
    "ATLAS", "SUMMIT", "NORTHERN", "RAPID", "BLUE", "RIDGE", "PRAIRIE", "COASTAL", "IRON", "HORIZON",
    "EAGLE", "TRANS", "CARGO", "FREIGHT", "LINES", "EXPRESS", "LOGISTICS", "MOTOR", "HAUL", "CROSS",
    "VALLEY", "KEYSTONE", "PIONEER", "LIBERTY", "FALCON", "DELTA", "UNITED", "STAR", "PACIFIC", "GULF",
]
FREE_TEXT = [
    "PCS {n}", "WT {n} LB", "WT {n} KG", "SHIP TO", "HANDLE WITH CARE", "REF {n}", "PO {n}", "BOL {n}",
    "STACK {m} HIGH", "LTL", "DOOR {m}", "ZONE {m}", "FRAGILE", "KEEP DRY",
]


@dataclass(frozen=True)
class LabelSpec:
    """Everything needed to draw one label deterministically."""

    pro: str
    dest: str
    pro_style: int  # 0: bare, 1: dash before check digit, 2: groups of 4-4-2
    carrier: str
    free_lines: tuple[str, ...]
    font: str
    dest_font: str
    barcode: bool
    border: bool
    rules: bool
    paper: tuple[int, int, int]
    ink: int
    width_px: float
    height_px: float

    def pro_text(self) -> str:
        p = self.pro
        if self.pro_style == 1:
            return f"PRO {p[:9]}-{p[9]}"
        if self.pro_style == 2:
            return f"PRO {p[:4]} {p[4:8]} {p[8:]}"
        return f"PRO {p}"


def random_pro(rng: np.random.Generator) -> str:
    return make_pro("".join(str(d) for d in rng.integers(0, 10, size=9)))


def random_dest(rng: np.random.Generator) -> str:
    return "".join(rng.choice(list(LETTERS), size=3))


def _free_line(rng: np.random.Generator) -> str:
    tpl = FREE_TEXT[int(rng.integers(len(FREE_TEXT)))]
    return tpl.format(n=int(rng.integers(10, 99999)), m=int(rng.integers(1, 9)))


def sample_label(rng: np.random.Generator, height_px: float, shifted: bool, font: str | None = None) -> LabelSpec:
    """One label's content and look; `font` (a path under the font root) prints every line in that typeface."""
    fonts = (str(FONT_ROOT / font),) if font else available_fonts(shifted)
    n_words = int(rng.integers(1, 3))
    carrier = " ".join(rng.choice(CARRIER_WORDS, size=n_words))
    free = tuple(_free_line(rng) for _ in range(int(rng.integers(0, 3))))
    paper_v = int(rng.integers(225, 256))
    paper = (paper_v, paper_v - int(rng.integers(0, 10)), paper_v - int(rng.integers(0, 22)))
    return LabelSpec(
        pro=random_pro(rng),
        dest=random_dest(rng),
        pro_style=int(rng.integers(0, 3)),
        carrier=carrier,
        free_lines=free,
        font=str(rng.choice(fonts)),
        dest_font=str(rng.choice(fonts)),
        barcode=bool(rng.random() < 0.6),
        border=bool(rng.random() < 0.5),
        rules=bool(rng.random() < 0.4),
        paper=paper,
        ink=int(rng.integers(0, 60)),
        width_px=float(height_px * rng.uniform(0.62, 0.70)),
        height_px=float(height_px),
    )


def _fit_font(path: str, text: str, max_w: float, max_h: float):
    """Largest font size whose rendering of `text` fits in max_w x max_h."""
    size = max(6, int(max_h * 1.3))
    while size > 6:
        font = load_font(path, size)
        x0, y0, x1, y1 = font.getbbox(text)
        if x1 - x0 <= max_w and y1 - y0 <= max_h:
            return font, (x0, y0, x1, y1)
        size = int(size * 0.92)
    font = load_font(path, 6)
    return font, font.getbbox(text)


def render_label(spec: LabelSpec, rng: np.random.Generator) -> Image.Image:
    """The label as an RGBA image at frame scale (upright; the scene rotates it)."""
    return render_label_with_lines(spec, rng)[0]


def render_label_with_lines(spec: LabelSpec, rng: np.random.Generator) -> tuple[Image.Image, dict[str, float]]:
    """The label image and the vertical centre (label pixels) of its PRO and DEST lines."""
    W = round(spec.width_px * SUPERSAMPLE)
    H = round(spec.height_px * SUPERSAMPLE)
    img = Image.new("RGBA", (W, H), (*spec.paper, 255))
    draw = ImageDraw.Draw(img)
    ink = (spec.ink, spec.ink, spec.ink + 5, 255)
    margin = W * rng.uniform(0.04, 0.06)
    inner_w = W - 2 * margin

    # Lines top to bottom: carrier, [free], PRO, [free], DEST, [barcode]
    lines: list[tuple[str, str, float, float]] = [(spec.carrier, spec.font, 0.09, 0.85)]
    centres: dict[str, float] = {}
    free = list(spec.free_lines)
    if free:
        lines.append((free.pop(0), spec.font, 0.065, 0.8))
    lines.append((spec.pro_text(), spec.font, 0.13, rng.uniform(0.95, 1.0)))
    if free:
        lines.append((free.pop(0), spec.font, 0.065, 0.8))
    lines.append((f"DEST {spec.dest}", spec.dest_font, 0.16, rng.uniform(0.75, 1.0)))
    barcode_h = H * 0.16 if spec.barcode else 0.0

    rendered = []
    for text, font_path, rel_h, rel_w in lines:
        font, bbox = _fit_font(font_path, text, inner_w * rel_w, H * rel_h)
        rendered.append((text, font, bbox))
    text_h = sum(b[3] - b[1] for _, _, b in rendered)
    free_space = H - 2 * margin - text_h - barcode_h - (H * 0.03 if spec.barcode else 0)
    gap = max(free_space / (len(rendered) + (1 if spec.barcode else 0)), 1.0)
    y = margin + gap * 0.5
    for i, (text, font, bbox) in enumerate(rendered):
        lh = bbox[3] - bbox[1]
        x = margin + (inner_w - (bbox[2] - bbox[0])) * (0.5 if i == len(rendered) - 1 else rng.uniform(0, 0.15))
        draw.text((x - bbox[0], y - bbox[1]), text, font=font, fill=ink)
        if text.startswith(("PRO ", "DEST ")):
            centres[text.split(" ")[0].lower()] = (y + lh / 2) / SUPERSAMPLE
        y += lh + gap
        if spec.rules and i < len(rendered) - 1:
            ry = y - gap / 2
            draw.line([(margin * 0.6, ry), (W - margin * 0.6, ry)], fill=ink, width=max(1, W // 120))
    if spec.barcode:
        modules = barcode.get("code128", spec.pro).build()[0]
        bw = inner_w / len(modules)
        bx = margin
        by0 = H - margin - barcode_h
        for bit in modules:
            if bit == "1":
                draw.rectangle([bx, by0, bx + bw, H - margin], fill=ink)
            bx += bw
    if spec.border:
        draw.rectangle([W * 0.02, H * 0.02, W * 0.98, H * 0.98], outline=ink, width=max(2, W // 90))
    out = img.resize((max(1, round(spec.width_px)), max(1, round(spec.height_px))), Image.LANCZOS)
    scale = out.height / (H / SUPERSAMPLE)
    return out, {k: v * scale for k, v in centres.items()}
