"""How far apart two image domains are, and how much of the gap a
translation closes: whole-image statistics and a per-class realism report
(used by the demo, the camera-zoo benchmark and ``tools/domain_gap.py``).

Whole image (:func:`image_stats`): mean saturation and brightness (HSV),
noise level and edge strength.

Per class (:func:`class_stats`, needs label maps of both domains): for each
class with enough pixels in every domain,

- **colour**: the class's mean colour in YCbCr (BT.601 luma Y in [0, 1],
  colour differences Cb, Cr in [-0.5, 0.5]) and its mean chroma
  ``C = sqrt(Cb^2 + Cr^2)`` (colourfulness). YCbCr is linear in RGB, so
  the mean of a class's pixels is the colour of its average light, and it
  has no circular channel: averaging hues (0.99 and 0.01 are both red)
  cannot go wrong, and a grey's colour is well defined. The mean chroma is
  needed beside the mean colour because a class of many colourful
  instances (red, blue and yellow cars) averages to grey: its mean colour
  can match a grey real class while every pixel is far more colourful.
  Chroma is taken after a 5x5 box average of Cb and Cr, so that sensor
  noise does not count as colour.
  The colour gap is the Euclidean distance of ``(Y, Cb, Cr, C)`` vectors
  (luma and chroma in the same units). Mean saturation (HSV) is reported
  beside it because people read it.
- **noise level**: Immerkaer's estimate (``sqrt(pi/2) / 6 * mean |I * L|``
  with the 3x3 kernel ``L`` that cancels planes and edges to first order)
  over the class's pixels away from its boundary (one-pixel erosion, so
  ``L`` never straddles two classes). Continuous-valued, unlike a MAD of
  8-bit residuals;
- **edge strength**: mean Sobel gradient magnitude of the grey image over
  the class's pixels (blur at the class's boundaries is part of it).

Only the classes that mIoU scores enter the per-class report: label ids
whose Cityscapes train id is 255 (``unlabeled``, ``ego vehicle``,
``static``, ``parking``, ``caravan``, ...) are void. They are ignored by
every segmenter's loss and metric here, and their pixels are whatever is
left over (in the demo generator, random-colour clutter), so the colour
of "unlabeled" says nothing about a camera. :data:`VOID_LABEL_IDS`.

The share of the gap closed is ``1 - |translated - real| / |source - real|``
(1 closed, 0 unchanged, negative: further away), per statistic and class,
averaged over classes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .data.cityscapes_labels import ID_TO_TRAINID, IGNORE_INDEX

STATS = ('saturation', 'brightness', 'noise_level', 'edge_strength')
#: Per-class statistics (see the module docstring).
CLASS_STATS = ('Y', 'Cb', 'Cr', 'C', 'saturation', 'noise_level',
               'edge_strength')
#: A class enters the per-class report with at least this many pixels in
#: each domain (summed over the images).
MIN_CLASS_PIXELS = 500
#: Gaps smaller than this are "already closed" and not scored (a ratio of
#: two tiny numbers says nothing).
MIN_GAP = dict(colour=0.01, noise_level=0.002, edge_strength=0.002)
#: A class's gap (colour, noise or edges) is "within noise" below this
#: multiple of its sampling noise (about two standard errors:
#: :func:`class_gap_closed`).
NOISE_MULTIPLE = 2.0
#: The per-class gaps (:func:`class_gap_closed`).
CLASS_GAPS = ('colour', 'noise_level', 'edge_strength')
_MAD_TO_STD = 1.4826
#: Immerkaer (1996), "Fast noise variance estimation": this kernel's
#: response to a plane or a straight edge is ~0, to white noise of std s it
#: has mean absolute value ``s * 6 / sqrt(pi / 2)``.
#: The training loss's noise statistic is the same estimator
#: (models/stats_loss.py).
IMMERKAER_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]],
                            np.float32)
IMMERKAER_SCALE = float(np.sqrt(np.pi / 2) / 6)
#: Label ids the per-class report leaves out: Cityscapes/GTA5 ids with train
#: id 255 (void, not scored by mIoU) and 255 itself.
VOID_LABEL_IDS = tuple(sorted(
    {i for i, t in ID_TO_TRAINID.items() if t == IGNORE_INDEX}
    | {IGNORE_INDEX}))


def _check_rgb(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or \
            rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError('expected an HxWx3 uint8 RGB image')


def _grey_features(rgb: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(residual from the 3x3 median, Sobel magnitude) of the grey image,
    both in grey levels of [0, 1]."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    resid = (grey.astype(np.float32) - cv2.medianBlur(grey, 3).astype(
        np.float32)) / 255
    g = grey.astype(np.float32) / 255
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    return resid, np.sqrt(gx * gx + gy * gy)


def _robust_std(values: np.ndarray) -> float:
    return float(_MAD_TO_STD * np.median(np.abs(values - np.median(values))))


def image_stats(rgb: np.ndarray) -> Dict[str, float]:
    """Statistics of one HxWx3 uint8 RGB image.

    - saturation, brightness: mean HSV S and V in [0, 1];
    - noise_level: robust std (1.4826 * MAD) of the image minus its 3x3
      median, grey levels in [0, 1] (flat areas dominate, so edges barely
      count);
    - edge_strength: mean Sobel gradient magnitude of the grey image.
    """
    _check_rgb(rgb)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL).astype(np.float32) / 255
    resid, grad = _grey_features(rgb)
    return dict(saturation=float(hsv[..., 1].mean()),
                brightness=float(hsv[..., 2].mean()),
                noise_level=_robust_std(resid),
                edge_strength=float(grad.mean()))


def dataset_stats(images: Iterable[np.ndarray]) -> Dict[str, float]:
    """Mean of :func:`image_stats` over images."""
    rows = [image_stats(im) for im in images]
    if not rows:
        raise ValueError('no images')
    return {k: float(np.mean([r[k] for r in rows])) for k in STATS}


def gap_closed(source: Dict[str, float], translated: Dict[str, float],
               real: Dict[str, float],
               stats: Sequence[str] = STATS) -> Dict[str, Optional[float]]:
    """Per statistic, the share of the source->real gap the translation
    closes: ``1 - |translated - real| / |source - real|`` (1 = closed,
    0 = unchanged, negative = further away). Also ``'mean'`` over the
    statistics that have a gap; a statistic without a gap (source equals
    real) is ``None`` (JSON ``null``), and so is the mean if none has."""
    out: Dict[str, Optional[float]] = {}
    for k in stats:
        gap = abs(source[k] - real[k])
        out[k] = None if gap < 1e-12 else 1.0 - abs(
            translated[k] - real[k]) / gap
    vals = [v for v in out.values() if v is not None]
    out['mean'] = float(np.mean(vals)) if vals else None
    return out


# ------------------------------------------------------------- per class


def ycbcr(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB -> float32 ``[Y, Cb, Cr]`` (BT.601, chroma centred;
    the same space as ``functional.rgb_to_ycbcr``)."""
    x = rgb.astype(np.float32) / 255
    y = x @ np.array([0.299, 0.587, 0.114], np.float32)
    cb = (x[..., 2] - y) / 1.772
    cr = (x[..., 0] - y) / 1.402
    return np.stack((y, cb, cr), axis=-1)


