#!/usr/bin/env python
"""How much of the synthetic->real gap does a translation close?

Usage:
    python tools/domain_gap.py SOURCE_DIR TRANSLATED_DIR REAL_DIR
        [--source-labels DIR --real-labels DIR] [--out gap.json]
        [--max-images N]

Each folder is searched recursively for images (any layout). For each
whole-image statistic (mean saturation, brightness, noise level, edge
strength) it prints the source, translated and real means and the share of
the source->real gap the translation closes (``1 - |translated - real| /
|source - real|``: 100% closed, 0% unchanged, negative = further away).

With the label folders of both domains (Cityscapes/GTA5 label ids, matched
to images by frame name; translated images use the source labels) it adds
the per-class realism report: per class, mean colour (YCbCr: linear in RGB,
no circular hue), noise and edge strength of source / translated / real and
the share of the gap closed, plus a colour swatch picture.

Writes OUT (JSON), OUT with .md (the tables) and, per class,
OUT_swatches.png. The statistics live in ``dakpn_aug/domain_stats.py``.
"""
from __future__ import annotations

import sys
from pathlib import Path

from dakpn_aug.domain_stats import (domain_gap, format_class_table,
                                    format_table, write_report)
from . import argument_parser, count_arg


def main(argv=None) -> int:
    ap = argument_parser(__doc__)
    ap.add_argument('source', type=Path, help='the synthetic images')
    ap.add_argument('translated', type=Path,
                    help='the same images translated')
    ap.add_argument('real', type=Path, help='real images of the target')
    ap.add_argument('--source-labels', type=Path, default=None,
                    help='label maps of the source (and translated) images')
    ap.add_argument('--real-labels', type=Path, default=None,
                    help='label maps of the real images')
    ap.add_argument('--out', type=Path, default=None,
                    help='JSON output (default TRANSLATED/../domain_gap.json)')
    ap.add_argument('--max-images', type=count_arg(1), default=None)
    args = ap.parse_args(argv)
    if (args.source_labels is None) != (args.real_labels is None):
        ap.error('--source-labels and --real-labels go together')
    try:
        res = domain_gap(args.source, args.translated, args.real,
                         args.max_images, args.source_labels,
                         args.real_labels)
    except Exception as e:  # noqa: BLE001 - one clear line for the CLI
        raise SystemExit(f'domain_gap: error: {e}') from None
    out = args.out or args.translated.parent / 'domain_gap.json'
    try:
        written = write_report(res, out)
    except OSError as e:
        raise SystemExit(f'domain_gap: error: cannot write the report to '
                         f'{out}: {e.strerror or e}') from None
    print(format_table(res))
    if 'per_class' in res:
        print('\nPer class (s = source, t = translated, r = real):\n')
        print(format_class_table(res))
    print('\nwritten: ' + ', '.join(str(p) for p in written))
    return 0


if __name__ == '__main__':
    sys.exit(main())
