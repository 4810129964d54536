"""Scene sampling: what is in a loading-bay frame, as plain data drawn from a seeded RNG.

Rendering (`render.py`) turns a `Scene` into pixels and annotations; keeping the two apart lets the
forklift sequences move one pallet across frames while everything else stays identical.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np

from training.synth.label import LabelSpec, sample_label

FRAME_W, FRAME_H = 1280, 720
DAMAGE_KINDS = ("torn_wrap", "crushed_corner", "stain", "leaning", "broken_board")
LOAD_KINDS = ("cartons", "wrapped", "totes", "sacks")


@dataclass(frozen=True)
class DomainKnobs:
    """Appearance controls; the shifted set and staged drifts move these on purpose."""

    shifted: bool = False  # unseen fonts and backgrounds
    brightness: tuple[float, float] = (0.7, 1.25)
    dark_load_p: float = 0.15
    blur_sigma: tuple[float, float] = (0.0, 0.9)
    motion_blur_p: float = 0.15
    motion_blur_px: tuple[int, int] = (2, 5)
    noise_sigma: tuple[float, float] = (0.0, 6.0)
    tilt_deg: tuple[float, float] = (-3.0, 3.0)
    jpeg_quality: tuple[int, int] = (60, 95)
    label_p: float = 0.85
    damage_p: float = 0.4
    label_font: str | None = None  # one typeface for every label (a site's label printer), under the font root

    @classmethod
    def shifted_preset(cls) -> DomainKnobs:
        """Fonts and backgrounds never used in training, low light, more blur and noise."""
        return cls(
            shifted=True, brightness=(0.35, 0.8), dark_load_p=0.35, blur_sigma=(0.5, 1.3),
            motion_blur_p=0.3, motion_blur_px=(3, 6), noise_sigma=(3.0, 10.0), tilt_deg=(-5.0, 5.0),
            jpeg_quality=(45, 85),
        )

    @classmethod
    def shifted_fonts_preset(cls) -> DomainKnobs:
        """Half of the shifted set's shift, to tell which half costs what: its unseen fonts and backgrounds under the
        training look's light, blur and noise."""
        return cls(shifted=True)

    @classmethod
    def shifted_light_preset(cls) -> DomainKnobs:
        """The other half: the shifted set's low light, blur, noise, tilt and JPEG with the training fonts and
        backgrounds."""
        return replace(cls.shifted_preset(), shifted=False)

    @classmethod
    def drift_preset(cls) -> DomainKnobs:
        """A staged site drift: dark loads under low light."""
        return cls(brightness=(0.3, 0.55), dark_load_p=0.9, noise_sigma=(4.0, 10.0))

    @classmethod
    def printer_preset(cls) -> DomainKnobs:
        """A staged site drift: a new carrier's label printer, whose typeface (FreeSerif Bold) no model was trained
        on; the rest of the look is the training one."""
        return cls(label_font="freefont/FreeSerifBold.ttf")

    @classmethod
    def wide_preset(cls) -> DomainKnobs:
        """Domain randomisation for the teacher: the training look widened to dim light, dark loads, heavy noise
        and blur (fonts and backgrounds stay the training ones; the shifted set's stay unseen)."""
        return cls(brightness=(0.25, 1.3), dark_load_p=0.5, blur_sigma=(0.0, 1.2), motion_blur_p=0.25,
                   noise_sigma=(0.0, 12.0), jpeg_quality=(45, 95))

    @classmethod
    def dark_preset(cls) -> DomainKnobs:
        """Low light and mostly dark loads, wider than the staged drift on every knob (the teacher's second stage)."""
        return cls(brightness=(0.22, 0.65), dark_load_p=0.8, blur_sigma=(0.0, 1.0), motion_blur_p=0.2,
                   noise_sigma=(2.0, 12.0), jpeg_quality=(50, 95))

    # the teacher's training looks, wider than any staged drift: not offered by `edgecv generate`
    TEACHER_DOMAINS: ClassVar[tuple[str, ...]] = ("wide", "dark")

    @classmethod
    def _presets(cls) -> dict[str, Callable[[], DomainKnobs]]:
        return {"default": cls, "shifted": cls.shifted_preset, "shifted-fonts": cls.shifted_fonts_preset,
                "shifted-light": cls.shifted_light_preset, "drift": cls.drift_preset, "wide": cls.wide_preset,
                "dark": cls.dark_preset, "printer": cls.printer_preset}

    @classmethod
    def names(cls, *, teacher_domains: bool = True) -> tuple[str, ...]:
        """Every preset name `named` accepts; without the teacher's domains, the generator's presets."""
        return tuple(n for n in cls._presets() if teacher_domains or n not in cls.TEACHER_DOMAINS)

    @classmethod
    def named(cls, name: str) -> DomainKnobs:
        presets = cls._presets()
        if name not in presets:
            raise ValueError(f"unknown domain {name!r}: one of {', '.join(presets)}")
        return presets[name]()