def _image_class_sums(rgb: np.ndarray, label: np.ndarray,
                      ignore: Sequence[int]) -> Dict[int, dict]:
    """Per class of one image: pixel count, sums of Y, Cb, Cr, saturation
    and edge strength, and the noise residuals of its interior pixels."""
    _check_rgb(rgb)
    if label.shape != rgb.shape[:2]:
        raise ValueError(f'label map {label.shape} does not match the image '
                         f'{rgb.shape[:2]}')
    ycc = ycbcr(rgb)
    sat = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL)[..., 1].astype(
        np.float32) / 255
    _, grad = _grey_features(rgb)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    lap = np.abs(cv2.filter2D(grey, -1, IMMERKAER_KERNEL,
                              borderType=cv2.BORDER_REFLECT_101))
    # Colourfulness at object scale: chroma of the 5x5-averaged colour
    # differences, so that sensor noise (which has chroma of its own, and
    # is measured separately) does not count as colour.
    smooth = cv2.blur(ycc[..., 1:], (5, 5), borderType=cv2.BORDER_REFLECT_101)
    chroma = np.hypot(smooth[..., 0], smooth[..., 1])
    out = {}
    kernel = np.ones((3, 3), np.uint8)
    for cls in np.unique(label):
        if int(cls) in ignore:
            continue
        mask = label == cls
        interior = cv2.erode(mask.astype(np.uint8), kernel).astype(bool)
        out[int(cls)] = dict(
            count=int(mask.sum()),
            ycc=ycc[mask].sum(0, dtype=np.float64),
            chroma=float(chroma[mask].sum(dtype=np.float64)),
            saturation=float(sat[mask].sum(dtype=np.float64)),
            edge=float(grad[mask].sum(dtype=np.float64)),
            noise=float(lap[interior].sum(dtype=np.float64)),
            interior=int(interior.sum()))
    return out


