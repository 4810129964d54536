"""Turn a `Scene` into a 1280x720 frame and its `edgecv-annotations/1` record."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from contracts.annotations import AnnotatedFrame, Box, Pallet, Person, ShippingLabel
from training.synth.label import render_label_with_lines
from training.synth.scene import FRAME_H, FRAME_W, PalletSpec, PersonSpec, Scene

MIN_VISIBLE_PX = 24


@dataclass
class RenderedFrame:
    image: Image.Image
    pallets: list[Pallet]
    people: list[Person]
    damage_kinds: list[tuple[str, ...]]  # per annotated pallet, for analysis only


def _shade(color: tuple[int, ...], factor: float) -> tuple[int, int, int]:
    return tuple(min(255, max(0, int(c * factor))) for c in color[:3])  # type: ignore[return-value]


# ---------------------------------------------------------------- background
def _draw_background(img: Image.Image, scene: Scene) -> None:
    bg = scene.background
    rng = np.random.default_rng(bg["seed"])
    d = ImageDraw.Draw(img)
    hz = bg["horizon"]
    d.rectangle([0, 0, FRAME_W, hz], fill=bg["wall"])
    if bg["style"] == "panels":
        for x in range(0, FRAME_W, int(rng.integers(90, 200))):
            d.line([(x, 0), (x, hz)], fill=_shade(bg["wall"], 0.8), width=3)
    elif bg["style"] == "brick":
        bh = int(rng.integers(14, 24))
        for row, y in enumerate(range(0, int(hz), bh)):
            d.line([(0, y), (FRAME_W, y)], fill=_shade(bg["wall"], 0.75), width=2)
            off = (row % 2) * bh
            for x in range(-off, FRAME_W, bh * 2):
                d.line([(x, y), (x, y + bh)], fill=_shade(bg["wall"], 0.75), width=2)
    for door_x, door_w in bg["doors"]:
        top = hz * rng.uniform(0.1, 0.3)
        d.rectangle([door_x, top, door_x + door_w, hz], fill=_shade(bg["wall"], 0.35))
        for i in range(1, 8):  # trailer ribs
            yy = top + (hz - top) * i / 8
            d.line([(door_x + 6, yy), (door_x + door_w - 6, yy)], fill=_shade(bg["wall"], 0.5), width=2)
        d.rectangle([door_x - 14, hz - 70, door_x, hz], fill=(25, 25, 25))  # bumpers
        d.rectangle([door_x + door_w, hz - 70, door_x + door_w + 14, hz], fill=(25, 25, 25))
    for _ in range(bg["clutter"]):  # wall signs: landscape, a distractor for labels
        sx, sy = rng.uniform(0, FRAME_W - 160), rng.uniform(20, max(21, hz - 120))
        sw, sh = rng.uniform(90, 200), rng.uniform(40, 80)
        d.rectangle([sx, sy, sx + sw, sy + sh], fill=(230, 225, 200) if rng.random() < 0.5 else (200, 40, 30))
        for k in range(int(rng.integers(1, 3))):
            ly = sy + sh * (0.3 + 0.3 * k)
            d.rectangle([sx + sw * 0.1, ly, sx + sw * rng.uniform(0.5, 0.9), ly + sh * 0.12], fill=(30, 30, 30))
    # floor with a gradient
    floor = np.array(bg["floor"], dtype=np.float32)
    arr = np.asarray(img).copy()
    ys = np.arange(int(hz), FRAME_H)
    grad = (0.8 + 0.35 * (ys - hz) / max(1.0, FRAME_H - hz))[:, None, None]
    arr[int(hz):, :, :] = np.clip(floor[None, None, :] * grad, 0, 255).astype(np.uint8)
    img.paste(Image.fromarray(arr))
    d = ImageDraw.Draw(img)
    sy = bg["stripe_y"]
    d.polygon([(0, sy), (FRAME_W, sy - 12), (FRAME_W, sy + 6), (0, sy + 16)], fill=(215, 180, 40))
    for _ in range(40):  # floor scuffs
        x, y = rng.uniform(0, FRAME_W), rng.uniform(hz, FRAME_H)
        r = rng.uniform(2, 10)
        d.ellipse([x - r * 3, y - r, x + r * 3, y + r], fill=_shade(bg["floor"], rng.uniform(0.75, 0.95)))


# ---------------------------------------------------------------- pallets
def _draw_load(p: PalletSpec, rng: np.random.Generator) -> Image.Image:
    w, h = max(2, round(p.width * 0.98)), max(2, round(p.load_height))
    layer = Image.new("RGBA", (w, h), (*p.load_color, 255))
    d = ImageDraw.Draw(layer)
    edge = (*_shade(p.load_color, 0.6), 255)
    if p.load_kind in ("cartons", "wrapped"):
        rows, cols = int(rng.integers(2, 5)), int(rng.integers(2, 4))
        for r in range(rows):
            for c in range(cols):
                x0, y0 = c * w / cols, r * h / rows
                fill = (*_shade(p.load_color, rng.uniform(0.9, 1.1)), 255)
                d.rectangle([x0, y0, x0 + w / cols, y0 + h / rows], fill=fill, outline=edge, width=2)
                tape = (*_shade(p.load_color, 1.2), 255)
                d.rectangle([x0 + w / cols * 0.45, y0, x0 + w / cols * 0.55, y0 + h / rows * 0.25], fill=tape)
        if p.load_kind == "wrapped":
            wrap = Image.new("RGBA", (w, h), (235, 240, 245, int(rng.integers(60, 110))))
            wd = ImageDraw.Draw(wrap)
            for _ in range(int(rng.integers(3, 7))):
                x = rng.uniform(-w * 0.3, w)
                wd.line([(x, 0), (x + w * 0.3, h)], fill=(255, 255, 255, 90), width=int(rng.integers(2, 8)))
            layer = Image.alpha_composite(layer, wrap)
            d = ImageDraw.Draw(layer)
    elif p.load_kind == "totes":
        rows = int(rng.integers(2, 5))
        for r in range(rows):
            y0 = r * h / rows
            d.rectangle([0, y0, w, y0 + h / rows], outline=edge, width=3)
            for k in range(1, 5):
                yy = y0 + h / rows * k / 5
                d.line([(4, yy), (w - 4, yy)], fill=edge, width=2)
    else:  # sacks
        layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        d = ImageDraw.Draw(layer)
        rows = int(rng.integers(3, 6))
        for r in range(rows):
            y0 = r * h / rows
            for c in range(2):
                x0 = c * w / 2
                d.rounded_rectangle([x0 + 1, y0 + 1, x0 + w / 2 - 1, y0 + h / rows - 1], radius=int(h / rows / 3),
                                    fill=(*_shade(p.load_color, rng.uniform(0.88, 1.08)), 255), outline=edge, width=2)
    # harmless dirt specks and stickers: undamaged loads are not spotless
    for _ in range(int(rng.integers(0, 4))):
        x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(1.5, 4)
        d.ellipse([x - r, y - r, x + r, y + r], fill=(*_shade(p.load_color, 0.6), 200))
    return layer


def _place_label(p: PalletSpec, layer: Image.Image, rng: np.random.Generator) -> np.ndarray | None:
    """Paste the label onto the load layer; return its 4 corners in layer pixels."""
    placed = place_label_with_lines(p, layer, rng)
    return None if placed is None else placed[0]


def place_label_with_lines(p: PalletSpec, layer: Image.Image, rng: np.random.Generator
                           ) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """Paste the label; return its corners and the centre points of its PRO and DEST lines (layer px)."""
    if p.label is None:
        return None
    lab, line_y = render_label_with_lines(p.label, rng)
    w, h = layer.size
    lw, lh = lab.size
    cx = np.clip(p.label_pos[0] * w, lw * 0.6 + w * 0.1, w * 0.9 - lw * 0.6)
    cy = np.clip(p.label_pos[1] * h, lh * 0.6 + 2, h - lh * 0.6 - 2)
    if w * 0.9 - lw * 0.6 < lw * 0.6 + w * 0.1:
        cx = w / 2
    rot = lab.rotate(p.label_tilt, resample=Image.BICUBIC, expand=True)
    layer.alpha_composite(rot, (round(cx - rot.width / 2), round(cy - rot.height / 2)))
    a = math.radians(-p.label_tilt)  # PIL rotates counter-clockwise for positive angles
    corners = np.array([[-lw / 2, -lh / 2], [lw / 2, -lh / 2], [lw / 2, lh / 2], [-lw / 2, lh / 2]])
    rotm = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    centre = np.array([cx, cy])
    lines = {k: rotm @ np.array([0.0, v - lh / 2]) + centre for k, v in line_y.items()}
    return corners @ rotm.T + centre, lines


def _away_from(box: np.ndarray | None, w: int, h: int, size: float, rng: np.random.Generator,
               region: str = "any") -> tuple[float, float]:
    """A point whose `size` neighbourhood avoids the label box."""
    for _ in range(20):
        x, y = rng.uniform(size * 0.3, w - size * 0.3), rng.uniform(size * 0.3, h - size * 0.3)
        if region == "top":
            y = rng.uniform(0, h * 0.3)
        if box is None:
            return x, y
        x0, y0 = box.min(axis=0) - size * 0.5
        x1, y1 = box.max(axis=0) + size * 0.5
        if not (x0 < x < x1 and y0 < y < y1):
            return x, y
    return x, y


def _jagged(cx: float, cy: float, r: float, rng: np.random.Generator, n: int = 12) -> list[tuple[float, float]]:
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = r * rng.uniform(0.5, 1.0, n)
    return [(cx + rr * math.cos(a), cy + rr * math.sin(a)) for a, rr in zip(angles, radii, strict=True)]


def _draw_damage(p: PalletSpec, layer: Image.Image, label_box: np.ndarray | None, rng: np.random.Generator) -> None:
    w, h = layer.size
    d = ImageDraw.Draw(layer)
    if "stain" in p.damage:
        size = w * rng.uniform(0.22, 0.38)
        x, y = _away_from(label_box, w, h, size, rng)
        stain = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        sd = ImageDraw.Draw(stain)
        tone = (*_shade(p.load_color, 0.45), 170) if sum(p.load_color) > 240 else (120, 110, 70, 150)
        for _ in range(4):
            ox, oy = rng.uniform(-0.3, 0.3, 2) * size
            sd.polygon(_jagged(x + ox, y + oy, size * 0.5, rng), fill=tone)
        layer.alpha_composite(stain.filter(ImageFilter.GaussianBlur(2)))
    if "torn_wrap" in p.damage:
        size = w * rng.uniform(0.25, 0.4)
        x, y = _away_from(label_box, w, h, size, rng)
        flap = [(x - size / 2, y), (x + size / 2, y + rng.uniform(-5, 5))]
        for k in range(6):  # ragged hanging edge
            flap.append((x + size / 2 - size * (k + 0.5) / 6, y + size * rng.uniform(0.4, 1.1)))
        d.polygon(flap, fill=(235, 235, 230, 235), outline=(60, 60, 60, 255))
        d.line([(x - size / 2, y - 2), (x + size / 2, y - 2)], fill=(20, 20, 20, 255), width=4)
        for _ in range(3):  # torn carton flaps / exposed dark gaps
            gx = x + rng.uniform(-size / 2, size / 2)
            end = (gx + rng.uniform(-12, 12), y + size * rng.uniform(0.3, 0.8))
            d.line([(gx, y), end], fill=(25, 25, 25, 255), width=3)
    if "crushed_corner" in p.damage:
        size = w * rng.uniform(0.22, 0.35)
        left = rng.random() < 0.5
        cx = 0 if left else w
        sgn = 1 if left else -1
        pts = [(cx, 0), (cx + sgn * size * rng.uniform(0.8, 1.2), 0)]
        for k in range(4):
            t = (k + 1) / 5
            pts.append((cx + sgn * size * (1 - t) * rng.uniform(0.6, 1.1), size * t * rng.uniform(0.8, 1.3)))
        pts.append((cx, size * rng.uniform(0.9, 1.3)))
        d.polygon(pts, fill=(0, 0, 0, 0))
        d.line(pts[1:], fill=(*_shade(p.load_color, 0.35), 255), width=5)
        for _ in range(3):  # creases
            x0 = cx + sgn * rng.uniform(0.2, 1.0) * size
            y0 = rng.uniform(0.2, 1.0) * size
            d.line([(x0, y0), (x0 + sgn * rng.uniform(10, 30), y0 + rng.uniform(10, 30))],
                   fill=(*_shade(p.load_color, 0.45), 255), width=3)
        # cut-out must be really transparent: redraw with alpha 0 using a mask
        mask = Image.new("L", (w, h), 255)
        ImageDraw.Draw(mask).polygon(pts, fill=0)
        alpha = np.minimum(np.asarray(layer.getchannel("A")), np.asarray(mask))
        layer.putalpha(Image.fromarray(alpha))


def _draw_base(d: ImageDraw.ImageDraw, p: PalletSpec, floor_y: float, rng: np.random.Generator) -> None:
    bh, x, w = p.base_height, p.x, p.width
    top = floor_y - bh
    wood, dark = p.wood_color, _shade(p.wood_color, 0.6)
    d.rectangle([x, top, x + w, top + bh * 0.28], fill=wood, outline=dark)
    d.rectangle([x, floor_y - bh * 0.2, x + w, floor_y], fill=wood, outline=dark)
    d.rectangle([x, top + bh * 0.28, x + w, floor_y - bh * 0.2], fill=(25, 22, 20))  # fork pockets
    for fx in (0.0, 0.44, 0.88):
        d.rectangle([x + w * fx, top + bh * 0.28, x + w * (fx + 0.12), floor_y - bh * 0.2], fill=wood, outline=dark)
    if "broken_board" in p.damage:
        bx = x + w * rng.uniform(0.15, 0.7)
        gap = w * rng.uniform(0.12, 0.22)
        d.rectangle([bx, top, bx + gap, top + bh * 0.28], fill=(20, 18, 16))
        splinter = [(bx, top), (bx + gap * 0.6, top + bh * 0.55), (bx + gap * 0.2, top + bh * 0.7)]
        d.polygon(splinter, fill=wood, outline=dark)
        d.line([(bx - w * 0.08, top + bh * 0.14), (bx, top + bh * 0.1)], fill=(20, 18, 16), width=3)


def _draw_pallet(img: Image.Image, p: PalletSpec, floor_y: float) -> tuple[np.ndarray, np.ndarray | None]:
    """Draw one pallet; return its outline (amodal) and its label corners, in frame pixels."""
    rng = np.random.default_rng(p.seed)
    d = ImageDraw.Draw(img)
    _draw_base(d, p, floor_y, rng)
    layer = _draw_load(p, rng)
    label_corners = _place_label(p, layer, rng)
    _draw_damage(p, layer, label_corners, rng)
    w, h = layer.size
    shear = p.lean * p.width
    ox, oy = p.x + p.width * 0.01, floor_y - p.base_height - h
    if shear:
        # Affine map from output to input: x_in = x_out - shear * (1 - y/h) + pad
        pad = abs(shear)
        out_w = round(w + pad)
        coeffs = (1, shear / h, -shear if shear > 0 else 0, 0, 1, 0)
        sheared = layer.transform((out_w, h), Image.AFFINE, coeffs, resample=Image.BICUBIC)
        paste_x = ox + (0 if shear > 0 else shear)
        img.paste(sheared, (round(paste_x), round(oy)), sheared)
        if label_corners is not None:
            # input x = x_out + shear*y/h - shear(if >0)  =>  x_out = x_in - shear*y/h + shear(if>0)
            xs = label_corners[:, 0] - shear * label_corners[:, 1] / h + (shear if shear > 0 else 0)
            label_corners = np.stack([xs + paste_x, label_corners[:, 1] + oy], axis=1)
    else:
        img.paste(layer, (round(ox), round(oy)), layer)
        if label_corners is not None:
            label_corners = label_corners + np.array([round(ox), round(oy)])
    outline = p.outline()
    outline[:, 1] += floor_y - p.floor_y
    return outline, label_corners


def _draw_forklift(img: Image.Image, p: PalletSpec, floor_y: float, side: int, color: tuple[int, int, int]) -> None:
    d = ImageDraw.Draw(img)
    w = p.width
    mast_x = p.x + (w * 0.96 if side > 0 else -w * 0.02)
    top = floor_y - p.base_height - p.load_height - w * 0.15
    floor = floor_y + (p.floor_y - floor_y)
    for k in (0, 1):  # two mast rails
        mx = mast_x + k * w * 0.035
        d.rectangle([mx, top, mx + w * 0.025, floor], fill=(45, 45, 48))
    for yy in np.linspace(top + 10, floor - 10, 4):
        d.line([(mast_x, yy), (mast_x + w * 0.06, yy)], fill=(70, 70, 75), width=4)
    d.rectangle([p.x, floor_y - 6, p.x + w, floor_y + 2], fill=(50, 50, 55))  # forks
    body_x0 = mast_x + w * 0.06 if side > 0 else mast_x - w * 0.85
    body_x1 = body_x0 + w * 0.85
    d.rectangle([body_x0, floor - w * 0.55, body_x1, floor - w * 0.12], fill=color, outline=_shade(color, 0.6), width=3)
    guard_top = floor - w * 1.15
    d.rectangle([body_x0 + w * 0.05, guard_top, body_x1 - w * 0.1, guard_top + 12], fill=(40, 40, 40))
    for gx in (body_x0 + w * 0.05, body_x1 - w * 0.16):
        d.rectangle([gx, guard_top, gx + 10, floor - w * 0.55], fill=(40, 40, 40))
    for wx in (body_x0 + w * 0.18, body_x1 - w * 0.18):
        r = w * 0.13
        d.ellipse([wx - r, floor - 2 * r, wx + r, floor], fill=(20, 20, 20))
        d.ellipse([wx - r * 0.4, floor - r * 1.4, wx + r * 0.4, floor - r * 0.6], fill=(120, 120, 120))


def _draw_person(img: Image.Image, person: PersonSpec) -> None:
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1 = person.box()
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    d.rectangle([cx - w * 0.3, y0 + h * 0.52, cx - w * 0.05, y1], fill=person.pants)  # legs
    d.rectangle([cx + w * 0.05, y0 + h * 0.52, cx + w * 0.3, y1], fill=person.pants)
    d.rectangle([x0, y0 + h * 0.2, x0 + w * 0.16, y0 + h * 0.55], fill=person.vest)  # arms
    d.rectangle([x1 - w * 0.16, y0 + h * 0.2, x1, y0 + h * 0.55], fill=person.vest)
    d.rectangle([cx - w * 0.34, y0 + h * 0.17, cx + w * 0.34, y0 + h * 0.55], fill=person.vest)  # torso
    for sy in (0.3, 0.42):  # reflective stripes
        d.rectangle([cx - w * 0.34, y0 + h * sy, cx + w * 0.34, y0 + h * (sy + 0.03)], fill=(215, 215, 220))
    r = h * 0.075
    d.ellipse([cx - r, y0 + h * 0.02, cx + r, y0 + h * 0.02 + 2 * r], fill=person.skin)  # head
    if person.hard_hat:
        d.chord([cx - r * 1.15, y0, cx + r * 1.15, y0 + 1.5 * r], 180, 360, fill=(240, 240, 235))


# ---------------------------------------------------------------- camera effects
def _camera(img: Image.Image, scene: Scene, rng: np.random.Generator) -> tuple[Image.Image, np.ndarray]:
    """Tilt (with a small zoom that hides the corners), light, blur, noise, JPEG. Returns the 2x3 map."""
    angle = scene.tilt_deg
    zoom = 1.0 + abs(math.sin(math.radians(angle))) * 1.2
    a = math.radians(angle)
    cx, cy = FRAME_W / 2, FRAME_H / 2
    # forward map (source -> output): rotate by -angle (PIL's positive angle is counter-clockwise), zoom
    cos_a, sin_a = math.cos(a) * zoom, math.sin(a) * zoom
    fwd = np.array([[cos_a, sin_a, cx - cos_a * cx - sin_a * cy], [-sin_a, cos_a, cy + sin_a * cx - cos_a * cy]])
    inv = np.linalg.inv(np.vstack([fwd, [0, 0, 1]]))[:2]
    img = img.transform(img.size, Image.AFFINE, tuple(inv.flatten()), resample=Image.BILINEAR)
    return apply_camera_effects(img, scene, rng), fwd



def apply_camera_effects(img: Image.Image, scene: Scene, rng: np.random.Generator) -> Image.Image:
    """Light and colour cast, optics blur, motion blur, sensor noise, JPEG: the scene's camera."""
    arr = np.asarray(img).astype(np.float32)
    arr *= scene.brightness * np.array(scene.color_cast, dtype=np.float32)
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if scene.blur_sigma > 0.2:
        out = out.filter(ImageFilter.GaussianBlur(scene.blur_sigma))
    if scene.motion_blur:
        k = scene.motion_blur
        arr = np.asarray(out).astype(np.float32)
        c = np.cumsum(np.pad(arr, ((0, 0), (k, 0), (0, 0)), mode="edge"), axis=1)
        out = Image.fromarray(np.clip((c[:, k:] - c[:, :-k]) / k, 0, 255).astype(np.uint8))
    if scene.noise_sigma > 0.5:
        arr = np.asarray(out).astype(np.int16)
        h, w = arr.shape[:2]
        noise = rng.normal(0, scene.noise_sigma, size=((h + 1) // 2, (w + 1) // 2, 1)).astype(np.int16)
        noise = np.repeat(np.repeat(noise, 2, axis=0), 2, axis=1)[:h, :w]
        fine = rng.integers(-2, 3, size=arr.shape, dtype=np.int16)
        out = Image.fromarray(np.clip(arr + noise + fine, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    out.save(buf, format="JPEG", quality=scene.jpeg_quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _box_of(points: np.ndarray, fwd: np.ndarray) -> tuple[float, float, float, float]:
    pts = points @ fwd[:, :2].T + fwd[:, 2]
    return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))


def _clip(box: tuple[float, float, float, float]) -> tuple[float, float, float, float] | None:
    x0, y0 = max(0.0, box[0]), max(0.0, box[1])
    x1, y1 = min(float(FRAME_W), box[2]), min(float(FRAME_H), box[3])
    if x1 - x0 < MIN_VISIBLE_PX or y1 - y0 < MIN_VISIBLE_PX:
        return None
    return (round(x0, 1), round(y0, 1), round(x1, 1), round(y1, 1))


def _inside(box: tuple[float, float, float, float], margin: float = 2.0) -> bool:
    return box[0] >= margin and box[1] >= margin and box[2] <= FRAME_W - margin and box[3] <= FRAME_H - margin


def _overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def render(scene: Scene) -> RenderedFrame:
    rng = np.random.default_rng(scene.seed + 7)
    img = Image.new("RGB", (FRAME_W, FRAME_H))
    _draw_background(img, scene)
    records = []
    label_boxes = []
    for i, p in enumerate(scene.pallets):
        lifted = scene.forklift is not None and scene.forklift.pallet_index == i
        floor_y = p.floor_y - (scene.forklift.lift if lifted and scene.forklift else 0.0)
        if lifted and scene.forklift is not None:
            _draw_forklift(img, p, floor_y, scene.forklift.side, scene.forklift.color)
        outline, label_corners = _draw_pallet(img, p, floor_y)
        if lifted and scene.forklift is not None:  # the mast rails stand in front of the load's edge
            _draw_forklift_mast_front(img, p, floor_y, scene.forklift.side)
        records.append((p, outline, label_corners))
        if label_corners is not None:
            lb = label_corners
            label_boxes.append((lb[:, 0].min(), lb[:, 1].min(), lb[:, 0].max(), lb[:, 1].max()))
    kept_people = []
    for person in scene.people:
        if any(_overlaps(person.box(), lb) for lb in label_boxes):
            continue  # never hide a label behind a person: the annotation would lie
        _draw_person(img, person)
        kept_people.append(person)
    image, fwd = _camera(img, scene, rng)
    pallets, kinds = [], []
    for p, outline, label_corners in records:
        box = _clip(_box_of(outline, fwd))
        if box is None:
            continue
        label = None
        if label_corners is not None and p.label is not None:
            lbox = _box_of(label_corners, fwd)
            if _inside(lbox):
                label = ShippingLabel(bbox=Box.from_list([round(v, 1) for v in lbox]), pro=p.label.pro,
                                      dest=p.label.dest)
        pallets.append(Pallet(bbox=Box.from_list(box), damaged=p.damaged, label=label))
        kinds.append(p.damage)
    people = []
    for person in kept_people:
        x0, y0, x1, y1 = person.box()
        box = _clip(_box_of(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), fwd))
        if box is not None:
            people.append(Person(bbox=Box.from_list(box)))
    return RenderedFrame(image=image, pallets=pallets, people=people, damage_kinds=kinds)


def _draw_forklift_mast_front(img: Image.Image, p: PalletSpec, floor_y: float, side: int) -> None:
    d = ImageDraw.Draw(img)
    w = p.width
    mast_x = p.x + (w * 0.93 if side > 0 else w * 0.01)
    top = floor_y - p.base_height - p.load_height * 0.95
    d.rectangle([mast_x, top, mast_x + w * 0.05, floor_y], fill=(45, 45, 48))


def to_annotated_frame(frame: RenderedFrame, image_name: str) -> AnnotatedFrame:
    return AnnotatedFrame(image=image_name, width=FRAME_W, height=FRAME_H, pallets=frame.pallets, people=frame.people)
