"""The chunk line: printed and parsed back, so scripts and the browser test can read it."""

from worldmem.explore.latency import STAGES, ChunkReport, parse_line


def test_line_round_trips_and_other_lines_are_not_chunks():
    report = ChunkReport(3, 14, 4, {"read": 0.012, "denoise": 0.15, "decode": 0.002, "depth": 0.005, "write": 0.02,
                                    "send": 0.008}, 0.2, 23456, 1234)
    line = report.line()
    assert line == ("chunk 3: frames 14-17, read 12 ms, denoise 150 ms, decode 2 ms, depth+align 5 ms, write 20 ms, "
                    "send 8 ms, total 200 ms, 20.0 fps, map 23,456 points (+1,234)")
    back = parse_line(line)
    assert (back.index, back.first, back.frames, back.map_points, back.new_points) == (3, 14, 4, 23456, 1234)
    assert back.stages == {key: report.stages[key] for key in STAGES} and back.total == 0.2
    assert parse_line("world: 2 frames, 0 chunks, map 3,600 points") is None


def test_lines_printed_from_two_threads_stay_whole(capfd):
    """The worker's thread and the main thread print at once (the compile notice and the 'serving' line); each
    line must come out whole, or a reader matching line starts misses it."""
    import threading

    from worldmem.explore.worker import say

    def speak(text):
        for _ in range(2000):
            say(text)

    threads = [threading.Thread(target=speak, args=(text,)) for text in ("worldmem explore: compiling ...",
                                                                         "worldmem explore: serving http://x")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = capfd.readouterr().out.splitlines()
    assert len(lines) == 4000
    assert set(lines) == {"worldmem explore: compiling ...", "worldmem explore: serving http://x"}
