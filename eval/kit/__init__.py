"""The benchmark kit: the revisit benchmark's episodes as files, so that any model can be scored.

``python -m eval export`` (:mod:`eval.kit.export`) writes a kit; a model reads it and writes one video per
episode; ``python -m eval score`` (:mod:`eval.kit.score`) regenerates the truth, checks the videos and scores
them with the code of ``python -m eval revisit`` (:func:`eval.scoring.plan_episode`,
:func:`~eval.scoring.score_variant`, :func:`~eval.scoring.scene_entry`). The layout (:mod:`eval.kit.layout`;
docs/evaluation.md, "Scoring any model: the kit")::

    KIT/episodes.json              the protocol, its settings and seeds, the episode list (written last: the marker)
    KIT/<id>/given/00000.png ...   the given frames (8-bit RGB)
    KIT/<id>/given.npy             the same frames, (C, H, W, 3) float32 in [0, 1] (exact: what eval revisit gives)
    KIT/<id>/given_depth.npy       (C, H, W) float32 z-depth of the given frames, 0 = unknown
    KIT/<id>/cameras.json          every frame's camera (Cameras.to_dict: OpenCV cam_from_world, K in pixels)
    KIT/<id>/cameras.txt           the same cameras as RealEstate10K rows (Cameras.to_realestate10k)

    VIDEOS/<id>.mp4, VIDEOS/<id>/00000.png ... or VIDEOS/<id>.npy ((T, H, W, 3) float in [0, 1], lossless):
                                                      every frame of the episode, given ones included
    VIDEOS/<id>_depth.npy                             optional (T, H, W) float32 z-depth, 0 = unknown

The truth (the frames after the given ones, all depth) is never in the kit.
"""
