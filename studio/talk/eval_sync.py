"""Lip-sync accuracy: how far the mouth in rendered pixels follows the speech.

Two halves, compared per video frame:

* **Phone-implied mouth shape.** Phone timings (ARPAbet ``*.phone.json`` from pocketsphinx,
  or an IPA phone tier of a Praat TextGrid) become per-frame mouth targets (openness, width,
  rounding) through a viseme table and a coarticulation model (dominance functions with
  anticipation: bilabials and silence dominate, so lips really close on /p b m/ and in
  pauses). The default lip-sync models were trained on exactly these targets (rendered from
  espeak-ng phoneme timings), so the same module serves the training recipe and the check.
* **Mouth opening measured from the output pixels.** Inside a mouth region placed by the
  template's face-mesh landmarks, the pixels that are inner mouth (dark) or teeth (bright,
  unsaturated, unlike lips and skin) are counted and normalised by the mouth width squared.
  Nothing of the model is consulted: only the rendered frames.
  :class:`FaceMeshGap` reads the same frames with the face mesh instead (inner-lip
  distance over the eye distance), a second opinion that does not depend on colours.

:func:`pearson` of the two gives the headline number; :func:`silence_vowel_checks` checks
that the mouth is closed in pauses and open on vowels.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# (openness 0..1, width -1..1 (spread +), rounding 0..1) per ARPAbet phone (stress stripped).
VISEMES: dict[str, tuple[float, float, float]] = {
    "AA": (1.00, 0.10, 0.00), "AE": (0.85, 0.45, 0.00), "AH": (0.70, 0.15, 0.00),
    "AO": (0.80, -0.20, 0.55), "AW": (0.90, 0.00, 0.30), "AY": (0.90, 0.30, 0.00),
    "EH": (0.65, 0.45, 0.00), "ER": (0.45, -0.10, 0.45), "EY": (0.55, 0.55, 0.00),
    "IH": (0.45, 0.55, 0.00), "IY": (0.35, 0.70, 0.00), "OW": (0.70, -0.30, 0.75),
    "OY": (0.70, -0.20, 0.60), "UH": (0.45, -0.30, 0.70), "UW": (0.30, -0.50, 0.95),
    "AX": (0.55, 0.10, 0.00), "IX": (0.40, 0.40, 0.00),
    "P": (0.00, 0.00, 0.00), "B": (0.00, 0.00, 0.00), "M": (0.00, 0.00, 0.00),
    "F": (0.12, 0.10, 0.00), "V": (0.12, 0.10, 0.00),
    "TH": (0.25, 0.20, 0.00), "DH": (0.25, 0.20, 0.00),
    "T": (0.25, 0.25, 0.00), "D": (0.25, 0.25, 0.00), "N": (0.25, 0.20, 0.00),
    "L": (0.30, 0.20, 0.00), "S": (0.20, 0.40, 0.00), "Z": (0.20, 0.40, 0.00),
    "SH": (0.25, -0.20, 0.60), "ZH": (0.25, -0.20, 0.60), "CH": (0.25, -0.20, 0.60),
    "JH": (0.25, -0.20, 0.60), "K": (0.35, 0.10, 0.00), "G": (0.35, 0.10, 0.00),
    "NG": (0.30, 0.10, 0.00), "HH": (0.45, 0.10, 0.00), "R": (0.30, -0.20, 0.45),
    "W": (0.15, -0.50, 0.90), "Y": (0.25, 0.40, 0.00),
    "SIL": (0.00, 0.00, 0.00),
}
# How strongly a phone pulls the trajectory towards its own openness (closures must win).
DOMINANCE = {"P": 3.0, "B": 3.0, "M": 3.0, "F": 1.8, "V": 1.8, "SIL": 2.5, "W": 1.5,
             "UW": 1.3, "OW": 1.2}
VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH",
          "UW", "AX", "IX"}
OPEN_VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY", "EH"}
SILENCES = {"SIL", "SP", "SPN", "", "<SIL>", "NSN", "+NSN+", "+SPN+", "PAU"}

# espeak-ng English phoneme mnemonics -> ARPAbet (diphthongs split in two halves).
ESPEAK = {
    "a": "AE", "aa": "AA", "A:": "AA", "A@": "AA", "A": "AA", "0": "AA", "V": "AH", "@": "AX",
    "@2": "AX", "@5": "AX", "@L": "AX", "3": "ER", "3:": "ER", "e": "EH", "E": "EH", "e@": "EH",
    "i": "IY", "i:": "IY", "i@": "IH", "i@3": "IH", "I": "IH", "I2": "IH", "I#": "IX", "IR": "IH",
    "O": "AO", "O:": "AO", "O@": "AO", "o@": "AO", "o": "OW", "u:": "UW", "u": "UW", "U": "UH",
    "U@": "UH", "a#": "AX", "aI": "AA+IH", "aI@": "AA+IH", "aI3": "AA+IH", "aU": "AA+UH",
    "aU@": "AA+UH", "eI": "EH+IH", "oU": "OW+UH", "OI": "AO+IH", "@U": "AX+UH",
    "p": "P", "b": "B", "m": "M", "f": "F", "v": "V", "T": "TH", "D": "DH", "t": "T", "d": "D",
    "n": "N", "l": "L", "s": "S", "z": "Z", "S": "SH", "Z": "ZH", "tS": "CH", "dZ": "JH",
    "k": "K", "g": "G", "N": "NG", "h": "HH", "r": "R", "r-": "R", "w": "W", "j": "Y",
    "t#": "T", "d#": "D", "n-": "N", "l/": "L", "L": "L", "?": "T", "x": "HH", "_": "SIL",
    "_:": "SIL", "_!": "SIL", "_|": "SIL",
}

# IPA symbols (praatIO TextGrid tiers) -> ARPAbet.
IPA = {
    "ɑ": "AA", "a": "AA", "æ": "AE", "ʌ": "AH", "ə": "AX", "ɚ": "ER", "ɝ": "ER", "ɔ": "AO",
    "ɛ": "EH", "e": "EY", "ɪ": "IH", "i": "IY", "o": "OW", "ʊ": "UH", "u": "UW", "ɒ": "AA",
    "p": "P", "b": "B", "m": "M", "f": "F", "v": "V", "θ": "TH", "ð": "DH", "t": "T", "d": "D",
    "n": "N", "l": "L", "ɫ": "L", "s": "S", "z": "Z", "ʃ": "SH", "ʒ": "ZH", "tʃ": "CH",
    "dʒ": "JH", "k": "K", "g": "G", "ɡ": "G", "ŋ": "NG", "h": "HH", "ɹ": "R", "r": "R",
    "ɾ": "D", "w": "W", "j": "Y", "ʔ": "T", "aɪ": "AA+IH", "aʊ": "AA+UH", "eɪ": "EH+IH",
    "oʊ": "OW+UH", "ɔɪ": "AO+IH",
}


@dataclass(frozen=True)
class Phone:
    start: float
    end: float
    label: str   # ARPAbet, stress digits stripped ("SIL" for pauses)


def arpabet(label: str) -> str:
    """Normalise an ARPAbet label: strip stress digits and alternates; pauses -> SIL."""
    s = re.sub(r"\d", "", str(label).strip().upper())
    s = s.split("(")[0]
    return "SIL" if s in SILENCES or s not in VISEMES else s


def _split(start: float, end: float, mapped: str) -> list[Phone]:
    parts = mapped.split("+")
    if len(parts) == 1:
        return [Phone(start, end, parts[0])]
    mid = start + 0.5 * (end - start)
    return [Phone(start, mid, parts[0]), Phone(mid, end, parts[1])]


def from_espeak(events: list[tuple[float, str]], total: float) -> list[Phone]:
    """espeak-ng phoneme events (start time in s, mnemonic) -> phones (each ends where the
    next starts; the last at ``total``)."""
    out: list[Phone] = []
    for i, (t, name) in enumerate(events):
        end = events[i + 1][0] if i + 1 < len(events) else total
        if end <= t:
            continue
        key = name.strip()
        mapped = ESPEAK.get(key) or ESPEAK.get(key.rstrip("#:2345;")) or (
            "SIL" if key.startswith("_") else None)
        if mapped is None:
            mapped = "AX" if key[:1] in "aeiouAEIOU@3V0" else "T"
        out.extend(_split(t, end, mapped))
    return out


def read_phone_json(path: str | Path) -> list[Phone]:
    """pocketsphinx alignment JSON (``{'w': [{'t': word, 'w': [{'t': phone, 'b', 'd'}]}]}``)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    out: list[Phone] = []
    for word in data.get("w", []):
        for ph in word.get("w", []) or [word]:
            b, d = float(ph["b"]), float(ph["d"])
            out.append(Phone(b, b + d, arpabet(ph["t"])))
    return out


