"""The ``worldmem`` command: one sub-command per module, each built the same way (:mod:`worldmem.utils.cli_errors`).

    worldmem generate ...   a long camera-controlled video from a trained pipeline (:mod:`worldmem.generate`)
    worldmem demo ...       the memory demo on the synthetic world (:mod:`worldmem.demo`; ``make demo``)
    worldmem explore ...    walk a generated world in the browser (:mod:`worldmem.explore`; ``make explore``)

``worldmem COMMAND --help`` lists that command's options. A bad input is one line ``worldmem COMMAND: error:
...`` and exit status 2.
"""

from __future__ import annotations

import sys

from worldmem.utils.cli_errors import ArgumentParser, run_command, take_overrides

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    from worldmem import demo, explore, generate

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = ArgumentParser(prog="worldmem", description="worldmem command line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands = {"generate": sub.add_parser("generate", help="a long camera-controlled video from a trained pipeline",
                                           description=generate.DESCRIPTION),
                "demo": sub.add_parser("demo", help="the memory demo on the synthetic world (make demo)",
                                       description=demo.DESCRIPTION),
                "explore": sub.add_parser("explore", help="walk a generated world in the browser (make explore)",
                                          description=explore.DESCRIPTION)}
    generate.add_arguments(commands["generate"])
    demo.add_arguments(commands["demo"])
    explore.add_arguments(commands["explore"])
    args, extra = parser.parse_known_args(argv)
    command = commands[args.command]
    take_overrides(command, args, extra)
    if args.command == "generate":  # run.json records the command line after `generate`
        return run_command(command, lambda parsed: generate.run(parsed, argv[argv.index("generate") + 1:]), args)
    if args.command == "explore":  # a saved world's run.json records the command line after `explore`
        return run_command(command, lambda parsed: explore.run(parsed, argv[argv.index("explore") + 1:]), args)
    return run_command(command, demo.run, args)


if __name__ == "__main__":
    sys.exit(main())