@dataclass(frozen=True)
class PalletSpec:
    x: float  # left edge of the pallet base, frame pixels
    floor_y: float  # bottom of the base
    width: float
    load_height: float
    load_kind: str
    load_color: tuple[int, int, int]
    wood_color: tuple[int, int, int]
    damage: tuple[str, ...]
    lean: float  # horizontal shear of the load top, fraction of width (leaning damage)
    label: LabelSpec | None
    label_pos: tuple[float, float]  # label centre, fraction of the load face
    label_tilt: float
    seed: int
    carried: bool = False

    @property
    def damaged(self) -> bool:
        return bool(self.damage)

    @property
    def base_height(self) -> float:
        return self.width * 0.14

    def outline(self) -> np.ndarray:
        """Corner points of base and load (amodal), frame pixels."""
        bh = self.base_height
        top = self.floor_y - bh - self.load_height
        shear = self.lean * self.width
        x0, x1 = self.x + self.width * 0.01, self.x + self.width * 0.99
        return np.array([
            [self.x, self.floor_y], [self.x + self.width, self.floor_y],
            [x1, self.floor_y - bh], [x1 + shear, top], [x0 + shear, top], [x0, self.floor_y - bh],
        ])


@dataclass(frozen=True)
class PersonSpec:
    x: float
    floor_y: float
    height: float
    vest: tuple[int, int, int]
    skin: tuple[int, int, int]
    pants: tuple[int, int, int]
    hard_hat: bool
    seed: int

    def box(self) -> tuple[float, float, float, float]:
        w = self.height * 0.34
        return (self.x, self.floor_y - self.height, self.x + w, self.floor_y)


@dataclass(frozen=True)
class ForkliftSpec:
    pallet_index: int  # the pallet it carries
    side: int  # -1: forklift body on the left of the pallet, +1: right
    color: tuple[int, int, int]
    lift: float  # forks above the floor, px


@dataclass(frozen=True)
class Scene:
    seed: int
    knobs: DomainKnobs
    background: dict
    pallets: tuple[PalletSpec, ...]
    people: tuple[PersonSpec, ...]
    forklift: ForkliftSpec | None
    brightness: float
    color_cast: tuple[float, float, float]
    blur_sigma: float
    motion_blur: int
    noise_sigma: float
    tilt_deg: float
    jpeg_quality: int
    extras: dict = field(default_factory=dict)

    def with_pallet_shift(self, index: int, dx: float) -> Scene:
        pallets = list(self.pallets)
        pallets[index] = replace(pallets[index], x=pallets[index].x + dx)
        return replace(self, pallets=tuple(pallets))


def _color(rng: np.random.Generator, base: tuple[int, int, int], jitter: int) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.integers(-jitter, jitter + 1), 0, 255)) for c in base)  # type: ignore[return-value]


LOAD_COLORS = {
    "cartons": [(176, 132, 86), (160, 120, 75), (196, 160, 112), (140, 105, 70), (210, 190, 150)],
    "wrapped": [(170, 130, 90), (120, 130, 150), (190, 190, 185), (150, 110, 80)],
    "totes": [(60, 90, 150), (80, 80, 85), (150, 40, 40), (50, 120, 70)],
    "sacks": [(200, 185, 150), (225, 220, 205), (170, 160, 130)],
}
DARK_LOAD_COLORS = [(35, 35, 38), (45, 40, 35), (30, 35, 50), (55, 50, 45)]
WOOD_COLORS = [(190, 150, 100), (165, 130, 90), (140, 135, 125), (60, 90, 160), (150, 60, 45), (200, 170, 120)]


def _sample_background(rng: np.random.Generator, shifted: bool) -> dict:
    if shifted:
        wall = [(150, 75, 60), (60, 90, 70), (170, 165, 120), (95, 95, 120)][int(rng.integers(4))]
        floor = [(70, 80, 110), (110, 95, 80), (90, 110, 90)][int(rng.integers(3))]
        style = "brick"
    else:
        wall = _color(rng, (150, 150, 148), 30)
        floor = _color(rng, (128, 126, 120), 25)
        style = ["concrete", "panels"][int(rng.integers(2))]
    return {
        "style": style,
        "wall": wall,
        "floor": floor,
        "horizon": float(rng.uniform(0.42, 0.58) * FRAME_H),
        "doors": [
            (float(rng.uniform(-100, FRAME_W - 200)), float(rng.uniform(280, 420)))
            for _ in range(int(rng.integers(0, 3)))
        ],
        "stripe_y": float(rng.uniform(0.80, 0.95) * FRAME_H),
        "clutter": int(rng.integers(0, 4)),
        "seed": int(rng.integers(2**31)),
    }


