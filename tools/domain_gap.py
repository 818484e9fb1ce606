#!/usr/bin/env python
"""How much of the synthetic->real gap does a translation close?

Usage:
    python tools/domain_gap.py SOURCE_DIR TRANSLATED_DIR REAL_DIR
        [--out gap.json] [--max-images N]

Each folder is searched recursively for images (any layout). For each
simple statistic (mean saturation, brightness, noise level, edge strength;
see ``dakpn_aug/domain_stats.py``) it prints the source, translated and real
means and the share of the source->real gap the translation closes
(``1 - |translated - real| / |source - real|``: 100% closed, 0% unchanged,
negative = further away), and writes the same as JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dakpn_aug.data.sources import list_images, read_rgb  # noqa: E402
from dakpn_aug.domain_stats import STATS, dataset_stats, gap_closed  # noqa


def measure(folder: Path, max_images=None) -> dict:
    files = list_images(folder, layout='folder')[:max_images]
    stats = dataset_stats(read_rgb(p) for p in files)
    stats['num_images'] = len(files)
    return stats


def format_table(result: dict) -> str:
    s, t, r, c = (result['source'], result['translated'], result['real'],
                  result['gap_closed'])
    lines = ['| statistic | source | translated | real | gap closed |',
             '|---|---|---|---|---|']
    for k in STATS:
        lines.append(f'| {k} | {s[k]:.4f} | {t[k]:.4f} | {r[k]:.4f} | '
                     f'{c[k]:.0%} |')
    lines.append(f'| **mean** | | | | **{c["mean"]:.0%}** |')
    return '\n'.join(lines)


def domain_gap(source: Path, translated: Path, real: Path,
               max_images=None) -> dict:
    res = dict(source=measure(source, max_images),
               translated=measure(translated, max_images),
               real=measure(real, max_images))
    res['gap_closed'] = gap_closed(res['source'], res['translated'],
                                   res['real'])
    res['folders'] = dict(source=str(source), translated=str(translated),
                          real=str(real))
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('source', type=Path)
    ap.add_argument('translated', type=Path)
    ap.add_argument('real', type=Path)
    ap.add_argument('--out', type=Path, default=None,
                    help='JSON output (default TRANSLATED/../domain_gap.json)')
    ap.add_argument('--max-images', type=int, default=None)
    args = ap.parse_args(argv)
    try:
        res = domain_gap(args.source, args.translated, args.real,
                         args.max_images)
    except Exception as e:  # noqa: BLE001 - one clear line for the CLI
        raise SystemExit(f'domain_gap: error: {e}') from None
    print(format_table(res))
    out = args.out or args.translated.parent / 'domain_gap.json'
    out.write_text(json.dumps(res, indent=2))
    print(f'\nwritten: {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