def _map_label(lab: str) -> str:
    """An IPA or ARPAbet phone label -> ARPAbet (possibly "A+B" for a diphthong)."""
    key = lab.strip()
    if not key:
        return "SIL"
    mapped = IPA.get(key) or IPA.get(key.rstrip("ːˈˌ"))
    if mapped is None:
        mapped = arpabet(key)
        if mapped == "SIL" and key.upper() not in SILENCES:
            mapped = "AX" if key[:1] in "aeiouəɪʊɛɔæʌ" else "T"
    return mapped


def read_textgrid(path: str | Path, tier: str = "phone") -> list[Phone]:
    """The intervals of an IPA (or ARPAbet) phone tier of a long-format Praat TextGrid."""
    text = Path(path).read_text(encoding="utf-8")
    if re.search(r"item\s*\[\s*1\s*\]", text):  # the verbose ("long") text format
        for section in re.split(r"item\s*\[\s*\d+\s*\]\s*:", text)[1:]:
            name = re.search(r'name\s*=\s*"([^"]*)"', section)
            if not name or tier not in name.group(1):
                continue
            out: list[Phone] = []
            for a, b, lab in re.findall(r'xmin\s*=\s*([-\d.eE]+)\s*xmax\s*=\s*([-\d.eE]+)\s*'
                                        r'text\s*=\s*"([^"]*)"', section):
                out.extend(_split(float(a), float(b), _map_label(lab)))
            return out
        raise ValueError(f"{path}: no interval tier named like {tier!r}")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    out = []
    i = 0
    while i < len(lines):
        if lines[i] == '"IntervalTier"' and i + 1 < len(lines) and tier in lines[i + 1]:
            n = int(lines[i + 4])
            j = i + 5
            for _ in range(n):
                a, b, lab = float(lines[j]), float(lines[j + 1]), lines[j + 2].strip('"')
                j += 3
                out.extend(_split(a, b, _map_label(lab)))
            return out
        i += 1
    raise ValueError(f"{path}: no interval tier named like {tier!r}")


