"""Procedural street scenes of the demo data: what is drawn, in which
style, with pixel-exact labels (:func:`render_scene`). The data set
writer is :mod:`dakpn_aug.data.demo`; the real domain's camera model is
:mod:`dakpn_aug.data.cameras`.

Scenes
------
Each image is a street seen from a car: sky with clouds, a road in
perspective with lane markings, sidewalks, optional grass strips, building
facades with window grids on both sides (and often across the end of the
street), walls, fences and hedges along the buildings, then poles with traffic
signs or lights, trees, cars, persons and some unlabelled clutter, drawn far to
near. Everything is placed in metres and projected through a pinhole camera,
and every shape is drawn with the same OpenCV call into the image and into the
label map (no anti-aliasing), so labels are pixel-exact. After drawing, each
class gets a fine texture (brick courses, asphalt grain, paving joints, leafy
speckle) so that blur has something to remove.

The two domains differ in two ways:

* **Scene statistics.** The synthetic ("GTA5-like") style has saturated
  colours (red, blue, yellow cars; colourful facades; a deep blue sky) and
  fewer trees. The real ("Cityscapes-like") style has greyer cars, beige and
  grey facades, a paler sky, more trees, grass strips and hedges, and is drawn
  from different random streams (different scenes).
* **A camera model**, applied to real-domain images only (synthetic images
  are the clean rendering, quantised to uint8): colour cast and exposure,
  desaturation, optional class-dependent looks, optical blur, sensor noise,
  vignetting, quantisation, each drawn per image from the camera's ranges.
  ``camera`` picks one of the zoo in :mod:`dakpn_aug.data.cameras`
  (``'demo'``, the development camera, by default; ``'mild'``, ``'warm'``,
  ``'cold'``, ``'hazy'`` are held out for judging a recipe on cameras it
  was not tuned on). Every step is per pixel or a centred blur: no
  geometric distortion, so the labels stay aligned. ``demo_data.json``
  records the camera's ranges and the parameters drawn for each real image.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

import cv2
import numpy as np

from .cityscapes_labels import NAME_TO_ID

__all__ = ['render_scene', 'SceneStyle', 'LABEL_NAMES', 'LABEL_IDS',
           'SYNTHETIC_STYLE', 'REAL_STYLE']

#: Every class the generator draws ('unlabeled' = unannotated clutter).
LABEL_NAMES = ('unlabeled', 'road', 'sidewalk', 'building', 'wall', 'fence',
               'pole', 'traffic light', 'traffic sign', 'vegetation',
               'terrain', 'sky', 'person', 'car')
#: name -> Cityscapes label id, looked up in the official table.
LABEL_IDS = {name: NAME_TO_ID[name] for name in LABEL_NAMES}


RGB = Tuple[float, float, float]


@dataclass(frozen=True)
class SceneStyle:
    """What a domain's scenes look like (colours are RGB in [0, 1])."""
    sky_top: RGB
    sky_horizon: RGB
    cloud: RGB
    clouds: Tuple[int, int]
    road: RGB
    marking: RGB
    sidewalk: RGB
    terrain: RGB
    vegetation: RGB
    buildings: Tuple[RGB, ...]
    glass: Tuple[RGB, ...]
    cars: Tuple[RGB, ...]
    clothes: Tuple[RGB, ...]
    wall: RGB
    fence: RGB
    grass_strip_prob: float
    hedge_prob: float
    trees_per_side: Tuple[int, int]
    cars_count: Tuple[int, int]
    persons_count: Tuple[int, int]
    #: per-instance colour variation (relative brightness, per-channel shift)
    jitter: float


