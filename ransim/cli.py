"""``ransim``: simulated E2 nodes. ``ransim capture --out FILE`` writes RIC_INDICATION
messages as ``csi-xapp replay`` reads them (one JSON object per line)."""

from __future__ import annotations

import argparse
import sys

from lasco.channels import ChannelCache, paper_catalogue, parse_region_list
from lasco.codec import Projection
from lasco.errors import LascoError
from ransim.node import Cell, E2Node
from xapp.mtypes import MType
from xapp.replay import write_message

__all__ = ["main"]


def cmd_capture(args: argparse.Namespace) -> int:
    cat = paper_catalogue()
    cells = [Cell(f"cell-{r}", cat.get(r), args.samples) for r in parse_region_list(args.regions)]
    proj = Projection.from_id(args.projection) if args.projection else Projection.from_ratio("1/4")
    node = E2Node(
        args.node,
        cells,
        proj,
        label_fraction=args.label_fraction,
        seed=args.seed,
        cache=ChannelCache(args.cache) if args.cache else None,
    )
    with open(args.out, "w") as f:
        for _, pdu, _ in node.indications(args.indications, args.ues):
            write_message(f, MType.RIC_INDICATION, pdu, args.node)
    print(
        f"wrote {args.indications} indications of {args.ues} UEs from {len(cells)} "
        f"cell{'s' if len(cells) != 1 else ''} to {args.out}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ransim", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("capture", help="write E2 indications as JSONL for csi-xapp replay")
    c.add_argument("--out", required=True)
    c.add_argument("--regions", default="101,102", help="paper regions, one cell each")
    c.add_argument("--node", default="gnb-1", help="E2 node id (meid)")
    c.add_argument("--indications", type=int, default=20)
    c.add_argument("--ues", type=int, default=16, help="UEs per indication")
    c.add_argument("--samples", type=int, default=200, help="channels drawn per cell")
    c.add_argument("--label-fraction", type=float, default=0.25)
    c.add_argument("--projection", help="projection id (default gauss-0-512, CR 1/4)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--cache", help="channel cache folder")
    c.set_defaults(func=cmd_capture)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (LascoError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