def class_stats(pairs: Iterable[Tuple[np.ndarray, np.ndarray]],
                ignore: Sequence[int] = VOID_LABEL_IDS) -> Dict[int, dict]:
    """Per-class statistics of a set of ``(rgb, label)`` pairs (label maps
    of Cityscapes/GTA5 label ids; ``ignore``: the void ids by default).

    Means are over all the class's pixels in the set (pixel weighted); the
    noise level pools the class's interior residuals of every image.
    ``sampling_noise``: how far the set's own images let a statistic be
    trusted, half the difference between the class's means over the even
    and over the odd images (two independent halves' means differ by about
    twice the standard error of the whole set's mean); colour as a
    distance (:func:`class_gap_closed`); None for a class that one half
    lacks.

    Returns:
        ``{class_id: {'pixels': n, 'Y': .., 'Cb': .., 'Cr': .., 'C': ..,
        'saturation': .., 'noise_level': .., 'edge_strength': ..,
        'sampling_noise': {'colour': .., 'noise_level': ..,
        'edge_strength': ..} or None}}``.
    """
    halves: List[Dict[int, dict]] = [{}, {}]
    n_images = 0
    for rgb, label in pairs:
        acc = halves[n_images % 2]
        n_images += 1
        for cls, s in _image_class_sums(rgb, label, ignore).items():
            a = acc.setdefault(cls, dict(count=0, ycc=np.zeros(3),
                                         chroma=0.0, saturation=0.0,
                                         edge=0.0, noise=0.0, interior=0))
            for k in a:
                a[k] = a[k] + s[k]
    if n_images == 0:
        raise ValueError('no images')
    out = {}
    for cls in sorted(set(halves[0]) | set(halves[1])):
        parts = [h[cls] for h in halves if cls in h]
        whole = {k: sum(a[k] for a in parts) for k in parts[0]}
        out[cls] = _class_means(whole)
        out[cls]['sampling_noise'] = None
        if len(parts) == 2:
            a, b = (_class_means(part) for part in parts)
            out[cls]['sampling_noise'] = dict(
                colour=float(np.linalg.norm(_colour(a) - _colour(b))) / 2,
                **{k: None if None in (a[k], b[k]) else abs(a[k] - b[k]) / 2
                   for k in ('noise_level', 'edge_strength')})
    return out


def _class_means(a: dict) -> dict:
    """A class's statistics from its summed pixels (:func:`class_stats`)."""
    n = a['count']
    ycc = a['ycc'] / n
    noise = (IMMERKAER_SCALE * a['noise'] / a['interior']
             if a['interior'] else None)
    return dict(pixels=int(n), Y=float(ycc[0]), Cb=float(ycc[1]),
                Cr=float(ycc[2]), C=a['chroma'] / n,
                saturation=a['saturation'] / n, noise_level=noise,
                edge_strength=a['edge'] / n)