SYNTHETIC_STYLE = SceneStyle(
    sky_top=(0.15, 0.40, 0.95), sky_horizon=(0.60, 0.80, 1.00),
    cloud=(0.97, 0.97, 1.00), clouds=(0, 4),
    road=(0.33, 0.32, 0.38), marking=(0.98, 0.96, 0.85),
    sidewalk=(0.72, 0.58, 0.48), terrain=(0.55, 0.78, 0.25),
    vegetation=(0.15, 0.62, 0.10),
    buildings=((0.80, 0.40, 0.28), (0.95, 0.82, 0.55), (0.45, 0.58, 0.85),
               (0.70, 0.28, 0.22), (0.95, 0.75, 0.30), (0.60, 0.80, 0.70)),
    glass=((0.10, 0.18, 0.40), (0.35, 0.60, 0.90), (0.95, 0.85, 0.45)),
    cars=((0.85, 0.08, 0.08), (0.10, 0.25, 0.85), (0.95, 0.80, 0.10),
          (0.10, 0.65, 0.20), (0.95, 0.95, 0.95), (0.08, 0.08, 0.10),
          (0.95, 0.45, 0.05)),
    clothes=((0.90, 0.10, 0.15), (0.10, 0.40, 0.90), (0.95, 0.85, 0.10),
             (0.15, 0.75, 0.30), (0.85, 0.40, 0.80), (0.95, 0.95, 0.95)),
    wall=(0.80, 0.72, 0.60), fence=(0.70, 0.45, 0.25),
    grass_strip_prob=0.35, hedge_prob=0.2, trees_per_side=(0, 2),
    cars_count=(2, 6), persons_count=(1, 5), jitter=0.12)

REAL_STYLE = SceneStyle(
    sky_top=(0.55, 0.65, 0.82), sky_horizon=(0.85, 0.88, 0.92),
    cloud=(0.92, 0.92, 0.93), clouds=(2, 7),
    road=(0.36, 0.36, 0.37), marking=(0.80, 0.80, 0.78),
    sidewalk=(0.58, 0.55, 0.52), terrain=(0.48, 0.55, 0.32),
    vegetation=(0.24, 0.42, 0.16),
    buildings=((0.62, 0.60, 0.56), (0.48, 0.45, 0.42), (0.75, 0.68, 0.58),
               (0.56, 0.42, 0.36), (0.68, 0.66, 0.64)),
    glass=((0.15, 0.18, 0.22), (0.40, 0.45, 0.52)),
    cars=((0.50, 0.50, 0.52), (0.72, 0.72, 0.74), (0.10, 0.10, 0.11),
          (0.85, 0.85, 0.86), (0.15, 0.20, 0.32), (0.45, 0.12, 0.12)),
    clothes=((0.15, 0.15, 0.18), (0.45, 0.45, 0.48), (0.25, 0.30, 0.45),
             (0.60, 0.50, 0.40), (0.55, 0.15, 0.15), (0.85, 0.85, 0.85)),
    wall=(0.62, 0.60, 0.57), fence=(0.45, 0.42, 0.38),
    grass_strip_prob=0.8, hedge_prob=0.5, trees_per_side=(2, 5),
    cars_count=(2, 6), persons_count=(1, 5), jitter=0.08)


# --------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------
class _Canvas:
    """An RGB float image and a label map that every shape is drawn into
    with the same OpenCV call, so the two can never disagree."""

    def __init__(self, h: int, w: int):
        self.img = np.zeros((h, w, 3), np.float32)
        self.lbl = np.full((h, w), LABEL_IDS['unlabeled'], np.uint8)

    def _draw(self, fn, *args, rgb, name, **kw):
        # LINE_8, not LINE_AA: anti-aliasing would blend colours along edges
        # that the label map cannot represent.
        fn(self.img, *args, color=tuple(float(c) for c in rgb),
           lineType=cv2.LINE_8, **kw)
        fn(self.lbl, *args, color=int(LABEL_IDS[name]), lineType=cv2.LINE_8,
           **kw)

    def poly(self, pts, rgb, name):
        pts = np.round(np.asarray(pts, np.float64)).astype(np.int32)
        self._draw(cv2.fillPoly, [pts], rgb=rgb, name=name)

    def circle(self, center, radius, rgb, name):
        self._draw(cv2.circle, _pt(center), max(1, int(round(radius))),
                   rgb=rgb, name=name, thickness=-1)

    def ellipse(self, center, axes, rgb, name):
        axes = tuple(max(1, int(round(a))) for a in axes)
        self._draw(cv2.ellipse, _pt(center), axes, 0, 0, 360, rgb=rgb,
                   name=name, thickness=-1)

    def line(self, p0, p1, thickness, rgb, name):
        self._draw(cv2.line, _pt(p0), _pt(p1), rgb=rgb, name=name,
                   thickness=max(1, int(round(thickness))))


def _pt(p) -> Tuple[int, int]:
    return int(round(p[0])), int(round(p[1]))


