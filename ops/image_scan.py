"""`cloudledger image-scan [--apply]`: inspect every stored image once, as an
upload is inspected now (commands/image_scan.py). Images stored before
uploads were inspected may hold a qcow2 that names a host file: each unsafe
one is deactivated, never to be reactivated, with an event naming why. A dry
run (the default) only says what it would do."""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import Any, TextIO
from uuid import UUID

import psycopg

from commands.app import CloudApp
from commands.bootstrap import Settings, build_app
from commands.image_files import DirectoryImageStore
from commands.image_scan import SCANNED_STATUSES, ScanOutcome, scan_image
from commands.ports import ImageStore
from domain.values import Actor


def add_parser(sub: Any) -> None:
    """The `image-scan` subcommand, on the CLI's subparsers."""
    scan = sub.add_parser(
        "image-scan", help="inspect every stored image once; deactivate the unsafe ones"
    )
    scan.add_argument("--apply", action="store_true", help="record what is found (else a dry run)")
    scan.set_defaults(main=main_scan)


def stored_images(database_url: str) -> list[UUID]:
    """The images with data, oldest first (the images read model)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT id FROM images WHERE status = ANY(%s) ORDER BY created_at, id",
            (list(SCANNED_STATUSES),),
        ).fetchall()
    return [UUID(str(image_id)) for (image_id,) in rows]


def scan(
    app: CloudApp, store: ImageStore, image_ids: list[UUID], apply: bool, out: TextIO
) -> list[ScanOutcome]:
    """Each image scanned, one line each; a summary at the end."""
    actor = Actor("system:image-scan", "", ("admin",), f"image-scan-{uuid.uuid4().hex[:12]}")
    outcomes = []
    for image_id in image_ids:
        found = scan_image(app, store, image_id, actor, apply)
        outcomes.append(found)
        done = {"unsafe": "deactivated" if apply else "would deactivate"}.get(found.outcome, "")
        print(f"{found.image_id}  {found.outcome:7}  {found.detail}  {done}".rstrip(), file=out)
    unsafe = sum(o.outcome == "unsafe" for o in outcomes)
    verb = "deactivated" if apply else "to deactivate (dry run: --apply records it)"
    print(f"{len(outcomes)} images scanned, {unsafe} unsafe {verb}", file=out)
    return outcomes


def main_scan(settings: Settings, args: argparse.Namespace) -> int:
    app = build_app(settings.database_url, pool_size=2, limits=settings.database_limits)
    try:
        ids = stored_images(settings.database_url)
        scan(app, DirectoryImageStore(settings.image_dir), ids, args.apply, sys.stdout)
    finally:
        app.close()
    return 0