def _closed(src: float, tr: float, real: float, min_gap: float
            ) -> Optional[float]:
    gap = abs(src - real)
    return None if gap < min_gap else 1.0 - abs(tr - real) / gap


def _colour(s: dict) -> np.ndarray:
    return np.array([s['Y'], s['Cb'], s['Cr'], s['C']])


def _sampling_noise(source: dict, real: dict, key: str) -> Optional[float]:
    """The sampling noise of a class's source -> real gap in ``key``
    (``'colour'``: the distance): both sets' (:func:`class_stats`),
    combined as independent errors; None where a set cannot tell."""
    noises = [(d.get('sampling_noise') or {}).get(key)
              for d in (source, real)]
    if any(n is None for n in noises):
        return None
    return float(np.hypot(*noises))


def class_gap_closed(source: Dict[int, dict], translated: Dict[int, dict],
                     real: Dict[int, dict],
                     min_pixels: int = MIN_CLASS_PIXELS) -> dict:
    """Per class (enough pixels in all three sets), the share of the gap
    closed: ``colour`` (distance of mean YCbCr colours), ``noise_level``
    and ``edge_strength``; plus their means over classes and the worst
    class's colour. Gaps below :data:`MIN_GAP` are not scored (``None``).

    ``within_noise[stat]``: the class's source -> real gap in ``stat`` is
    under :data:`NOISE_MULTIPLE` times its ``sampling_noise`` (the two
    sets' split-half noise, see :func:`class_stats`): their own images
    cannot tell source from real there, so the share closed is mostly
    noise (a small class in few real images: traffic signs on the demo
    zoo's mild camera). Such gaps still count in ``mean``;
    ``measurable_mean`` leaves them out."""
    per_class = {}
    for cls in sorted(set(source) & set(translated) & set(real)):
        s, t, r = source[cls], translated[cls], real[cls]
        if min(s['pixels'], t['pixels'], r['pixels']) < min_pixels:
            continue
        d_src = float(np.linalg.norm(_colour(s) - _colour(r)))
        d_tr = float(np.linalg.norm(_colour(t) - _colour(r)))
        row = dict(colour_distance_source=d_src,
                   colour_distance_translated=d_tr,
                   colour=_closed(d_src, d_tr, 0.0, MIN_GAP['colour']))
        gaps = dict(colour=d_src)
        for k in ('noise_level', 'edge_strength'):
            if None in (s[k], t[k], r[k]):
                row[k] = None
            else:
                row[k] = _closed(s[k], t[k], r[k], MIN_GAP[k])
                gaps[k] = abs(s[k] - r[k])
        row['sampling_noise'] = {k: _sampling_noise(s, r, k) for k in gaps}
        row['within_noise'] = {
            k: row['sampling_noise'][k] is not None and
            gap < NOISE_MULTIPLE * row['sampling_noise'][k]
            for k, gap in gaps.items()}
        per_class[cls] = row

    def mean_of(key, measurable_only=False):
        vals = [v[key] for v in per_class.values() if v[key] is not None
                and not (measurable_only and v['within_noise'].get(key))]
        return float(np.mean(vals)) if vals else None

    colours = {c: v['colour'] for c, v in per_class.items()
               if v['colour'] is not None}
    worst = min(colours, key=colours.get) if colours else None
    return dict(per_class=per_class,
                measurable_mean={k: mean_of(k, True) for k in CLASS_GAPS},
                mean=dict(colour=mean_of('colour'),
                          noise_level=mean_of('noise_level'),
                          edge_strength=mean_of('edge_strength')),
                worst_colour_class=worst,
                worst_colour=colours.get(worst) if worst is not None
                else None)


# ------------------------------------------------------- folders, reports


def format_pct(v: Optional[float]) -> str:
    """A share as a percentage ('n/a' for None)."""
    return 'n/a' if v is None else f'{v:.0%}'