def _jitter(rng: np.random.Generator, rgb, amount: float) -> np.ndarray:
    """A per-instance variant of a base colour."""
    c = np.asarray(rgb, np.float64) * rng.uniform(1 - amount, 1 + amount)
    c = c + rng.normal(0, amount / 3, 3)
    return np.clip(c, 0, 1)


def _pick(rng: np.random.Generator, palette):
    return palette[int(rng.integers(len(palette)))]


class _Street:
    """A street in metres seen through a pinhole camera at height ``cam_h``:
    X to the right, Y up from the ground, Z forward."""

    def __init__(self, canvas: _Canvas, rng: np.random.Generator,
                 style: SceneStyle):
        self.c, self.rng, self.s = canvas, rng, style
        h, w = canvas.lbl.shape
        self.h, self.w = h, w
        self.horizon = h * rng.uniform(0.40, 0.50)
        self.vx = w * rng.uniform(0.42, 0.58)
        self.f = w * rng.uniform(0.70, 0.90)
        self.cam_h = rng.uniform(1.3, 1.7)

    def p(self, x: float, y: float, z: float) -> Tuple[float, float]:
        return (self.vx + self.f * x / z,
                self.horizon + self.f * (self.cam_h - y) / z)

    def scale(self, z: float) -> float:
        """Pixels per metre at depth z."""
        return self.f / z

    # Planar quads: all scene geometry is made of these three.
    def ground(self, x0, x1, z0, z1, rgb, name):
        self.c.poly([self.p(x0, 0, z0), self.p(x1, 0, z0),
                     self.p(x1, 0, z1), self.p(x0, 0, z1)], rgb, name)

    def side(self, x, y0, y1, z0, z1, rgb, name):
        """A quad in the vertical plane X = x (a facade along the street)."""
        self.c.poly([self.p(x, y0, z0), self.p(x, y0, z1),
                     self.p(x, y1, z1), self.p(x, y1, z0)], rgb, name)

    def front(self, x0, x1, y0, y1, z, rgb, name):
        """A quad in the vertical plane Z = z (facing the camera)."""
        self.c.poly([self.p(x0, y0, z), self.p(x1, y0, z),
                     self.p(x1, y1, z), self.p(x0, y1, z)], rgb, name)


def _draw_sky(st: _Street):
    s, rng, c = st.s, st.rng, st.c
    hz = int(np.ceil(st.horizon))
    t = np.linspace(0, 1, hz, dtype=np.float32)[:, None, None]
    top = _jitter(rng, s.sky_top, 0.05).astype(np.float32)
    bottom = _jitter(rng, s.sky_horizon, 0.03).astype(np.float32)
    c.img[:hz] = top * (1 - t) + bottom * t
    c.lbl[:hz] = LABEL_IDS['sky']
    for _ in range(int(rng.integers(s.clouds[0], s.clouds[1] + 1))):
        cx, cy = rng.uniform(0, st.w), rng.uniform(0, st.horizon * 0.7)
        col = _jitter(rng, s.cloud, 0.03)
        for _ in range(int(rng.integers(2, 5))):
            a = rng.uniform(0.04, 0.10) * st.w
            centre = (cx + rng.uniform(-a, a), cy + rng.uniform(-a, a) / 4)
            st.c.ellipse(centre, (a, a * rng.uniform(0.25, 0.45)), col, 'sky')


def _draw_ground(st: _Street, lay: Dict[str, float]):
    s, rng, c = st.s, st.rng, st.c
    hz = int(np.floor(st.horizon))
    c.img[hz:] = np.asarray(_jitter(rng, s.terrain, s.jitter), np.float32)
    c.lbl[hz:] = LABEL_IDS['terrain']
    zn, zf = 0.3, 3000.0  # below the image bottom .. at the horizon
    road = _jitter(rng, s.road, 0.05)
    walk = _jitter(rng, s.sidewalk, s.jitter)
    for sign in (-1, 1):
        edge, kerb, line = (lay[k] * sign for k in ('road', 'kerb', 'line'))
        if lay['grass'] > 0:
            st.ground(line, kerb, zn, zf, _jitter(rng, s.terrain, s.jitter),
                      'terrain')
        st.ground(kerb, edge, zn, zf, walk, 'sidewalk')
        # The kerb stone: a lighter strip, still sidewalk.
        st.ground(edge + 0.25 * sign, edge, zn, zf,
                  np.clip(walk * 1.15, 0, 1), 'sidewalk')
    st.ground(-lay['road'], lay['road'], zn, zf, road, 'road')
    # Lane markings are painted road: dashed centre line, solid edge lines.
    mark = _jitter(rng, s.marking, 0.04)
    x_mid = lay['centre']
    z, dash, gap = rng.uniform(1, 5), rng.uniform(2.5, 4), rng.uniform(5, 8)
    while z < 200:
        st.ground(x_mid - 0.07, x_mid + 0.07, z, z + dash, mark, 'road')
        z += dash + gap
    for sign in (-1, 1):
        x = sign * (lay['road'] - 0.35)
        st.ground(x - 0.06, x + 0.06, zn, zf, mark, 'road')