def load_phones(path: str | Path) -> list[Phone]:
    p = Path(path)
    return read_textgrid(p) if p.suffix.lower() == ".textgrid" else read_phone_json(p)


def mouth_track(phones: list[Phone], times: np.ndarray, anticipation: float = 0.045,
                width_s: float = 0.055) -> np.ndarray:
    """Coarticulated mouth targets (openness, width, rounding) at ``times`` (s): (N, 3).

    Each phone contributes its viseme with a dominance bump centred slightly *before* its
    middle (``anticipation``: lips move towards a sound before it is heard), as wide as the
    phone (at least ``width_s``), weighted by :data:`DOMINANCE`. Time outside the phones is
    silence (closed mouth).
    """
    t = np.asarray(times, dtype=np.float64)
    num = np.zeros((len(t), 3))
    den = np.zeros(len(t))
    segs = list(phones)
    if segs:
        first, last = min(p.start for p in segs), max(p.end for p in segs)
        segs = [Phone(first - 10.0, first, "SIL")] + segs + [Phone(last, last + 10.0, "SIL")]
    for ph in segs:
        dur = ph.end - ph.start
        if dur <= 0:
            continue
        lab = ph.label if ph.label in VISEMES else "SIL"
        target = np.asarray(VISEMES[lab])
        if lab == "SIL" and dur > 0.2:
            # a long pause: closed throughout, anchored near both ends and in between
            centres = np.arange(ph.start + 0.06, ph.end - 0.03, 0.08)
            sig = 0.05
        else:
            centres = np.array([ph.start + 0.5 * dur - anticipation * min(1.0, dur / 0.08)])
            sig = max(width_s, 0.5 * dur)
        w = DOMINANCE.get(lab, 1.0)
        for c in centres:
            d = np.exp(-0.5 * ((t - c) / sig) ** 2) * w
            num += d[:, None] * target[None]
            den += d
    out = np.where(den[:, None] > 1e-9, num / np.maximum(den, 1e-9)[:, None], 0.0)
    return out.astype(np.float32)