def measure_folder(folder, max_images: Optional[int] = None,
                   labels=None) -> Tuple[dict, Optional[dict]]:
    """Whole-image statistics of every image below ``folder`` and, with a
    label folder, per-class statistics (labels matched to images by name,
    see ``data.layouts.match_labels``)."""
    from .data.layouts import list_images, match_labels
    from .data.readers import read_label, read_rgb
    files = list_images(folder, layout='folder')
    if max_images is not None:
        if max_images < 1:
            raise ValueError(f'max_images must be >= 1, got {max_images}')
        files = files[:max_images]
    images = [read_rgb(p) for p in files]
    stats = dataset_stats(images)
    stats['num_images'] = len(files)
    per_class = None
    if labels is not None:
        label_files = match_labels(files, labels)
        pairs = []
        for img, img_path, lbl_path in zip(images, files, label_files):
            lbl = read_label(lbl_path)
            if lbl.shape != img.shape[:2]:
                raise ValueError(
                    f'label {lbl_path} is {lbl.shape[1]}x{lbl.shape[0]} but '
                    f'image {img_path} is {img.shape[1]}x{img.shape[0]}')
            pairs.append((img, lbl))
        per_class = class_stats(pairs)
    return stats, per_class


def domain_gap(source, translated, real, max_images: Optional[int] = None,
               source_labels=None, real_labels=None) -> dict:
    """Whole-image (and, with both label folders, per-class) statistics of
    the three folders and the share of the gap the translation closes.
    Translated images take the source's labels (same names)."""
    if (source_labels is None) != (real_labels is None):
        raise ValueError('the per-class report needs the label folders of '
                         'both domains (source_labels and real_labels)')
    res, per_class = {}, {}
    for key, folder, labels in (('source', source, source_labels),
                                ('translated', translated, source_labels),
                                ('real', real, real_labels)):
        res[key], per_class[key] = measure_folder(folder, max_images, labels)
    res['gap_closed'] = gap_closed(res['source'], res['translated'],
                                   res['real'])
    res['folders'] = dict(source=str(source), translated=str(translated),
                          real=str(real))
    if source_labels is not None:
        res['per_class'] = dict(
            stats={k: {str(c): v for c, v in per_class[k].items()}
                   for k in per_class},
            gap_closed=class_gap_closed(per_class['source'],
                                        per_class['translated'],
                                        per_class['real']),
            label_folders=dict(source=str(source_labels),
                               real=str(real_labels)))
    return res


def format_table(result: dict) -> str:
    """Markdown table of the whole-image statistics."""
    s, t, r, c = (result['source'], result['translated'], result['real'],
                  result['gap_closed'])
    lines = ['| statistic | source | translated | real | gap closed |',
             '|---|---|---|---|---|']
    for k in STATS:
        lines.append(f'| {k} | {s[k]:.4f} | {t[k]:.4f} | {r[k]:.4f} | '
                     f'{format_pct(c[k])} |')
    lines.append(f'| **mean** | | | | **{format_pct(c["mean"])}** |')
    return '\n'.join(lines)


def class_name(cls: int) -> str:
    from .data.cityscapes_labels import CITYSCAPES_LABELS
    for lb in CITYSCAPES_LABELS:
        if lb.id == cls:
            return lb.name
    return f'class {cls}'


