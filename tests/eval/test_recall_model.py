"""The shipped model under the recall protocol: its long-term memory must make the way back match the way out.

Measured with checkpoints/worldmem-tiny (2 given frames, covered pixels anchored to the map's render and a
1-pixel write-back margin, as the checkpoint samples; same-pose PSNR full minus working_only, 24 frames, 4 steps,
noise seeds 0-2): this test's case (room 1000001, arc-and-back) +7.55, +7.98, +6.97 dB; room 1000001
out-and-back +8.83, +9.20, +6.64; courtyards 1000000 / 1000002 arc-and-back +5.4 to +8.0 and +4.7 to +7.8,
out-and-back +3.2 to +5.1 and +4.0 to +6.9 dB. The margin, 1.5 dB, sits well inside what was measured on this
case: a checkpoint whose memory stops helping fails.
"""

from pathlib import Path

from eval.episodes import Episode, synthetic_episodes
from eval.revisit import _load_pipe
from eval.scoring import evaluate_episode
from worldmem.data.readers.synthetic import EVAL_SEEDS

CKPT = Path(__file__).resolve().parents[2] / "checkpoints" / "worldmem-tiny"
MARGIN_DB = 1.5


def test_full_memory_beats_the_working_window_on_same_pose_psnr():
    pipe = _load_pipe(CKPT)
    size = pipe.frame_size[0]
    episode: Episode = next(synthetic_episodes([EVAL_SEEDS.start + 1], ["arc-and-back"], 24, size, 2))
    entry, _ = evaluate_episode(pipe, episode, ["full", "working_only"], steps=4, noise_seed=0, min_gap=8,
                                min_covisibility=0.5, protocol="recall")
    assert entry["same_pose_pairs"] == [[2, 21], [3, 20], [4, 19], [5, 18], [6, 17], [7, 16]]
    full, work = (entry["variants"][v]["same_pose_psnr"] for v in ("full", "working_only"))
    assert full > work + MARGIN_DB, (full, work)
