"""The still picture of the world simulator: a person on a wall, at output size.

A real head-and-shoulders photograph (``assets/face.png``, NASA, public domain) supplies the
texture. A soft skin map (YCrCb thresholds inside a polygon along the hairline, face edge and
collar) decides where the pulse appears and where the skin tone is recoloured, keeping the
texture's relative luminance. The person is placed in a rest pose (face height 30 % of the
frame, face centre at ``(W / 2, 0.42 H)``) in front of a plain, slightly textured wall.
Everything here is computed once per clip; :mod:`firmware_sim.world` animates it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import cv2
import numpy as np

from firmware_sim.world_config import WorldConfig

__all__ = ["Scene", "build_scene", "load_asset"]

# Asset geometry in pixels of assets/face.png (356x330): the Haar face box, a polygon along the
# hairline, face edge and collar that bounds the skin map, and specular spots
# (centre, sigma, height).
_FACE_BOX_ASSET = (166.0, 66.0, 96.0, 96.0)
# fmt: off
_SKIN_POLYGON_ASSET = (
    (171, 96), (173, 82), (180, 77), (192, 79), (205, 80), (220, 83), (235, 84), (247, 88),
    (254, 98), (257, 112), (255, 128), (251, 142), (248, 158), (247, 175), (245, 192),
    (225, 195), (205, 193), (186, 189), (178, 175), (174, 160), (172, 145), (170, 128),
    (171, 112),
)
# fmt: on
_SPECULAR_SPOTS_ASSET = (((214.0, 84.0), 9.0, 1.0), ((214.0, 126.0), 5.0, 0.7))
_WALL_RGB = (150.0, 154.0, 160.0)


@functools.lru_cache(maxsize=1)
def load_asset() -> np.ndarray:
    """The head-and-shoulders photograph as RGBA uint8 (alpha = person)."""
    data = resources.files("firmware_sim").joinpath("assets", "face.png").read_bytes()
    bgra = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    rgba = cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGBA)
    rgba.setflags(write=False)
    return rgba


def _skin_weight(rgb: np.ndarray) -> np.ndarray:
    """Soft skin map in [0, 1]: YCrCb skin thresholds inside the face-and-neck polygon."""
    y, cr, cb = cv2.split(cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb))
    skin = (cr > 138) & (cr < 175) & (cb > 85) & (cb < 125) & (y > 60)
    region = np.zeros(rgb.shape[:2], dtype=np.uint8)
    cv2.fillPoly(region, [np.array(_SKIN_POLYGON_ASSET, dtype=np.int32)], 1)
    region = cv2.dilate(region, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
    mask = (skin & (region > 0)).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), dtype=np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), dtype=np.uint8)) & region
    return cv2.GaussianBlur(mask.astype(np.float32), (5, 5), 0.0)


def _recolour(rgb: np.ndarray, skin: np.ndarray, tone_rgb: tuple[float, ...]) -> np.ndarray:
    """Replace the skin colour by ``tone_rgb`` while keeping the texture's relative luminance."""
    image = rgb.astype(np.float32)
    luma = image @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    reference = np.median(luma[(skin > 0.5) & (luma > 80)])  # typical lit skin
    toned = (luma / reference)[..., None] * np.asarray(tone_rgb, np.float32)
    return image + skin[..., None] * (toned - image)


def _specular_map(skin: np.ndarray) -> np.ndarray:
    """Highlight shape (peak 1) on the forehead and the nose tip, limited to skin."""
    yy, xx = np.mgrid[0 : skin.shape[0], 0 : skin.shape[1]].astype(np.float32)
    spec = np.zeros_like(skin)
    for (cx, cy), sigma, height in _SPECULAR_SPOTS_ASSET:
        spec += height * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2.0 * sigma**2))
    spec[spec < 1e-4] = 0.0  # no subnormal floats in the per-frame arithmetic
    return spec * skin


