"""Shared pieces of the default talk recipe: the astronaut base face, the mouth/eyelid warps,
espeak-ng speech with phoneme timings, sentence generation and audio augmentation.

Run with the recipe venv (torch==2.13.0, scikit-image, plus this project installed with
``pip install -e . --no-deps``); never imported by the app.
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[3]
AVATAR_DIR = ROOT / "resources" / "avatars" / "default"
MODELS_OUT = ROOT / "models" / "talk_default"
WORK = Path("/tmp/talk_default_work")

SIZE = 512               # template frame side
CROP = (8, 96, 256)      # y0, x0, side of the astronaut crop (then 2x Lanczos)
FPS = 25

# MediaPipe mesh indices
INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
LEFT_EYE = dict(corners=(33, 133), top=(246, 161, 160, 159, 158, 157, 173),
                bottom=(7, 163, 144, 145, 153, 154, 155))
RIGHT_EYE = dict(corners=(362, 263), top=(398, 384, 385, 386, 387, 388, 466),
                 bottom=(382, 381, 380, 374, 373, 390, 249))


# --- the base face ---------------------------------------------------------------------------

@lru_cache(maxsize=1)
def base_face() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut portrait (scikit-image, NASA, public domain) cropped around the head and
    upscaled 2x to 512x512 RGB, and its 468 face-mesh landmarks (x, y)."""
    from skimage import data

    from studio.talk.face import FaceDetector, FaceMesh

    y0, x0, s = CROP
    im = data.astronaut()[y0:y0 + s, x0:x0 + s]
    big = cv2.resize(im, (SIZE, SIZE), interpolation=cv2.INTER_LANCZOS4)
    # gentle unsharp mask against the upscale softness
    blur = cv2.GaussianBlur(big, (0, 0), 1.2)
    big = cv2.addWeighted(big, 1.35, blur, -0.35, 0)
    det = FaceDetector().detect(big)[0]
    mesh = FaceMesh()
    r = mesh.run(big, mesh.roi_from_detection(det))
    r = mesh.run(big, mesh.roi_from_landmarks(r.landmarks))
    return big, r.landmarks[:, :2].astype(np.float64)


def _line(lm: np.ndarray, idx, xs: np.ndarray) -> np.ndarray:
    p = lm[list(idx)]
    order = np.argsort(p[:, 0])
    return np.interp(xs, p[order, 0], p[order, 1])


@dataclass(frozen=True)
class MouthGeom:
    cx: float
    my: float
    hw: float          # half mouth width
    chin: float
    x_lo: int
    x_hi: int
    y_lo: int
    y_hi: int


def mouth_geom(lm: np.ndarray) -> MouthGeom:
    l, r = lm[61], lm[291]
    cx = (l[0] + r[0]) / 2
    hw = (r[0] - l[0]) / 2
    my = (lm[13, 1] + lm[14, 1]) / 2
    chin = lm[152, 1]
    return MouthGeom(cx, my, hw, chin, int(cx - 2.6 * hw), int(cx + 2.6 * hw) + 1,
                     int(my - 1.9 * hw), int(chin + 1.4 * hw) + 1)