def format_class_table(result: dict) -> str:
    """Markdown table of the per-class report (needs ``per_class``)."""
    pc = result['per_class']
    st, gc = pc['stats'], pc['gap_closed']
    lines = ['| class | saturation s / t / r | colour dist. s -> t | colour '
             'gap closed | noise s / t / r | noise closed | edges s / t / r '
             '| edges closed |', '|---|---|---|---|---|---|---|---|']

    def trio(key, cls, fmt):
        vals = [st[d][cls][key] for d in ('source', 'translated', 'real')]
        return ' / '.join('n/a' if v is None else format(v, fmt)
                          for v in vals)

    def closed(row, key):
        noisy = row.get('within_noise', {}).get(key)
        return format_pct(row[key]) + (' \\*' if noisy else '')

    for cls, row in gc['per_class'].items():
        c = str(cls)
        lines.append(
            f'| {class_name(int(cls))} | {trio("saturation", c, ".2f")} | '
            f'{row["colour_distance_source"]:.3f} -> '
            f'{row["colour_distance_translated"]:.3f} | '
            f'{closed(row, "colour")} | {trio("noise_level", c, ".4f")} | '
            f'{closed(row, "noise_level")} | '
            f'{trio("edge_strength", c, ".3f")} | '
            f'{closed(row, "edge_strength")} |')
    m = gc['mean']
    worst = gc['worst_colour_class']
    lines.append(f'| **mean over classes** | | | **{format_pct(m["colour"])}** | | '
                 f'**{format_pct(m["noise_level"])}** | | '
                 f'**{format_pct(m["edge_strength"])}** |')
    if any(any(row.get('within_noise', {}).values())
           for row in gc['per_class'].values()):
        mm = gc['measurable_mean']
        lines.append(
            f'| mean over measurable gaps | | | '
            f'{format_pct(mm["colour"])} | | {format_pct(mm["noise_level"])} '
            f'| | {format_pct(mm["edge_strength"])} |')
        lines.append(
            f'\n\\* gap within {NOISE_MULTIPLE:g}x the sampling noise of '
            'the two sets (half the difference between the class\'s means '
            'over their even and their odd images): these images cannot '
            'measure it.')
    if worst is not None:
        lines.append(f'\nWorst class (colour): {class_name(int(worst))} '
                     f'{format_pct(gc["worst_colour"])}.')
    return '\n'.join(lines)


def class_swatches(result: dict, size: int = 40) -> np.ndarray:
    """A picture of each class's mean colour: source / translated / real
    side by side, one row per class of the per-class report (uint8 RGB)."""
    from .visualize import grid
    st = result['per_class']['stats']
    classes = list(result['per_class']['gap_closed']['per_class'])
    if not classes:
        raise ValueError('no class has enough pixels in all three domains')
    rows: List[List[np.ndarray]] = []
    for c in classes:
        c = str(c)
        cells = []
        for d in ('source', 'translated', 'real'):
            s = st[d][c]
            rgb = _ycbcr_to_rgb8(np.array([s['Y'], s['Cb'], s['Cr']]))
            cells.append(np.broadcast_to(rgb, (size, size * 2, 3)).copy())
        label = np.full((size, size * 3, 3), 255, np.uint8)
        cv2.putText(label, class_name(int(c))[:14], (3, size // 2 + 4),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
        rows.append([label] + cells)
    return grid(rows, titles=['class', 'source', 'translated', 'real'])


def _ycbcr_to_rgb8(ycc: np.ndarray) -> np.ndarray:
    y, cb, cr = ycc
    r = y + 1.402 * cr
    b = y + 1.772 * cb
    g = (y - 0.299 * r - 0.114 * b) / 0.587
    return np.clip(np.rint(np.array([r, g, b]) * 255), 0, 255).astype(
        np.uint8)


def write_report(result: dict, out: Path, title: str = '') -> List[Path]:
    """Write ``out`` (.json), its .md tables and, with a per-class report,
    the swatch picture ``<out stem>_swatches.png``. Returns the paths."""
    import json
    from .visualize import write_png
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    md = (f'{title}\n\n' if title else '') + format_table(result) + '\n'
    if 'per_class' in result:
        md += '\nPer class (s = source, t = translated, r = real):\n\n' + \
            format_class_table(result) + '\n'
    written = [out, out.with_suffix('.md')]
    out.write_text(json.dumps(result, indent=2))
    out.with_suffix('.md').write_text(md)
    if 'per_class' in result:
        sw = out.with_name(out.stem + '_swatches.png')
        write_png(sw, class_swatches(result))
        written.append(sw)
    return written
