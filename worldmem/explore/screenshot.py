"""``python -m worldmem.explore.screenshot --out docs/images/explore.png``: a screenshot of the explorer's page.

Starts an explorer on a free port (the shipped tiny model, ``synthetic:0``), walks a few moves, turns the
spatial render on, opens the page in headless Chromium (:mod:`worldmem.explore.browser`) and writes the window
as a PNG. Needs ``pip install -e ".[explore]"`` and the OS packages ``chromium chromium-driver``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from worldmem.utils.cli_errors import ArgumentParser, UsageError, parse_command, run_command

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[2]
MOVES = "WQWQWWEW"


def run(args: argparse.Namespace) -> None:
    import imageio.v3 as iio

    from worldmem.explore import add_arguments
    from worldmem.explore.app import start_session
    from worldmem.explore.arguments import free_port
    from worldmem.explore.browser import dismiss_notifications, open_browser, screenshot, wait_for_button
    from worldmem.utils.io import atomic_write, output_file_problem

    problem = output_file_problem(args.out, ".png")
    if problem:
        raise UsageError(f"--out: {problem}")
    parser = ArgumentParser(prog="worldmem explore")
    add_arguments(parser)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        explore_args = parse_command(parser, ["--checkpoint", str(args.checkpoint), "--scene", args.scene, "--port",
                                              str(port), "--save-to", str(Path(tmp) / "world")])
        session = start_session(explore_args, [])
        try:
            session.queue_moves(MOVES)
            session.worker.wait()
            session.page.show_render.value = True
            session.page.render.visible = True
            driver = open_browser(f"http://127.0.0.1:{port}")
            try:
                wait_for_button(driver, "Forward", timeout=90)
                time.sleep(args.settle)  # software WebGL draws the point cloud slowly
                dismiss_notifications(driver)
                time.sleep(1.0)
                image = screenshot(driver)
            finally:
                driver.quit()
        finally:
            session.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, lambda path: iio.imwrite(path, image, extension=".png"), suffix=".png")
    print(f"wrote {args.out} ({image.shape[1]}x{image.shape[0]})")


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m worldmem.explore.screenshot", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "explore.png", help="the PNG to write")
    parser.add_argument("--checkpoint", type=Path, default=ROOT / "checkpoints" / "worldmem-tiny")
    parser.add_argument("--scene", default="synthetic:0")
    parser.add_argument("--settle", type=float, default=4.0, help="seconds the page draws before the screenshot")
    return run_command(parser, run, parse_command(parser, sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
