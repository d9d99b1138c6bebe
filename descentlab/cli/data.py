"""`descentlab data fetch`: download and verify MNIST / Fashion-MNIST into the cache."""

from __future__ import annotations

import argparse

from .common import Parser

EXAMPLES = """\
examples:
  descentlab data fetch mnist              into $DESCENTLAB_DATA or ~/.cache/descentlab
  descentlab data fetch fashion-mnist --data-root /shared/data
  descentlab data fetch mnist --mirror file:///media/usb/mnist/

On a machine without network, copy the four .gz files (or the whole cache
folder) over, or fetch them from a file:// mirror as above; every file is
checked against its pinned SHA-256 before it is used."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..data import DATASETS

    d = sub.add_parser(
        "data",
        help="prepare the data cache (e.g. for an offline machine)",
        description="Manage the download cache of the full data sets.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = d.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    f = actions.add_parser(
        "fetch",
        help="download and verify a data set's four files",
        description="Download (when not cached) and verify the four files of a "
        "data set; prints where they are.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    f.add_argument(
        "dataset",
        choices=tuple(DATASETS),
        metavar="DATASET",
        help=" or ".join(DATASETS),
    )
    f.add_argument(
        "--data-root",
        metavar="DIR",
        help="cache folder (default: $DESCENTLAB_DATA, else the platform cache)",
    )
    f.add_argument(
        "--mirror",
        action="append",
        metavar="URL",
        help="base URL to download from instead of the built-in mirrors (repeat to "
        "try several; file:// works)",
    )
    f.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds to wait on each network operation (default: 60)",
    )


def run(a: argparse.Namespace) -> int:
    from ..data import DATASETS, data_home, fetch_files
    from .common import UsageError

    if a.action != "fetch":
        raise UsageError("data: choose an action: fetch (see `descentlab data --help`)")
    spec = DATASETS[a.dataset]
    paths = fetch_files(spec, root=a.data_root, mirror=a.mirror, timeout=a.timeout)
    folder = data_home(a.data_root) / spec.name
    total = sum(p.stat().st_size for p in paths.values())
    print(
        f"{a.dataset}: {len(paths)} files, {total / 1e6:.1f} MB, verified, in {folder}"
    )
    return 0