def _draw_facade(st: _Street, x, z0, z1, height, rgb, light, name='building'):
    """A building front in the plane X = x with a grid of windows."""
    rng, s = st.rng, st.s
    st.side(x, 0, height, z0, z1, rgb * light, name)
    glass = _jitter(rng, _pick(rng, s.glass), 0.05) * light
    col_step = rng.uniform(2.5, 4.0)
    win_w = col_step * rng.uniform(0.4, 0.6)
    floor_h = rng.uniform(2.8, 3.4)
    y = rng.uniform(0.8, 1.2)
    while y + 1.5 < height - 0.5:
        z = z0 + rng.uniform(0.3, 1.0)
        while z + win_w < z1 - 0.3:
            # Windows smaller than a pixel only alias; skip them.
            if 1.5 * st.scale(z) >= 1.0:
                g = np.clip(glass * rng.uniform(0.85, 1.15), 0, 1)
                st.side(x, y, y + 1.5, z, z + win_w, g, name)
            z += col_step
        y += floor_h


def _draw_buildings(st: _Street, lay: Dict[str, float], z_end: float):
    s, rng = st.s, st.rng
    # One side is lit by the sun, the other in shade: a cue shared by both
    # domains, so it is not part of the gap.
    lights = {-1: rng.uniform(0.75, 1.0), 1: rng.uniform(0.75, 1.0)}
    if z_end > 0:
        # Buildings across the end of the street, facing the camera.
        x = -80.0
        while x < 80:
            wd, hb = rng.uniform(8, 20), rng.uniform(8, 30)
            col = _jitter(rng, _pick(rng, s.buildings), s.jitter)
            st.front(x, x + wd, 0, hb, z_end, col, 'building')
            glass = _jitter(rng, _pick(rng, s.glass), 0.05)
            for yy in np.arange(1.0, hb - 2, 3.0):
                for xx in np.arange(x + 1.0, x + wd - 1.5, 3.0):
                    st.front(xx, xx + 1.4, yy, yy + 1.6, z_end, glass,
                             'building')
            x += wd
    else:
        # An open street: a low, far skyline with trees.
        x = -200.0
        while x < 200:
            wd = rng.uniform(10, 40)
            col = _jitter(rng, _pick(rng, s.buildings), s.jitter) * 0.85
            st.front(x, x + wd, 0, rng.uniform(5, 25), 400.0, col, 'building')
            x += wd
        for _ in range(int(rng.integers(3, 8))):
            xx = rng.uniform(-60, 60)
            st.c.circle(st.p(xx, 6, 300), st.scale(300) * rng.uniform(5, 10),
                        _jitter(rng, s.vegetation, s.jitter), 'vegetation')
    z_stop = z_end if z_end > 0 else 150.0
    for sign in (-1, 1):
        x_line = sign * lay['line']
        z = 0.3  # start behind the image bottom so the facade fills the side
        while z < z_stop:
            z1 = min(z + rng.uniform(6, 20), z_stop)
            col = _jitter(rng, _pick(rng, s.buildings), s.jitter)
            _draw_facade(st, x_line, z, z1, rng.uniform(7, 25), col,
                         lights[sign])
            z = z1
        # Something along the building line: a wall, a fence or a hedge.
        for _ in range(int(rng.integers(0, 3))):
            z0 = rng.uniform(2, 30)
            z1 = z0 + rng.uniform(5, 25)
            x = x_line - sign * 0.3
            kind = rng.uniform()
            if kind < s.hedge_prob:
                col = _jitter(rng, s.vegetation, s.jitter)
                hh = rng.uniform(0.8, 1.6)
                st.side(x, 0, hh, z0, z1, col, 'vegetation')
                for zz in np.arange(z0 + 0.5, z1, 1.0):
                    st.c.circle(st.p(x, hh, zz), 0.5 * st.scale(zz), col,
                                'vegetation')
            elif kind < 0.5 + s.hedge_prob / 2:
                st.side(x, 0, rng.uniform(0.8, 2.0), z0, z1,
                        _jitter(rng, s.wall, s.jitter), 'wall')
            else:
                col = _jitter(rng, s.fence, s.jitter)
                hh = rng.uniform(1.0, 1.8)
                for zz in np.arange(z0, z1, 2.0):  # posts
                    st.side(x, 0, hh, zz, zz + 0.15, col, 'fence')
                for yy in (0.3 * hh, 0.85 * hh):  # rails
                    st.side(x, yy, yy + 0.12, z0, z1, col, 'fence')