def _sample_pallet(rng: np.random.Generator, knobs: DomainKnobs, x: float, width: float, floor_y: float) -> PalletSpec:
    kind = LOAD_KINDS[int(rng.integers(len(LOAD_KINDS)))]
    dark = rng.random() < knobs.dark_load_p
    base_color = DARK_LOAD_COLORS[int(rng.integers(len(DARK_LOAD_COLORS)))] if dark else \
        LOAD_COLORS[kind][int(rng.integers(len(LOAD_COLORS[kind])))]
    damage: tuple[str, ...] = ()
    if rng.random() < knobs.damage_p:
        n = 1 if rng.random() < 0.8 else 2
        damage = tuple(str(d) for d in rng.choice(DAMAGE_KINDS, size=n, replace=False))
    lean = float(rng.uniform(0.08, 0.16) * rng.choice([-1, 1])) if "leaning" in damage else 0.0
    load_height = float(width * rng.uniform(0.55, 1.05))
    label = None
    if rng.random() < knobs.label_p:
        height = float(rng.uniform(84, 210))
        height = min(height, load_height * 0.8, width * 0.75 / 0.70)
        if height >= 84:
            label = sample_label(rng, height, knobs.shifted, knobs.label_font)
    return PalletSpec(
        x=x, floor_y=floor_y, width=width, load_height=load_height, load_kind=kind,
        load_color=_color(rng, base_color, 12), wood_color=_color(rng, WOOD_COLORS[int(rng.integers(6))], 15),
        damage=damage, lean=lean, label=label,
        label_pos=(float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.3, 0.65))),
        label_tilt=float(rng.uniform(-4, 4)), seed=int(rng.integers(2**31)),
    )


def sample_scene(seed: int, knobs: DomainKnobs | None = None, n_pallets: int | None = None) -> Scene:
    """A random loading-bay scene, fully determined by `seed` and `knobs`."""
    knobs = knobs or DomainKnobs()
    rng = np.random.default_rng(seed)
    background = _sample_background(rng, knobs.shifted)
    n = int(rng.choice([0, 1, 1, 2, 2, 3, 3, 4])) if n_pallets is None else n_pallets
    pallets: list[PalletSpec] = []
    if n:
        widths = rng.uniform(190, 400, size=n)
        gaps = rng.uniform(-0.05, 0.25, size=n) * widths  # slight overlap allowed
        total = float(widths.sum() + gaps[1:].sum())
        # Scale down if they do not fit; allow the outer ones to leave the frame by up to 40%.
        spare = FRAME_W + 0.6 * (widths[0] + widths[-1]) * 0.5 - total
        if spare < 0:
            scale = (FRAME_W + 0.3 * (widths[0] + widths[-1])) / total
            widths, gaps = widths * scale, gaps * scale
            total = float(widths.sum() + gaps[1:].sum())
        x = float(rng.uniform(-0.3 * widths[0], max(-0.3 * widths[0] + 1, FRAME_W - total + 0.3 * widths[-1])))
        for i in range(n):
            floor_y = float(np.clip(background["horizon"] + rng.uniform(180, 330), 560, FRAME_H - 5))
            pallets.append(_sample_pallet(rng, knobs, x, float(widths[i]), floor_y))
            x += float(widths[i] + (gaps[i + 1] if i + 1 < n else 0))
    pallets.sort(key=lambda p: p.floor_y)  # far (higher on screen) first
    forklift = None
    if pallets and rng.random() < 0.35:
        idx = int(rng.integers(len(pallets)))
        pallets[idx] = replace(pallets[idx], carried=True)
        forklift = ForkliftSpec(
            pallet_index=idx, side=int(rng.choice([-1, 1])),
            color=[(230, 180, 30), (220, 110, 30), (200, 40, 35), (60, 60, 60)][int(rng.integers(4))],
            lift=float(rng.uniform(10, 60)),
        )
    people: list[PersonSpec] = []
    for _ in range(int(rng.choice([0, 0, 0, 1, 1, 2]))):
        h = float(rng.uniform(280, 520))
        people.append(PersonSpec(
            x=float(rng.uniform(-0.15 * h, FRAME_W - 0.2 * h)),
            floor_y=float(np.clip(background["horizon"] + rng.uniform(200, 360), h * 0.9, FRAME_H + h * 0.1)),
            height=h,
            vest=[(200, 230, 40), (240, 140, 30), (230, 240, 70)][int(rng.integers(3))],
            skin=_color(rng, [(224, 172, 140), (150, 100, 70), (95, 65, 45), (200, 150, 110)][int(rng.integers(4))], 8),
            pants=_color(rng, [(40, 45, 60), (60, 60, 60), (90, 80, 60)][int(rng.integers(3))], 10),
            hard_hat=bool(rng.random() < 0.6),
            seed=int(rng.integers(2**31)),
        ))
    return Scene(
        seed=seed, knobs=knobs, background=background, pallets=tuple(pallets), people=tuple(people),
        forklift=forklift,
        brightness=float(rng.uniform(*knobs.brightness)),
        color_cast=tuple(float(v) for v in rng.uniform(0.92, 1.08, size=3)),  # type: ignore[arg-type]
        blur_sigma=float(rng.uniform(*knobs.blur_sigma)),
        motion_blur=int(rng.integers(knobs.motion_blur_px[0], knobs.motion_blur_px[1] + 1))
        if rng.random() < knobs.motion_blur_p else 0,
        noise_sigma=float(rng.uniform(*knobs.noise_sigma)),
        tilt_deg=float(rng.uniform(*knobs.tilt_deg)),
        jpeg_quality=int(rng.integers(knobs.jpeg_quality[0], knobs.jpeg_quality[1] + 1)),
    )