def frame_times(n_frames: int, fps: int = 25) -> np.ndarray:
    """The middle of each video frame's display interval (s)."""
    return (np.arange(int(n_frames)) + 0.5) / fps


# --- measuring the mouth in pixels ------------------------------------------------------------

MOUTH_CORNERS = (61, 291)
UPPER_LIP_TOP = 0
LOWER_LIP_BOTTOM = 17


def mouth_region(landmarks: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int, float]:
    """x0, y0, x1, y1 of the region the open mouth can occupy, and the mouth width (px)."""
    lm = np.asarray(landmarks)
    (lx, ly), (rx, ry) = lm[MOUTH_CORNERS[0], :2], lm[MOUTH_CORNERS[1], :2]
    width = float(np.hypot(rx - lx, ry - ly))
    top = float(lm[UPPER_LIP_TOP, 1])
    bottom = float(lm[LOWER_LIP_BOTTOM, 1]) + 0.45 * width
    x0, x1 = min(lx, rx) - 0.05 * width, max(lx, rx) + 0.05 * width
    h, w = shape[:2]
    return (max(0, int(x0)), max(0, int(top)), min(w, int(np.ceil(x1))),
            min(h, int(np.ceil(bottom))), width)


def inner_mouth_mask(rgb: np.ndarray) -> np.ndarray:
    """Pixels that are inner mouth (dark) or teeth (bright and unsaturated), as bools.
    Lips and skin are mid-to-bright and clearly red-tinted, so they are excluded."""
    f = rgb.astype(np.float32)
    luma = 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]
    mx, mn = f.max(axis=-1), f.min(axis=-1)
    sat = (mx - mn) / np.maximum(mx, 1.0)
    dark = luma < 75.0
    teeth = (luma > 150.0) & (sat < 0.20)
    return dark | teeth


def mouth_opening_pixels(frame_rgb: np.ndarray, landmarks: np.ndarray) -> float:
    """Inner-mouth + teeth area in the mouth region / mouth width^2 (0 = closed lips)."""
    x0, y0, x1, y1, width = mouth_region(landmarks, frame_rgb.shape)
    if x1 <= x0 or y1 <= y0 or width <= 1:
        return 0.0
    return float(inner_mouth_mask(frame_rgb[y0:y1, x0:x1]).sum()) / (width * width)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.std() < 1e-12 or b.std() < 1e-12:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def best_lag(measured: np.ndarray, expected: np.ndarray, max_lag: int = 4) -> tuple[int, float]:
    """The frame lag (measured later = positive) with the highest correlation, and that r."""
    best = (0, pearson(measured, expected))
    n = len(measured)
    for lag in range(-max_lag, max_lag + 1):
        if lag == 0:
            continue
        if lag > 0:
            r = pearson(measured[lag:], expected[:n - lag])
        else:
            r = pearson(measured[:n + lag], expected[-lag:])
        if r > best[1]:
            best = (lag, r)
    return best


def lagged_pearson(measured: np.ndarray, expected: np.ndarray,
                   max_lag: int = 15) -> tuple[float, int, float]:
    """(r at lag 0, the best lag, r at the best lag), NaN entries left out (frames never shown
    or never rendered). Positive lag: ``measured[j]`` follows ``expected[j - lag]`` (the
    picture trails the sound), as in :func:`best_lag`."""
    m = np.asarray(measured, np.float64)
    e = np.asarray(expected, np.float64)
    n = min(len(m), len(e))
    m, e = m[:n], e[:n]

    def r_at(lag: int) -> float:
        a, b = (m[lag:], e[:n - lag]) if lag >= 0 else (m[:n + lag], e[-lag:])
        ok = np.isfinite(a) & np.isfinite(b)
        return pearson(a[ok], b[ok]) if ok.sum() > 10 else float("nan")

    rs = {lag: r_at(lag) for lag in range(-max_lag, max_lag + 1)}
    best = max((lag for lag in rs if np.isfinite(rs[lag])), key=lambda k: rs[k], default=0)
    return rs[0], int(best), rs[best]