def _draw_pole(st: _Street, x, z):
    rng = st.rng
    hp = rng.uniform(3.0, 6.0)
    grey = _jitter(rng, (0.45, 0.45, 0.47), 0.1)
    st.front(x - 0.07, x + 0.07, 0, hp, z, grey, 'pole')
    kind = rng.uniform()
    if kind < 0.55:
        shape = int(rng.integers(3))
        c = st.p(x, hp - 0.35, z)
        r = 0.35 * st.scale(z)
        if shape == 0:  # round prohibition sign: red ring, white inside
            st.c.circle(c, r, (0.85, 0.10, 0.10), 'traffic sign')
            st.c.circle(c, 0.7 * r, (0.95, 0.95, 0.95), 'traffic sign')
        elif shape == 1:  # blue square information sign
            st.front(x - 0.35, x + 0.35, hp - 0.7, hp, z,
                     _jitter(rng, (0.10, 0.30, 0.80), 0.05), 'traffic sign')
            st.front(x - 0.2, x + 0.2, hp - 0.5, hp - 0.2, z,
                     (0.95, 0.95, 0.95), 'traffic sign')
        else:  # yellow priority diamond
            cx, cy = c
            st.c.poly([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)],
                      (0.95, 0.80, 0.10), 'traffic sign')
    elif kind < 0.85:
        st.front(x - 0.18, x + 0.18, hp - 0.95, hp, z, (0.12, 0.12, 0.10),
                 'traffic light')
        lit = int(rng.integers(3))
        for i, col in enumerate(((0.9, 0.1, 0.1), (0.95, 0.7, 0.1),
                                 (0.1, 0.85, 0.3))):
            col = col if i == lit else tuple(0.25 * np.asarray(col))
            st.c.circle(st.p(x, hp - 0.18 - 0.3 * i, z), 0.1 * st.scale(z),
                        col, 'traffic light')


def _draw_tree(st: _Street, x, z):
    rng, s = st.rng, st.s
    # Trunks are vegetation in Cityscapes.
    trunk = _jitter(rng, (0.35, 0.25, 0.15), 0.1)
    ht = rng.uniform(2.0, 3.0)
    st.front(x - 0.15, x + 0.15, 0, ht + 0.5, z, trunk, 'vegetation')
    base = _jitter(rng, s.vegetation, s.jitter)
    r0 = rng.uniform(1.2, 2.2)
    for _ in range(int(rng.integers(4, 8))):
        dx, dy = rng.uniform(-r0, r0), rng.uniform(-0.5, 1.0) * r0
        col = np.clip(base * rng.uniform(0.8, 1.2), 0, 1)
        st.c.circle(st.p(x + dx, ht + r0 + dy, z),
                    rng.uniform(0.5, 0.8) * r0 * st.scale(z), col,
                    'vegetation')


