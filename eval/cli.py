"""``python -m eval``: the revisit benchmark, its figures and the performance benchmarks.

    python -m eval revisit --checkpoint DIR --out DIR [...]     (eval/revisit.py; docs/evaluation.md)
    python -m eval plot-paths --out docs/paths.png [--seed S]    (eval/plot_paths.py; docs/paths.md)
    python -m eval scale-fit --out docs/scale_fit.png [--clips N]   (eval/scale_fit.py; docs/data.md)
    python -m eval strip --checkpoint DIR --out docs/recall_strip.png   (eval/strip.py; docs/evaluation.md)
    python -m eval bench NAME [--quick] [--repeats N] [--out PATH] [--checkpoint DIR]   (eval/bench/command.py)
    python -m eval bench gpu [--device cuda|cpu] [--tiny] [--config TRAIN_YAML]  (eval/bench/gpu.py)
    python -m eval bench explore [--quick] [--repeats N] [--checkpoint DIR]  (eval/bench/explore.py; docs/explore.md)
    python -m eval compare REPORT [REPORT ...] --out DIR             (eval/compare.py; docs/evaluation.md)
    python -m eval export --protocol P --out KIT [...]               (eval/kit/export.py; docs/evaluation.md)
    python -m eval score --kit KIT --videos DIR --out DIR [--name N] (eval/kit/score.py; docs/evaluation.md)

Every sub-command is built the same way (:mod:`worldmem.utils.cli_errors`): its module's ``add_arguments(parser)``
declares its flags (``python -m eval SUB --help`` lists them) and ``run(args)`` does the work, raising
:class:`~worldmem.utils.cli_errors.UsageError` for a bad input, which becomes one line ``python -m eval SUB:
error: ...`` and exit status 2 here. Each benchmark prints medians and same-run ratios and writes a json
(default ``outputs/bench/NAME.json``); ``bench all`` runs geometry, rollout and curation in turn and gathers them
into ``outputs/bench/bench.json``.
"""

from __future__ import annotations

from eval import compare, plot_paths, revisit, scale_fit, strip
from eval.bench import command as bench
from eval.kit import export, score
from worldmem.utils.cli_errors import ArgumentParser, run_command, take_overrides

__all__ = ["SUBCOMMANDS", "main"]

SUBCOMMANDS = {
    "revisit": (revisit, "revisit-consistency benchmark (ablations, report, videos)"),
    "plot-paths": (plot_paths, "top-down plot of every registry camera path in a synthetic scene"),
    "scale-fit": (scale_fit, "how well the cameras fix a depth estimator's scale (synthetic clips)"),
    "strip": (strip, "the view-recall figure: way out above the same cameras on the way back"),
    "bench": (bench, "performance benchmarks (medians, same-run ratios)"),
    "compare": (compare, "several models' revisit reports in one ranked table (report.md, report.html)"),
    "export": (export, "the benchmark kit: a protocol's episodes as files any model can run"),
    "score": (score, "scores any model's videos of a kit (the report of eval revisit)"),
}
"""Sub-command -> (its module, with ``add_arguments`` and ``run``; its one-line help)."""


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m eval")
    sub = parser.add_subparsers(dest="command", required=True)
    parsers = {}
    for name, (module, summary) in SUBCOMMANDS.items():
        parsers[name] = sub.add_parser(name, help=summary, description=module.__doc__.split("\n\n")[0])
        module.add_arguments(parsers[name])
    args, extra = parser.parse_known_args(argv)
    take_overrides(parsers[args.command], args, extra)
    return run_command(parsers[args.command], SUBCOMMANDS[args.command][0].run, args)