def _wall(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A plain wall: low-frequency blotches, fine grain and a top-to-bottom shading."""
    coarse = rng.standard_normal((max(height // 24, 2), max(width // 24, 2)), dtype=np.float32)
    texture = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC) * 0.025
    texture += rng.standard_normal((height, width), dtype=np.float32) * 0.006
    shade = np.linspace(1.06, 0.92, height, dtype=np.float32)[:, None]
    return np.asarray(_WALL_RGB, dtype=np.float32) * ((1.0 + texture) * shade)[..., None]


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Scene:
    """Static, output-sized parts of the picture (float32, DN at light level 1).

    ``layer`` is the person in the rest pose, premultiplied RGB + alpha (H, W, 4); ``skin`` and
    ``spec`` are the premultiplied skin albedo (h, w, 3) and highlight (h, w, 1) inside
    ``bbox = (y0, y1, x0, x1)``; ``face_corners`` (4, 2) and ``pivot`` (2,) are in pixels.
    """

    layer: np.ndarray
    skin: np.ndarray
    spec: np.ndarray
    bbox: tuple[int, int, int, int]
    wall: np.ndarray
    face_corners: np.ndarray
    pivot: np.ndarray


def _place_person(stack: np.ndarray, config: WorldConfig) -> tuple[np.ndarray, np.ndarray]:
    """Scale and move the asset channels to the rest pose; return the layer and face box."""
    fx, fy, fw, fh = _FACE_BOX_ASSET
    scale = 0.30 * config.height / fh  # face height = 30 % of the frame
    size = (max(round(stack.shape[1] * scale), 8), max(round(stack.shape[0] * scale), 8))
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    small = np.dstack(  # INTER_AREA takes at most 4 channels at a time
        [
            cv2.resize(np.ascontiguousarray(stack[..., k : k + 4]), size, interpolation=interp)
            for k in range(0, stack.shape[2], 4)
        ]
    )
    sx, sy = size[0] / stack.shape[1], size[1] / stack.shape[0]
    tx = config.width / 2.0 - sx * (fx + fw / 2.0)  # face centre at (W / 2, 0.42 H)
    ty = 0.42 * config.height - sy * (fy + fh / 2.0)
    shift = np.array([[1.0, 0.0, tx], [0.0, 1.0, ty]])
    out = cv2.warpAffine(
        small,
        shift,
        (config.width, config.height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    # keep the mirrored border only below the photograph (it continues the shoulders down)
    x0, x1 = max(int(np.ceil(tx)), 0), max(int(np.floor(tx + size[0])), 0)
    y0, y1 = max(int(np.ceil(ty)), 0), max(int(np.floor(ty + size[1])), 0)
    out[:y0] = 0.0
    out[:, :x0] = 0.0
    out[:, x1:] = 0.0
    out[y1:, :, 4:] = 0.0  # skin and highlight only on the photograph itself
    box = np.array([tx + sx * fx, ty + sy * fy, sx * fw, sy * fh])
    return out, box


def build_scene(config: WorldConfig, rng: np.random.Generator) -> Scene:
    """Recolour the asset, place it in the rest pose and precompute the per-frame operands."""
    rgba = load_asset()
    alpha = rgba[..., 3].astype(np.float32) / 255.0
    skin = _skin_weight(np.ascontiguousarray(rgba[..., :3])) * alpha
    albedo = _recolour(rgba[..., :3], skin, config.skin_rgb)
    stack = np.dstack([albedo * alpha[..., None], alpha, skin, 255.0 * _specular_map(skin)])
    placed, (bx, by, bw, bh) = _place_person(stack.astype(np.float32), config)
    rows = np.flatnonzero(placed[..., 4].max(axis=1) > 1e-3)
    cols = np.flatnonzero(placed[..., 4].max(axis=0) > 1e-3)
    if rows.size == 0:  # frame too small to hold any skin pixel: keep a 1x1 dummy region
        rows = cols = np.array([0])
    bbox = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
    region = placed[bbox[0] : bbox[1], bbox[2] : bbox[3]]
    corners = np.array([[bx, by], [bx + bw, by], [bx, by + bh], [bx + bw, by + bh]])
    return Scene(
        layer=np.ascontiguousarray(placed[..., :4]),
        skin=np.ascontiguousarray(region[..., :3] * region[..., 4:5]),
        spec=np.ascontiguousarray(region[..., 5:6]),
        bbox=bbox,
        wall=_wall(rng, config.height, config.width),
        face_corners=corners,
        pivot=np.array([bx + bw / 2.0, by + 1.1 * bh]),  # the neck
    )