def _draw_car(st: _Street, x, z):
    rng, s = st.rng, st.s
    col = _jitter(rng, _pick(rng, s.cars), s.jitter * 0.5)
    glass = _jitter(rng, (0.10, 0.12, 0.16), 0.2)
    tyre = (0.06, 0.06, 0.06)
    length, half = rng.uniform(3.8, 4.8), rng.uniform(0.85, 0.95)
    # The shadow under the car is road.
    st.ground(x - half - 0.05, x + half + 0.05, z - 0.1, z + length,
              _jitter(rng, (0.10, 0.10, 0.11), 0.1), 'road')
    # The side facing the camera, if any (drawn first: the rear covers it).
    xs = x + half if x + half < -0.2 else x - half if x - half > 0.2 else None
    if xs is not None:
        st.side(xs, 0.3, 1.0, z, z + length, col * 0.8, 'car')
        st.side(xs, 1.0, 1.45, z + 0.9, z + length - 1.0, col * 0.8, 'car')
        st.side(xs, 1.05, 1.4, z + 1.0, z + length - 1.1, glass, 'car')
        for zz in (z + 0.8, z + length - 0.8):
            cx, cy = st.p(xs, 0.33, zz)
            r = 0.33 * st.scale(zz)
            squash = abs(xs) / np.hypot(xs, zz)  # wheels seen at an angle
            st.c.ellipse((cx, cy), (max(1.0, r * squash), r), tyre, 'car')
    # The rear, facing the camera.
    for sx in (-1, 1):
        st.front(x + sx * (half - 0.28), x + sx * (half - 0.02), 0, 0.35, z,
                 tyre, 'car')
    st.front(x - half, x + half, 0.3, 1.0, z, col, 'car')
    st.front(x - half, x + half, 0.3, 0.42, z, col * 0.5, 'car')  # bumper
    st.c.poly([st.p(x - half + 0.1, 1.0, z), st.p(x + half - 0.1, 1.0, z),
               st.p(x + half - 0.3, 1.45, z), st.p(x - half + 0.3, 1.45, z)],
              col, 'car')
    st.c.poly([st.p(x - half + 0.2, 1.04, z), st.p(x + half - 0.2, 1.04, z),
               st.p(x + half - 0.35, 1.4, z), st.p(x - half + 0.35, 1.4, z)],
              glass, 'car')
    for sx in (-1, 1):  # tail lights
        st.front(x + sx * (half - 0.3), x + sx * (half - 0.05), 0.75, 0.9, z,
                 (0.85, 0.08, 0.05), 'car')
    st.front(x - 0.25, x + 0.25, 0.5, 0.62, z, (0.9, 0.9, 0.88), 'car')


def _draw_person(st: _Street, x, z):
    rng, s = st.rng, st.s
    k = rng.uniform(1.55, 1.90) / 1.75  # body height relative to 1.75 m
    sc = st.scale(z)
    shirt = _jitter(rng, _pick(rng, s.clothes), s.jitter)
    legs = _jitter(rng, (0.12, 0.14, 0.22), 0.3)
    skin = _jitter(rng, (0.85, 0.65, 0.50), 0.15)
    stride = rng.uniform(0.0, 0.25)
    for sx in (-1, 1):
        st.c.line(st.p(x + 0.08 * sx, 0.9 * k, z),
                  st.p(x + (0.1 + stride) * sx, 0.0, z), 0.14 * k * sc, legs,
                  'person')
        st.c.line(st.p(x + 0.2 * sx, 1.42 * k, z),
                  st.p(x + (0.28 + stride / 2) * sx, 0.85 * k, z),
                  0.09 * k * sc, shirt * 0.9, 'person')
    st.c.ellipse(st.p(x, 1.17 * k, z), (0.21 * k * sc, 0.30 * k * sc), shirt,
                 'person')
    st.c.circle(st.p(x, 1.62 * k, z), 0.11 * k * sc, skin, 'person')


def _draw_clutter(st: _Street, x, z):
    """A bin or a box: unannotated, as such things are in GTA5."""
    rng = st.rng
    col = _jitter(rng, _pick(rng, ((0.15, 0.30, 0.18), (0.35, 0.35, 0.36),
                                   (0.55, 0.45, 0.30))), 0.1)
    wd, hh = rng.uniform(0.25, 0.45), rng.uniform(0.6, 1.1)
    st.front(x - wd, x + wd, 0, hh, z, col, 'unlabeled')