class LipGap:
    """The lip gap of a rendered frame of ``template`` (an AvatarTemplate: frames + face-mesh
    landmarks): :func:`mouth_opening_pixels` minus the template frame's own (closed-mouth)
    reading, as :func:`measure_render` does. ``crop`` copies just the mouth region (cheap
    enough for a live frame callback); ``measure`` reads it later."""

    def __init__(self, template) -> None:
        from studio.talk.avatar import frame_index

        self.template = template
        self._index = frame_index
        self._rest: dict[int, float] = {}

    def __call__(self, index: int, rgb: np.ndarray) -> float:
        return self.measure(index, self.crop(index, rgb))

    def crop(self, index: int, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        k = self._index(index, self.template.num_frames)
        x0, y0, x1, y1, width = mouth_region(self.template.landmarks[k], rgb.shape)
        return rgb[y0:y1, x0:x1].copy(), width

    def measure(self, index: int, crop: tuple[np.ndarray, float]) -> float:
        k = self._index(index, self.template.num_frames)
        if k not in self._rest:
            self._rest[k] = mouth_opening_pixels(self.template.frame(k), self.template.landmarks[k])
        sub, width = crop
        if sub.size == 0 or width <= 1:
            return -self._rest[k]
        return float(inner_mouth_mask(sub).sum()) / (width * width) - self._rest[k]


class FaceMeshGap:
    """The lip gap of a rendered frame of ``template`` as the face mesh sees it: the distance
    between the inner-lip points 13 and 14 (:func:`studio.talk.face.mouth_opening`) over the
    distance between the outer eye corners, minus the template frame's own reading.

    Why the mesh: it reads lip *geometry*, so it does not depend on how dark the inner mouth
    or how bright the teeth the U-Net paints (what :class:`LipGap` counts); landmark
    distances are also the usual lip-sync measure elsewhere (LMD). Why the eyes as the
    scale: they do not move when speaking, while the mouth width shrinks on rounded vowels.
    Why the template's own landmarks place the mesh (no detector, no tracking from the
    previous frame): only the mouth of a rendered frame differs from its template frame, so
    the face is where the template says, and each frame is read independently of the others.

    Same interface as :class:`LipGap`: ``crop`` copies the square the mesh will sample
    (cheap enough for a live frame callback), ``measure`` runs the mesh on it later (about
    10 ms a frame on one CPU core). NaN when the mesh says there is no face."""

    def __init__(self, template, mesh=None) -> None:
        from studio.talk.avatar import frame_index
        from studio.talk.face import FaceMesh

        self.template = template
        self.mesh = mesh or FaceMesh()
        self._index = frame_index
        self._roi: dict = {}
        self._rest: dict[int, float] = {}

    def __call__(self, index: int, rgb: np.ndarray) -> float:
        return self.measure(index, self.crop(index, rgb))

    def _roi_of(self, k: int):
        if k not in self._roi:
            self._roi[k] = self.mesh.roi_from_landmarks(self.template.landmarks[k])
        return self._roi[k]

    def crop(self, index: int, rgb: np.ndarray) -> tuple[np.ndarray, int, int]:
        """The upright box around the (turned) mesh square, with its frame offset."""
        roi = self._roi_of(self._index(index, self.template.num_frames))
        half = 0.5 * roi.size * (abs(math.cos(roi.angle)) + abs(math.sin(roi.angle))) + 2
        h, w = rgb.shape[:2]
        x0, y0 = max(0, int(roi.center[0] - half)), max(0, int(roi.center[1] - half))
        x1 = min(w, int(math.ceil(roi.center[0] + half)))
        y1 = min(h, int(math.ceil(roi.center[1] + half)))
        return rgb[y0:y1, x0:x1].copy(), x0, y0

    def _gap(self, k: int, sub: np.ndarray, x0: int, y0: int) -> float:
        from studio.talk.face import EYE_OUTER_CORNERS, Roi, mouth_opening

        roi = self._roi_of(k)
        local = Roi((roi.center[0] - x0, roi.center[1] - y0), roi.size, roi.angle)
        res = self.mesh.run(sub, local)
        if res.score < self.mesh.threshold:
            return float("nan")
        lm = res.landmarks[:, :2]
        eyes = float(np.linalg.norm(lm[EYE_OUTER_CORNERS[0]] - lm[EYE_OUTER_CORNERS[1]]))
        return float(mouth_opening(lm)) / max(eyes, 1.0)

    def measure(self, index: int, crop: tuple[np.ndarray, int, int]) -> float:
        k = self._index(index, self.template.num_frames)
        if k not in self._rest:
            self._rest[k] = self._gap(k, *self.crop(k, self.template.frame(k)))
        sub, x0, y0 = crop
        if sub.size == 0:
            return float("nan")
        return self._gap(k, sub, x0, y0) - self._rest[k]


@dataclass
class SyncReport:
    name: str
    frames: int
    r: float                   # Pearson r, pixels vs phone-implied openness, same frame
    lag: int                   # frames of lag with the best r
    r_best: float
    silence_closed: float      # fraction of silent frames (>= 2 frames inside a pause) closed
    vowel_open: float          # fraction of open-vowel frames that are open
    closed_level: float
    open_level: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def silence_vowel_checks(measured: np.ndarray, phones: list[Phone], fps: int = 25,
                         closed_frac: float = 0.25) -> tuple[float, float, float, float]:
    """(fraction of deep-silence frames with a closed mouth, fraction of open-vowel frames
    with an open one, the closed threshold, median opening on open vowels).

    "Deep silence": frame centres more than 2 frames (80 ms) inside a pause of >= 0.2 s.
    "Open vowel": frame centres in the middle half of an AA/AE/AH/AO/AW/AY/EH phone.
    Closed means below ``closed_frac`` of the median opening on open vowels.
    """
    m = np.asarray(measured, np.float64)
    t = frame_times(len(m), fps)
    margin = 2.0 / fps
    sil = np.zeros(len(m), bool)
    vow = np.zeros(len(m), bool)
    start = min((p.start for p in phones), default=0.0)
    end = max((p.end for p in phones), default=0.0)
    pauses = [(p.start, p.end) for p in phones if p.label == "SIL" and p.end - p.start >= 0.2]
    if start >= 0.2:
        pauses.append((-1.0, start))
    pauses.append((end, 1e9))
    for a, b in pauses:
        sil |= (t > a + margin) & (t < b - margin)
    for p in phones:
        if p.label in OPEN_VOWELS:
            q = 0.25 * (p.end - p.start)
            vow |= (t > p.start + q) & (t < p.end - q)
    open_level = float(np.median(m[vow])) if vow.any() else float(m.max() if len(m) else 0.0)
    thr = closed_frac * open_level
    silence_closed = float((m[sil] <= thr).mean()) if sil.any() else float("nan")
    vowel_open = float((m[vow] > thr).mean()) if vow.any() else float("nan")
    return silence_closed, vowel_open, thr, open_level


# --- rendering and scoring one clip -----------------------------------------------------------

class _MeasureSink:
    """A render sink that measures the mouth opening of each frame (and keeps a few frames)."""

    def __init__(self, template, keep: tuple[int, ...] = ()) -> None:
        from studio.talk.avatar import frame_index

        self.template = template
        self._index = frame_index
        self.values: list[float] = []
        self.keep = set(keep)
        self.kept: dict[int, np.ndarray] = {}
        self._rest: dict[int, float] = {}

    def write(self, rgb: np.ndarray) -> None:
        i = len(self.values)
        k = self._index(i, self.template.num_frames)
        if k not in self._rest:  # the template frame's own (closed-lip) reading
            self._rest[k] = mouth_opening_pixels(self.template.frame(k), self.template.landmarks[k])
        self.values.append(mouth_opening_pixels(rgb, self.template.landmarks[k]) - self._rest[k])
        if i in self.keep:
            self.kept[i] = rgb


def measure_render(lipsync, avatar, wav16k: np.ndarray, keep: tuple[int, ...] = ()):
    """Render ``wav16k`` with ``avatar`` (an AvatarTemplate) and return (per-frame pixel
    openness minus the template frame's own reading, render stats, kept frames). The default
    avatar's template mouth is closed, so 0 means closed lips."""
    from studio.talk.render import render_frames

    sink = _MeasureSink(avatar, keep)
    stats = render_frames(lipsync, avatar, wav16k, sink)
    return np.asarray(sink.values), stats, sink.kept


def score(name: str, measured: np.ndarray, phones: list[Phone], fps: int = 25) -> SyncReport:
    expected = mouth_track(phones, frame_times(len(measured), fps))[:, 0]
    r = pearson(measured, expected)
    lag, r_best = best_lag(measured, expected)
    sc, vo, thr, level = silence_vowel_checks(measured, phones, fps)
    return SyncReport(name, len(measured), r, lag, r_best, sc, vo, thr, level)
