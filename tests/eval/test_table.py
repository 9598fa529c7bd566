"""eval.table: one Table rendered as text, Markdown and HTML; metric_table's formats and best cells."""

import math

import pytest

from eval.table import Column, Link, Table, metric_table

ROWS = {"full": {"psnr": 24.0, "lpips": 0.2, "sharp": 0.9},
        "working_only": {"psnr": 21.5, "lpips": 0.1, "sharp": 1.2},
        "oracle": {"psnr": None, "lpips": math.nan, "sharp": 1.05}}
COLUMNS = [Column("psnr", "PSNR (dB)"), Column("lpips", "LPIPS", "{:.3f}", "min"), Column("sharp", "sharp", "{:.3f}", "one")]


def test_metric_table_formats_and_marks_the_best_by_each_rule():
    table = metric_table("variant", ROWS, COLUMNS)
    assert table.header == ["variant", "PSNR (dB)", "LPIPS", "sharp"]
    assert table.rows == [["full", "24.00", "0.200", "0.900"], ["working_only", "21.50", "0.100", "1.200"],
                          ["oracle", "n/a", "n/a", "1.050"]]
    # max for PSNR, min for LPIPS (NaN counts as missing), nearest 1 for the ratio; the name column never bold
    assert table.bold == [[False, True, False, False], [False, False, True, False], [False, False, False, True]]
    single = metric_table("variant", {"full": {"psnr": 24.0}, "other": {"psnr": None}}, COLUMNS[:1])
    assert single.bold == [[False, False], [False, False]]  # one value is no contest


def test_text_markdown_and_html_render_the_same_cells():
    table = Table(["scene", "frames", "video"], [["a<b", "12", Link("mp4", "videos/a b.mp4")], ["c", "3", ""]],
                  [[False, True, False], [False, False, False]])
    assert table.text().split("\n") == ["scene  frames           video",
                                        "-----  ------  --------------",
                                        "a<b        12  videos/a b.mp4",
                                        "c           3                "]  # names left, the rest right-aligned
    assert table.markdown().splitlines() == ["| scene | frames | video |", "|---|---|---|",
                                             "| a<b | **12** | [mp4](videos/a b.mp4) |", "| c | 3 |  |"]
    assert table.html() == ("<table><tr><th>scene</th><th>frames</th><th>video</th></tr>\n"
                            '<tr><td>a&lt;b</td><td><b>12</b></td><td><a href="videos/a b.mp4">mp4</a></td></tr>\n'
                            "<tr><td>c</td><td>3</td><td></td></tr>\n</table>")


def test_a_column_names_its_best_rule():
    with pytest.raises(ValueError, match=r"^best: expected one of max, min, one, got 'highest'$"):
        Column("psnr", "PSNR", best="highest")
