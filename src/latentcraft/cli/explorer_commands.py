"""The explorer's commands: export, serve, demo (options, then the library calls). cli.py lists them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from latentcraft.cli.options import RUN_DATA_HELP, RUNS_DATA_HELP, at_least, check_out_folder, path_text, port
from latentcraft.config.sections import MAX_EPOCHS
from latentcraft.errors import UsageError


def add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write the in-browser explorer for one or more runs: ONNX graphs, manifest, test digits, pages",
        description="Export RUN_DIR as a static site that works offline and from any static host: encoder/decoder "
        "(and classifier) ONNX graphs checked against torch, manifest.json, up to 1,000 test digits with their "
        "latent means, the pages and the onnxruntime-web runtime (from npm; never a CDN). Several RUN_DIRs make "
        "one site with a model picker, an overview of their metrics and a compare view (--out required).",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", type=path_text,
                   help="a trained run folder (several: one site)")
    p.add_argument("--out", metavar="SITE_DIR", type=path_text,
                   help="output folder (default for one run: RUN_DIR/site)")
    p.add_argument("--data-dir", metavar="DIR", type=path_text,
                   help="folder with the IDX files (else the run's config, $LATENTCRAFT_DATA_DIR, the cache, "
                   "OS packages)")
    p.add_argument("--data", metavar="PATH", type=path_text, help=RUNS_DATA_HELP)
    p.add_argument("--force", action="store_true", help="replace SITE_DIR even if it is not a site latentcraft "
                   "exported (everything in it is deleted); without it such a non-empty folder is refused")


def run_export(args: argparse.Namespace) -> None:
    from latentcraft.explorer.export import export_site, export_sites
    from latentcraft.explorer.serve import SITE_SUBDIR
    from latentcraft.explorer.site_bundle import MANIFEST_FILE

    if len(args.run_dirs) > 1 and not args.out:
        raise UsageError("several runs make one site: say where with --out SITE_DIR")
    out = Path(args.out or Path(args.run_dirs[0]) / SITE_SUBDIR)
    check_out_folder("--out", out)
    if len(args.run_dirs) == 1:
        models = [export_site(args.run_dirs[0], out, data_dir=args.data_dir, force=args.force, data_path=args.data)]
    else:
        root = export_sites(args.run_dirs, out, data_dir=args.data_dir, force=args.force, data_path=args.data)
        models = [json.loads((out / m["dir"] / MANIFEST_FILE).read_text()) for m in root["models"]]
    for manifest in models:
        pages = [f for f, on in manifest["features"].items() if on and f in ("sliders", "plane", "traversal")]
        print(f"exported {manifest['name']}: {manifest['kind']} model, {manifest['latent_dim']} latent coordinates; "
              f"pages: {', '.join(pages)}; max |onnxruntime - torch|: "
              + ", ".join(f"{k} {v:.1e}" for k, v in manifest["check"]["max_abs_error"].items()))
    print(f"site: {out}{' (model picker and compare view)' if len(models) > 1 else ''}")
    print(f"serve it with:  latentcraft serve {out}   (or any static server, e.g. python -m http.server -d {out})")


def add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve a run's explorer on 127.0.0.1 (exporting it first if needed)",
        description="Serve an exported site, or a run folder (exported to RUN_DIR/site first when missing or older "
        "than the weights), on 127.0.0.1 only, and print the URL to open.",
    )
    p.add_argument("path", metavar="RUN_DIR|SITE_DIR", type=path_text, help="a run folder or an exported site folder")
    p.add_argument("--port", type=port, default=8000, help="port on 127.0.0.1 (default: 8000; 0 = any free port)")
    p.add_argument("--quiet", action="store_true", help="do not log requests")


def run_serve(args: argparse.Namespace) -> None:
    from latentcraft.explorer.serve import make_server, serve_forever, site_for

    server = make_server(site_for(args.path), args.port, args.quiet)
    serve_forever(server, "index.html")


def add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="one command: serve the explorer for the small routed model shipped in the package, print what to open",
        description="Export the explorer for the pretrained routed model shipped in the package (once, into "
        "~/.cache/latentcraft/demo-sites) and serve it on 127.0.0.1; nothing trains. --train trains a quick "
        "routed model instead (cached in ~/.cache/latentcraft/demo-run); --run-dir shows an existing run.",
    )
    p.add_argument("--run-dir", metavar="DIR", type=path_text,
                   help="show this trained run instead of the shipped model")
    p.add_argument("--train", action="store_true", help="train a quick routed model (once, cached) instead of "
                   "showing the shipped one")
    p.add_argument("--epochs", type=at_least(1, MAX_EPOCHS), help="epochs for --train (default: 5)")
    p.add_argument("--port", type=port, default=8000, help="port on 127.0.0.1 (default: 8000; 0 = any free port)")
    p.add_argument("--data-dir", metavar="DIR", type=path_text,
                   help="folder with the IDX files (else $LATENTCRAFT_DATA_DIR, ...)")
    p.add_argument("--download", action="store_true", help="download MNIST if it is not found (checksummed)")
    p.add_argument("--data", metavar="PATH", type=path_text, help=f"with --run-dir: {RUN_DATA_HELP}")
    p.add_argument("--no-serve", action="store_true", help="export only, then print the site folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_demo(args: argparse.Namespace) -> None:
    from latentcraft.explorer.demo import DEMO_EPOCHS, DEMO_PAGE, demo_run, demo_site
    from latentcraft.explorer.serve import make_server, serve_forever
    from latentcraft.explorer.site_bundle import MANIFEST_FILE

    if args.epochs is not None and not args.train:
        raise UsageError("--epochs applies to --train only")
    if args.data and not args.run_dir:
        raise UsageError("--data applies to --run-dir only: it says where that run's data lives now")
    overrides = []
    if args.data_dir:
        overrides.append(f"data.data_dir={json.dumps(args.data_dir)}")
    if args.download:
        overrides.append("data.download=true")
    run_dir = demo_run(Path(args.run_dir) if args.run_dir else None, args.train, args.epochs or DEMO_EPOCHS,
                       overrides, progress=not args.no_progress)
    site = demo_site(run_dir, args.data_dir, args.download, args.data)
    if args.no_serve:
        print(f"site folder: {site}")
        return
    server = make_server(site, args.port, quiet=True)
    manifest = json.loads((site / MANIFEST_FILE).read_text())
    drawing = " or draw on the black pad" if manifest["features"].get("drawing") else ""
    print(f"Move the sliders, press 'Random {manifest.get('item', 'digit')}'{drawing}.")
    serve_forever(server, DEMO_PAGE)
