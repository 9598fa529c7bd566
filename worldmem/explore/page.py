"""The browser page of ``worldmem explore`` (viser: a web server with a prebuilt three.js client).

What it shows: the newest generated frame, large (a GUI image, played frame by frame as chunks arrive); the
map as a coloured point cloud that grows (one point-cloud node per chunk holding only that chunk's new points,
:mod:`~worldmem.explore.increments`); the camera path so far (one line node per chunk) and the current camera
as a frustum; the episodic keyframes as frusta with their images; on a toggle, the spatial render the model
read for the chunk; the chunk's latency line and the world's counters. What it takes: the move buttons and
their hotkeys (viser's command palette passes single keys, docs/explore.md), bookmarks, save, and a prompt box
when the pipeline has a text encoder. Scene nodes and GUI elements belong to the server, so every open tab
sees the same world, and closing a tab ends nothing.

The page never touches the world: the buttons call the actions it is given (which queue work for the worker),
and the worker hands it finished chunks (:meth:`Page.show_chunk`).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from worldmem.explore.planner import MOVES

__all__ = ["FRAME_PIXELS", "PLAY_FPS", "Page"]

FRAME_PIXELS = 288
"""The newest frame is shown this many pixels wide (nearest-neighbour upscaled)."""
PLAY_FPS = 16.0
"""Frames per second at which a chunk's frames are played; a backlog is skipped to the newest frame."""


