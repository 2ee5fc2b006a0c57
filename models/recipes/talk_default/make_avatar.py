"""Build the shipped default avatar template (resources/avatars/default) from the
astronaut portrait: closed-lip resting mouth, subtle idle head motion and two blinks.

    /tmp/recipevenv/bin/python models/recipes/talk_default/make_avatar.py
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (AVATAR_DIR, FPS, apply_motion, base_face, blink, idle_motion,  # noqa: E402
                    motion_matrix, move_points, warp_mouth)

N_FRAMES = 125  # 5 s at 25 fps
BLINKS = (22, 87)  # frames where a blink starts
BLINK_SHAPE = (0.35, 0.85, 1.0, 0.8, 0.4, 0.1)


def blink_curve(n: int) -> np.ndarray:
    c = np.zeros(n)
    for s in BLINKS:
        for j, v in enumerate(BLINK_SHAPE):
            if s + j < n:
                c[s + j] = v
    return c


def motion_matrices(n: int = N_FRAMES) -> list[np.ndarray]:
    _, lm = base_face()
    centre = tuple(lm[1])  # rotate about the nose tip
    return [motion_matrix(m, centre) for m in idle_motion(n)]


def build(out: Path = AVATAR_DIR) -> None:
    from studio.talk.avatar import (AvatarTemplate, FramesWriter, crop_boxes_from_landmarks,
                                    write_template_meta)
    from studio.talk.face import landmark_boxes

    img, lm = base_face()
    rest = warp_mouth(img, lm, 0.0, 0.0, 0.0)
    mats = motion_matrices()
    blinks = blink_curve(N_FRAMES)
    tmp = out.with_name(out.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    writer = FramesWriter(tmp, FPS, "mp4", crf=12)
    lms = []
    for k in range(N_FRAMES):
        f = apply_motion(blink(rest, lm, blinks[k]), mats[k])
        writer.write(f)
        lms.append(move_points(lm, mats[k]))
    writer.close()
    lms = np.asarray(lms, np.float32)
    crops = crop_boxes_from_landmarks(lms, (img.shape[1], img.shape[0]))
    write_template_meta(tmp, fps=FPS, num_frames=N_FRAMES, width=img.shape[1], height=img.shape[0],
                        frames=writer.name, landmarks=lms, boxes=landmark_boxes(lms),
                        crop_boxes=crops, extra={
                            "name": "Astronaut (default)",
                            "source": {"file": "skimage.data.astronaut()",
                                       "credit": "Eileen Collins, NASA (public domain), via "
                                                 "scikit-image's sample data",
                                       "recipe": "models/recipes/talk_default/make_avatar.py"},
                            "synthetic": "closed-lip resting mouth warped from the photo; idle "
                                         "head motion and blinks are generated, landmarks are "
                                         "the photo's face mesh moved with the same transform"})
    AvatarTemplate.load(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"wrote {out}: {N_FRAMES} frames, crop box side {int(crops[0, 2] - crops[0, 0])} px")


if __name__ == "__main__":
    build()