def warp_mouth(img: np.ndarray, lm: np.ndarray, o: float, w: float, r: float) -> np.ndarray:
    """The face with its mouth set to openness ``o`` (0 closed .. 1 wide open), width ``w``
    (-1 narrow .. 1 spread) and rounding ``r`` (0..1): a per-column piecewise-linear remap of
    the lips, jaw and chin, real teeth from the source, and a shaded inner mouth."""
    g = mouth_geom(lm)
    H, W = img.shape[:2]
    x_lo, x_hi = max(0, g.x_lo), min(W, g.x_hi)
    y_lo, y_hi = max(0, g.y_lo), min(H, g.y_hi)
    ys, xs = np.mgrid[y_lo:y_hi, x_lo:x_hi].astype(np.float64)
    # horizontal: spread / narrow the mouth, fading out away from it
    sw = 1.0 + 0.10 * w - 0.22 * r
    fall = np.exp(-((xs - g.cx) / (1.3 * g.hw)) ** 2 - ((ys - g.my) / (0.8 * g.hw)) ** 2)
    src_x = xs + (g.cx + (xs - g.cx) / sw - xs) * fall
    # per-column lip lines at the source columns
    t = _line(lm, INNER_UPPER, src_x)
    b = _line(lm, INNER_LOWER, src_x)
    u = (src_x - g.cx) / g.hw
    inside = np.abs(u) < 1.0
    t = np.where(inside, t, (t + b) / 2)
    b = np.where(inside, b, (t + b) / 2)
    m = (t + b) / 2
    prof = np.clip(1.0 - u * u, 0.0, 1.0) ** (0.55 + 0.25 * r)
    G = 0.9 * g.hw * o
    gap = G * prof
    t_out = m - 0.28 * gap
    b_out = m + 0.72 * gap
    jaw = 0.72 * G * np.exp(-(u / 2.4) ** 2)
    lip_th = 0.42 * g.hw
    U = 0.75 * g.hw
    neck = 1.2 * g.hw
    src_y = ys.copy()
    # above the gap: upper lip follows its inner edge, fading to the nose
    up = ys <= t_out
    a = np.clip((ys - (t - U)) / np.maximum(t_out - (t - U), 1e-6), 0.0, 1.0)
    src_y = np.where(up & (ys > t - U), (t - U) + a * U, src_y)
    # below the gap: lower lip, chin (moves with the jaw), neck (compressed)
    low = ys >= b_out
    y1 = b_out + lip_th              # bottom of the lower lip, output
    s1 = b + lip_th
    y2 = g.chin + jaw
    y3 = g.chin + neck
    seg1 = low & (ys < y1)
    seg2 = low & (ys >= y1) & (ys < y2)
    seg3 = low & (ys >= y2) & (ys < y3)
    src_y = np.where(seg1, b + (ys - b_out), src_y)
    src_y = np.where(seg2, s1 + (ys - y1) * (g.chin - s1) / np.maximum(y2 - y1, 1e-6), src_y)
    src_y = np.where(seg3, g.chin + (ys - y2) * neck / np.maximum(y3 - y2, 1e-6), src_y)
    # remap only the patch (pixel centres on integer coordinates on both sides)
    out = img.copy()
    out[y_lo:y_hi, x_lo:x_hi] = cv2.remap(img, src_x.astype(np.float32), src_y.astype(np.float32),
                                          cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    # the opening: real upper teeth (from the source band between the lips), then darkness
    gapmask = np.clip(ys - t_out + 0.5, 0, 1) * np.clip(b_out - ys + 0.5, 0, 1)
    gapmask *= (gap > 0.3)
    if gapmask.any():
        teeth_h = np.maximum(b - t, 1.0) * (1.0 - 0.55 * r)
        dy = ys - t_out
        teeth_src_y = t + np.clip(dy, 0, None)
        teeth = cv2.remap(img, src_x.astype(np.float32), teeth_src_y.astype(np.float32),
                          cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT).astype(np.float32)
        # inner mouth: dark red, a little lighter low in the middle (tongue)
        depth = np.clip((ys - t_out) / np.maximum(gap, 1.0), 0, 1)
        centre = np.clip(1 - u * u, 0, 1)
        base = np.stack([38 + 55 * depth * centre, 14 + 18 * depth * centre,
                         16 + 18 * depth * centre], axis=-1)
        shade = 0.55 + 0.45 * centre
        inner = base * shade[..., None]
        tw = np.clip((teeth_h - dy) / 1.5, 0, 1) * np.clip(1.2 - np.abs(u), 0, 1) ** 0.5
        tw *= 0.92 * (1 - 0.25 * depth)
        # teeth shadowed by the upper lip at the top edge
        tshade = 0.75 + 0.25 * np.clip(dy / 3.0, 0, 1)
        col = teeth * tshade[..., None] * tw[..., None] + inner * (1 - tw[..., None])
        # soften the inner edges a touch (anti-aliasing)
        gm = cv2.GaussianBlur(gapmask.astype(np.float32), (0, 0), 0.7)[..., None]
        patch = out[y_lo:y_hi, x_lo:x_hi].astype(np.float32)
        out[y_lo:y_hi, x_lo:x_hi] = np.clip(patch * (1 - gm) + col * gm + 0.5, 0, 255).astype(np.uint8)
    return out


def blink(img: np.ndarray, lm: np.ndarray, c: float) -> np.ndarray:
    """Close both eyelids by ``c`` (0 open .. 1 shut): stretch the upper lid down over the eye."""
    if c <= 1e-3:
        return img
    H, W = img.shape[:2]
    out = img
    for eye in (LEFT_EYE, RIGHT_EYE):
        (ax, _), (bx, _) = lm[eye["corners"][0]], lm[eye["corners"][1]]
        x0, x1 = min(ax, bx), max(ax, bx)
        ew = x1 - x0
        ylo = int(lm[list(eye["top"]), 1].min() - 0.55 * ew)
        yhi = int(lm[list(eye["bottom"]), 1].max() + 0.15 * ew) + 1
        xlo, xhi = int(x0 - 0.25 * ew), int(x1 + 0.25 * ew) + 1
        ys, xs = np.mgrid[ylo:yhi, xlo:xhi].astype(np.float64)
        top = _line(lm, eye["top"], xs)
        bot = _line(lm, eye["bottom"], xs)
        u = (xs - (x0 + x1) / 2) / (ew / 2)
        cc = c * np.clip(1 - u * u, 0, 1) ** 0.5
        newtop = top + cc * (bot - top) * 0.92
        E = 0.45 * ew
        src = ys.copy()
        seg1 = (ys > top - E) & (ys <= newtop)
        src = np.where(seg1, (top - E) + (ys - (top - E)) * E / np.maximum(newtop - (top - E), 1e-6), src)
        seg2 = (ys > newtop) & (ys < bot)
        src = np.where(seg2, top + (ys - newtop) * (bot - top) / np.maximum(bot - newtop, 1e-6), src)
        mx = np.tile(np.arange(W, dtype=np.float32), (H, 1))
        my = np.tile(np.arange(H, dtype=np.float32)[:, None], (1, W))
        my[ylo:yhi, xlo:xhi] = src
        out = cv2.remap(out, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        # lash line: darken slightly where the lid edge is when closed
        if c > 0.5:
            line = np.exp(-((ys - newtop) / 1.2) ** 2) * np.clip(1 - u * u, 0, 1) * (c - 0.5) * 0.8
            patch = out[ylo:yhi, xlo:xhi].astype(np.float32)
            out[ylo:yhi, xlo:xhi] = np.clip(patch * (1 - 0.6 * line[..., None]), 0, 255).astype(np.uint8)
    return out


# --- idle head motion ------------------------------------------------------------------------

def idle_motion(n: int, seed: int = 7) -> np.ndarray:
    """(n, 4) smooth head motion per frame: dx, dy (px), angle (deg), scale. Built from
    cosines with zero slope at both ends, so ping-pong playback turns round smoothly."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / max(n - 1, 1)
    out = np.zeros((n, 4))
    amps = [(3.0, 2.0), (2.0, 1.5), (1.2, 0.9), (0.012, 0.006)]
    for j, (a1, a2) in enumerate(amps):
        for k, a in ((1, a1), (2, a2), (3, a2 * 0.5)):
            out[:, j] += a * rng.uniform(-1, 1) * np.cos(math.pi * k * t)
    out[:, 3] += 1.0
    return out


def motion_matrix(mot: np.ndarray, center: tuple[float, float]) -> np.ndarray:
    dx, dy, ang, sc = mot
    M = cv2.getRotationMatrix2D(center, float(ang), float(sc))
    M[0, 2] += dx
    M[1, 2] += dy
    return M


def apply_motion(img: np.ndarray, M: np.ndarray) -> np.ndarray:
    return cv2.warpAffine(img, M, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


def move_points(pts: np.ndarray, M: np.ndarray) -> np.ndarray:
    return pts @ M[:, :2].T + M[:, 2]


# --- speech --------------------------------------------------------------------------------

class _EvId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EvId)]


_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                       ctypes.POINTER(_Event))


class Espeak:
    """espeak-ng through its C library: synthesise text, return 16 kHz audio and the phoneme
    events (start time in seconds, espeak mnemonic)."""

    def __init__(self) -> None:
        self.lib = ctypes.CDLL("libespeak-ng.so.1")
        self.sr = self.lib.espeak_Initialize(2, 0, None, 1)  # synchronous, phoneme events
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, str]] = []
        self._cb = _CB(self._callback)
        self.lib.espeak_SetSynthCallback(self._cb)

    def _callback(self, wav, n, ev) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        i = 0
        while ev[i].type != 0:
            if ev[i].type == 7:
                self._events.append((ev[i].sample, ev[i].id.string.decode("latin-1")))
            i += 1
        return 0

    def say(self, text: str, voice: str = "en-us", rate: int = 170, pitch: int = 50,
            rng_range: int = 50):
        self._chunks, self._events = [], []
        self.lib.espeak_SetVoiceByName(voice.encode())
        self.lib.espeak_SetParameter(1, int(rate), 0)
        self.lib.espeak_SetParameter(3, int(pitch), 0)
        self.lib.espeak_SetParameter(4, int(rng_range), 0)
        t = text.encode()
        self.lib.espeak_Synth(t, len(t) + 1, 0, 0, 0, 0, None, None)
        self.lib.espeak_Synchronize()
        wav = (np.concatenate(self._chunks).astype(np.float32) / 32768.0 if self._chunks
               else np.zeros(1, np.float32))
        import soxr
        wav16 = soxr.resample(wav, self.sr, 16000).astype(np.float32)
        events = [(s / self.sr, name) for s, name in self._events]
        return wav16, events


HARVARD = """The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background.
It's easy to tell the depth of a well. These days a chicken leg is a rare dish.
Rice is often served in round bowls. The juice of lemons makes fine punch.
The box was thrown beside the parked truck. The hogs were fed chopped corn and garbage.
Four hours of steady work faced us. A large size in stockings is hard to sell.
The boy was there when the sun rose. A rod is used to catch pink salmon.
The source of the huge river is the clear spring. Kick the ball straight and follow through.
Help the woman get back to her feet. A pot of tea helps to pass the evening.
Smoky fires lack flame and heat. The soft cushion broke the man's fall.
The salt breeze came across from the sea. The girl at the booth sold fifty bonds.
The small pup gnawed a hole in the sock. The fish twisted and turned on the bent hook.
Press the pants and sew a button on the vest. The swan dive was far short of perfect.
The beauty of the view stunned the young boy. Two blue fish swam in the tank.
Her purse was full of useless trash. The colt reared and threw the tall rider.
It snowed, rained, and hailed the same morning. Read verse out loud for pleasure.
Hoist the load to your left shoulder. Take the winding path to reach the lake.
Note closely the size of the gas tank. Wipe the grease off his dirty face.
Mend the coat before you go out. The wrist was badly strained and hung limp.
The stray cat gave birth to kittens. The young girl gave no clear response.
The meal was cooked before the bell rang. What joy there is in living.""".split(". ")

WORDS = ("apple banana morning evening window paper mother father open close bright dark "
         "happy quickly people water music moment garden market river mountain silver golden "
         "simple common number yellow purple orange family animal because between picture "
         "question answer problem station weather machine pocket bottle button marble pebble "
         "bubble mumble umbrella elephant tomorrow yesterday afternoon beautiful wonderful "
         "remember believe explain arrive decide improve measure pleasure treasure voice "
         "choice noise boy toy joy round sound loud cloud about house mouse out now how wow "
         "blue shoe moon soon food room who you true cool pool fool see me tree free key "
         "speak week cheese please sleep bat cat hat map man plan hand stand land car far "
         "star hard park art bob pop mop top hot lot dog fog log ball call fall walk talk "
         "saw law paw thought bought caught she shop ship fish wish push chip chin cheap "
         "judge jump job young yes yard zero zoo very vine five love of van fun fan fine "
         "thin think three that this then they there the with both bath").split()
TEMPLATES = ["{} {} {}.", "please {} the {} {}.", "I said {} and {}.", "the {} is {}.",
             "we {} {} and {} again.", "{}, {}, {}.", "do you {} my {}?",
             "{} {} {} {} {}.", "maybe the {} will {} {}.", "oh {}! {} {}."]


def sentences(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    harvard = [s.strip().rstrip(".") + "." for s in HARVARD if s.strip()]
    out = []
    for i in range(n):
        if rng.random() < 0.45:
            k = rng.integers(1, 3)
            out.append(" ".join(rng.choice(harvard, k, replace=False)))
        else:
            tpl = TEMPLATES[rng.integers(len(TEMPLATES))]
            words = rng.choice(WORDS, tpl.count("{}"))
            out.append(tpl.format(*words))
    return out


VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
          "en-gb-x-gbcwmd", "en-029"]
VARIANTS = ["", "+m1", "+m2", "+m3", "+m4", "+m5", "+m6", "+m7", "+f1", "+f2", "+f3", "+f4",
            "+klatt", "+klatt2", "+klatt3"]
HELD_OUT_VOICES = ["en-us+f5", "en-gb-x-rp+m8", "en-gb-scotland+f3"]


def reverb(x: np.ndarray, rng, sr: int = 16000) -> np.ndarray:
    rt60 = rng.uniform(0.15, 0.6)
    n = int(sr * rt60)
    t = np.arange(n) / sr
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    ir[0] = 1.0 / rng.uniform(0.15, 0.6)
    ir /= np.sqrt((ir ** 2).sum())
    from scipy.signal import fftconvolve
    y = fftconvolve(x, ir)[:len(x)]
    return (y / (np.abs(y).max() + 1e-6) * np.abs(x).max()).astype(np.float32)


def augment(x: np.ndarray, rng) -> np.ndarray:
    """Gain, EQ tilt, room reverb, background noise (white/pink/brown hum) at 5-45 dB SNR."""
    from scipy.signal import lfilter
    y = x.astype(np.float64)
    if rng.random() < 0.5:
        y = reverb(y, rng)
    if rng.random() < 0.6:  # tilt: one-pole low- or high-pass blend
        a = rng.uniform(0.3, 0.95)
        lp = lfilter([1 - a], [1, -a], y)
        y = y + rng.uniform(-0.7, 0.7) * (lp - y) if rng.random() < 0.5 else 0.5 * y + 0.5 * lp * rng.uniform(0.5, 1.5)
    y = y / (np.abs(y).max() + 1e-9) * rng.uniform(0.05, 0.9)
    if rng.random() < 0.85:
        kind = rng.integers(3)
        nz = rng.standard_normal(len(y))
        if kind == 1:
            nz = lfilter([1], [1, -0.97], nz)
        elif kind == 2:
            nz = lfilter([1], [1, -0.995], nz)
        snr = rng.uniform(5, 45)
        p_sig = np.mean(y ** 2) + 1e-12
        nz *= np.sqrt(p_sig / (np.mean(nz ** 2) + 1e-12) / 10 ** (snr / 10))
        y = y + nz
    return np.clip(y, -1, 1).astype(np.float32)