def _add_texture(c: _Canvas, rng: np.random.Generator):
    """Low-amplitude per-class texture, by label, so that blur has fine
    detail to remove (the sky stays smooth, as a real sky is)."""
    h, w = c.lbl.shape

    def grain(sigma: float, amp: float) -> np.ndarray:
        n = rng.standard_normal((h, w)).astype(np.float32)
        return amp * cv2.GaussianBlur(n, (0, 0), sigma)

    ids = LABEL_IDS
    yy = np.arange(h)[:, None]
    xx = np.arange(w)[None, :]
    factor = np.ones((h, w), np.float32)
    m = c.lbl == ids['building']  # brick courses and joints
    brick = np.where((yy % 4 == 0) | ((xx + 4 * (yy // 4 % 2)) % 8 == 0),
                     0.92, 1.0) + grain(1.0, 0.06)
    factor[m] = brick.astype(np.float32)[m]
    m = c.lbl == ids['road']  # asphalt grain
    factor[m] = 1.0 + grain(1.0, 0.08)[m]
    m = c.lbl == ids['sidewalk']  # paving joints
    paving = np.where((yy % 6 == 0) | (xx % 9 == 0), 0.9, 1.0)
    factor[m] = (paving + grain(1.0, 0.05))[m]
    m = (c.lbl == ids['vegetation']) | (c.lbl == ids['terrain'])  # leaves
    factor[m] = 1.0 + grain(1.0, 0.5)[m]
    c.img *= factor[..., None]


def render_scene(rng: np.random.Generator, size: Tuple[int, int],
                 style: SceneStyle = SYNTHETIC_STYLE
                 ) -> Tuple[np.ndarray, np.ndarray]:
    """Draw one street scene.

    Returns ``(rgb, label)``: an ``HxWx3`` float32 RGB image in [0, 1] (the
    clean rendering, no camera model) and the ``HxW`` uint8 map of Cityscapes
    label ids drawn by the same calls.
    """
    h, w = size
    c = _Canvas(h, w)
    st = _Street(c, rng, style)
    half_road = rng.uniform(3.5, 6.0)
    lay = dict(road=half_road, kerb=half_road + rng.uniform(2.0, 4.0),
               centre=rng.uniform(-0.3, 0.3) * half_road)
    lay['grass'] = (rng.uniform(1.0, 3.0)
                    if rng.uniform() < style.grass_strip_prob else 0.0)
    lay['line'] = lay['kerb'] + lay['grass']
    _draw_sky(st)
    _draw_ground(st, lay)
    z_end = rng.uniform(60, 150) if rng.uniform() < 0.6 else 0.0
    _draw_buildings(st, lay, z_end)

    # Objects, drawn far to near so nearer ones occlude farther ones.
    objects: List[Tuple[float, object, float]] = []
    z_max = z_end if z_end > 0 else 120.0
    for sign in (-1, 1):
        for _ in range(int(rng.integers(1, 4))):
            objects.append((rng.uniform(5, min(60, z_max)), _draw_pole,
                            sign * (half_road + 0.5)))
        lo, hi = style.trees_per_side
        for _ in range(int(rng.integers(lo, hi + 1))):
            x = (lay['kerb'] + lay['grass'] / 2 if lay['grass'] > 0
                 else lay['kerb'] - 0.6)
            objects.append((rng.uniform(5, min(80, z_max)), _draw_tree,
                            sign * x))
        for _ in range(int(rng.integers(0, 3))):
            objects.append((rng.uniform(4, 40), _draw_clutter,
                            sign * (lay['kerb'] - rng.uniform(0.3, 0.8))))
    for _ in range(int(rng.integers(*style.persons_count) + 1)):
        sign = 1 if rng.uniform() < 0.5 else -1
        x = sign * rng.uniform(half_road + 0.6, lay['kerb'] - 0.3)
        objects.append((rng.uniform(4, 40), _draw_person, x))
    lanes = [-half_road + 1.1, -half_road / 2, half_road / 2, half_road - 1.1]
    cars: List[Tuple[float, float]] = []
    for _ in range(int(rng.integers(*style.cars_count) + 1)):
        x = lanes[int(rng.integers(len(lanes)))] + rng.uniform(-0.3, 0.3)
        z = rng.uniform(5, min(70, z_max - 5))
        # Two cars in the same place would interpenetrate.
        if all(abs(z - zc) > 6 or abs(x - xc) > 2.2 for xc, zc in cars):
            cars.append((x, z))
            objects.append((z, _draw_car, x))
    for z, draw, x in sorted(objects, key=lambda o: -o[0]):
        draw(st, x, z)

    _add_texture(c, rng)
    return np.clip(c.img, 0, 1), c.lbl