def _image(frame: torch.Tensor, pixels: int = FRAME_PIXELS) -> np.ndarray:
    """(3, H, W) in [0, 1] -> (pixels', pixels', 3) uint8, upscaled by a whole factor."""
    img = (frame.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    factor = max(1, pixels // max(img.shape[:2]))
    return np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)


def _pose(camera) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(wxyz, position, vertical fov in radians, aspect) of one camera (OpenCV axes, as viser's frusta)."""
    world_from_cam = camera.world_from_cam.reshape(4, 4).double().numpy()
    x, y, z, w = Rotation.from_matrix(world_from_cam[:3, :3]).as_quat()
    fy = float(camera.K.reshape(3, 3)[1, 1])
    return np.array([w, x, y, z]), world_from_cam[:3, 3], 2.0 * np.arctan(camera.height / (2.0 * fy)), \
        camera.width / camera.height


class Page:
    """The viser server and everything on it.

    Args:
        server: a started ``viser.ViserServer``.
        actions: ``{"move": fn(name), "bookmark": fn(), "return": fn(), "save": fn(), "prompt": fn(text)}``.
        prompt: the current prompt when the pipeline has a text encoder (a prompt box is shown), else None.
        scale: scene units per normalised unit of the world (point and frustum sizes).
        up: (3,) the world's up direction.
    """

    def __init__(self, server, actions: dict[str, Callable], prompt: str | None, scale: float, up: np.ndarray):
        self.server, self.scale = server, scale
        self._keyframes: list[int] = []
        self._frames: queue.Queue = queue.Queue()
        gui = server.gui
        gui.configure_theme(control_width="large", show_share_button=False)
        server.scene.set_up_direction(tuple(float(v) for v in up))
        gui.add_markdown("**worldmem explore**: walk with the buttons or W A S D (move), Q E (turn), R F (up, "
                         "down); the map grows as the world is made.")
        self.frame = gui.add_image(np.zeros((FRAME_PIXELS, FRAME_PIXELS, 3), np.uint8), label="Newest frame",
                                   format="jpeg", jpeg_quality=92)
        self.status = gui.add_markdown("starting")
        self.latency = gui.add_markdown("")
        labels = {move.label: name for name, move in MOVES.items()}
        for title, names in (("Walk", ("forward", "back", "left", "right")),
                             ("Turn", ("turn-left", "turn-right", "up", "down"))):
            group = gui.add_button_group(title, [MOVES[name].label for name in names])
            group.on_click(lambda event: actions["move"](labels[event.target.value]))
        for name, move in MOVES.items():
            if move.key is not None:
                command = gui.add_command(f"Move: {move.label}", hotkey=move.key)
                command.on_trigger(lambda _event, name=name: actions["move"](name))
        gui.add_button_group("Bookmarks", ["Bookmark", "Go back to bookmark"]).on_click(
            lambda event: actions["bookmark" if event.target.value == "Bookmark" else "return"]())
        gui.add_button("Save world").on_click(lambda _event: actions["save"]())
        self.show_render = gui.add_checkbox("Show spatial render", initial_value=False)
        self.render = gui.add_image(np.zeros((FRAME_PIXELS, FRAME_PIXELS, 3), np.uint8),
                                    label="Spatial render the model read", format="jpeg", visible=False)
        self.show_render.on_update(lambda _event: setattr(self.render, "visible", self.show_render.value))
        if prompt is not None:
            box = gui.add_text("Prompt", initial_value=prompt)
            box.on_update(lambda _event: actions["prompt"](box.value))
        self._player = threading.Thread(target=self._play, name="explore-player", daemon=True)
        self._player.start()

    # ------------------------------------------------------------------ the frame, played
    def _play(self) -> None:
        while True:
            frame = self._frames.get()
            if frame is None:
                return
            while self._frames.qsize() > 8:  # far behind: jump to the newest frames
                frame = self._frames.get()
                if frame is None:
                    return
            self.frame.image = _image(frame)
            time.sleep(1.0 / PLAY_FPS)

    def close(self) -> None:
        """Stops playing (frames not yet shown are dropped)."""
        while not self._frames.empty():
            self._frames.get_nowait()
        self._frames.put(None)
        self._player.join(timeout=5)

    # ------------------------------------------------------------------ scene
    def _frustum(self, name: str, camera, color, size: float, image: np.ndarray | None = None) -> None:
        wxyz, position, fov, aspect = _pose(camera)
        self.server.scene.add_camera_frustum(name, fov=fov, aspect=aspect, scale=size, color=color, wxyz=wxyz,
                                             position=position, image=image, thickness=2.0, thickness_units="screen")

    def add_points(self, index: int, points: np.ndarray, colours: np.ndarray) -> None:
        """One map increment as its own node (``/map/NNNNN``)."""
        if len(points):
            self.server.scene.add_point_cloud(f"/map/{index:05d}", points, colours,
                                              point_size=0.008 * self.scale, point_shape="square")

    def add_path(self, index: int, cameras, previous) -> None:
        """The path segment of a chunk (from ``previous``, (1,) or None, through ``cameras``) as ``/path/NNNNN``."""
        centres = cameras.centers.double().numpy()
        if previous is not None:
            centres = np.concatenate([previous.centers.double().numpy(), centres])
        if len(centres) >= 2:
            segments = np.stack([centres[:-1], centres[1:]], axis=1).astype(np.float32)
            self.server.scene.add_line_segments(f"/path/{index:05d}", segments, colors=(230, 120, 20),
                                                thickness=2.0, thickness_units="screen")

    def set_current(self, camera, frame: torch.Tensor | None = None) -> None:
        """The current camera as a red frustum (showing ``frame``, (3, H, W), when given)."""
        self._frustum("/camera", camera, (220, 30, 30), 0.08 * self.scale,
                      image=None if frame is None else _image(frame, 64))

    def set_view(self, camera) -> None:
        """Where a newly opened page looks from: above and behind ``camera``, at what it sees."""
        world_from_cam = camera.world_from_cam.reshape(4, 4).double().numpy()
        centre, forward, up = world_from_cam[:3, 3], world_from_cam[:3, 2], -world_from_cam[:3, 1]
        initial = self.server.initial_camera
        initial.position = tuple(centre - 1.2 * self.scale * forward + 0.9 * self.scale * up)
        initial.look_at = tuple(centre + 0.6 * self.scale * forward)
        initial.up = tuple(up)

    def set_keyframes(self, indices: list[int], frames: torch.Tensor, cameras) -> None:
        """The episodic keyframes (global frame indices) as frusta with their images; redrawn when they change."""
        if indices == self._keyframes:
            return
        for old in set(self._keyframes) - set(indices):
            self.server.scene.remove_by_name(f"/keyframes/{old:05d}")
        for i in set(indices) - set(self._keyframes):
            self._frustum(f"/keyframes/{i:05d}", cameras[i:i + 1], (30, 90, 220), 0.06 * self.scale,
                          image=_image(frames[i], 64))
        self._keyframes = list(indices)

    def set_bookmarks(self, bookmarks: list) -> None:
        for i, camera in enumerate(bookmarks):
            self._frustum(f"/bookmarks/{i:03d}", camera, (30, 170, 60), 0.06 * self.scale)

    # ------------------------------------------------------------------ per chunk
    def show_frames(self, frames: torch.Tensor) -> None:
        """Queues (T, 3, H, W) frames to be played."""
        for frame in frames:
            self._frames.put(frame)

    def show_render_of(self, spatial: torch.Tensor | None) -> None:
        if spatial is not None:
            self.render.image = _image(spatial[-1])

    def set_status(self, text: str) -> None:
        self.status.content = text

    def set_latency(self, line: str) -> None:
        self.latency.content = "`" + line.replace(", ", "`, `") + "`"
