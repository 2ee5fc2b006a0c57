"""The learned (neural) image codec as a third encoder backend beside PyAV and the FFmpeg
executable.

Like the other still-image codecs it writes one file per frame into a folder
(``00000.nlc``...): each is a complete ``.nlc`` bitstream (header, model id, CRCs; see
:mod:`studio.codec.learned.container`), so the rate counts every byte a decoder needs, and
``bytes`` is the sum of the files' sizes (:func:`folder_sizes`, as for JPEG or WebP).

The model codes RGB: the reference's YUV planes are converted in float with its own matrix
and range (:mod:`studio.codec.learned.color`) and the decoded RGB goes back the same way,
so the learned codec is scored on the same planes as every other codec, and pays for its
own chroma handling. The quality value is the rate point 1..N (1 = lowest rate).

``learned-p`` is the same models in the temporal mode (:mod:`studio.codec.learned.temporal`):
still one file per frame, but a P-frame's file holds the residual against the previous
decoded frame, so the files decode in order (from the last I-frame for random access).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Callable, Iterator

from studio.codec.encoders.base import (AlignmentError, CodecSpec, DecodedFrame, EncodeResult,
                                        EncodeSettings, Encoder, FrameReader, OnFrame)
from studio.codec.encoders.sizes import folder_sizes
from studio.codec.reference import ReferenceClip, ReferenceInfo

DEFAULT_POINTS = 4


ENTROPY_MODEL_LABELS = {"factorized": "Balle 2017, factorised prior",
                        "hyperprior": "Balle 2018, scale hyperprior"}


def family_label(points: dict) -> str:
    """"Learned (<paper>, <entropy model>)" from the rate points' codec.json files (quality
    -> folder): the label says which kind of model the curves come from."""
    kinds = set()
    for folder in points.values():
        try:
            kinds.add(json.loads((Path(folder) / "codec.json").read_text(encoding="utf-8"))
                      .get("entropy_model", "factorized"))
        except (OSError, ValueError, AttributeError):
            continue
    if len(kinds) == 1 and next(iter(kinds)) in ENTROPY_MODEL_LABELS:
        return f"Learned ({ENTROPY_MODEL_LABELS[kinds.pop()]})"
    return "Learned"


def learned_spec(key: str = "learned", family: str = "learned_codec",
                 temporal: bool = False) -> CodecSpec:
    """The catalogue entry: quality 1..N where N is the number of rate points found (the
    shipped family's, or DEFAULT_POINTS when none is installed yet). ``temporal``: the
    residual P-frame mode (``intra`` False marks it)."""
    n, label = DEFAULT_POINTS, "Learned"
    try:
        from studio.codec.learned.model import rate_points_by_quality, shipped_dir

        found = rate_points_by_quality(shipped_dir() if family == "learned_codec" else family)
        n = max(found, default=0) or DEFAULT_POINTS
        label = family_label(found)
    except Exception:  # noqa: BLE001 - the catalogue must load even with a broken install
        pass
    if temporal:
        label = "Learned, temporal (residual P-frames)"
    return CodecSpec(key, label, family, ("default",),
                     "default", (float(n), 1.0), (float(n), 1.0), backend="learned",
                     image=True, intra=not temporal, high_bit_depth=True,
                     value_name="quality", rate_modes=("crf",), ext="nlc")


USER_PREFIX = "learned:"


def user_codec_key(folder: str | os.PathLike) -> str:
    """The stable key of a user's learned codec: ``learned:<folder name>`` (file-name safe)."""
    name = re.sub(r"[^A-Za-z0-9_.+-]", "-", Path(os.path.abspath(folder)).name) or "codec"
    return USER_PREFIX + name


def user_learned_spec(folder: str | os.PathLike, key: str | None = None, label: str = "",
                      qualities: list[int] | None = None) -> CodecSpec:
    """The catalogue entry of a user's learned codec (a folder of rate points). ``label`` and
    ``qualities`` come from a project when the folder is not read (it may have moved: the
    finished points still show; encoding then says the folder is missing)."""
    folder = Path(folder).resolve()
    if qualities is None or not label:
        from studio.codec.learned.model import family_name, rate_points_by_quality

        qualities = qualities or sorted(rate_points_by_quality(folder)) or [1]
        if not label:
            name = family_name(folder)
            label = f"Learned: {name}" + (f" ({folder.name})" if name != folder.name else "")
    hi, lo = float(max(qualities)), float(min(qualities))
    return CodecSpec(key or user_codec_key(folder), label, str(folder), ("default",),
                     "default", (hi, lo), (hi, lo), backend="learned", image=True, intra=True,
                     high_bit_depth=True, value_name="quality", rate_modes=("crf",), ext="nlc")


def is_user_learned(spec: CodecSpec) -> bool:
    return spec.backend == "learned" and spec.encoder != "learned_codec"


def _family(spec: CodecSpec) -> Path:
    from studio.codec.learned.model import shipped_dir

    return shipped_dir() if spec.encoder == "learned_codec" else Path(spec.encoder)


def _version() -> str:
    try:
        from importlib.metadata import version

        return f"constriction {version('constriction')}"
    except Exception:  # noqa: BLE001
        return "constriction ?"


class LearnedEncoder(Encoder):
    name = "learned"

    def available(self, spec: CodecSpec) -> tuple[bool, str]:
        try:
            import constriction  # noqa: F401
        except ImportError:
            return False, "the 'constriction' package is not installed"
        from studio.codec.learned.model import LearnedModelError, check_family, rate_points

        fam = _family(spec)
        if is_user_learned(spec):
            try:
                check_family(fam)
            except LearnedModelError as exc:
                return False, str(exc)
        elif not rate_points(fam):
            return False, f"no learned-codec model under {fam}"
        return True, ""

    def _model(self, spec: CodecSpec, quality: float):
        from studio.codec.learned.model import resolve_model

        if is_user_learned(spec):   # a moved or damaged folder: say what is missing, where
            from studio.codec.learned.model import check_family
            check_family(spec.encoder)
        return resolve_model(spec.encoder, int(round(quality)))

    def outdated(self, spec: CodecSpec, value: float, options: dict[str, str]) -> str:
        """The rate point's model changed since the point was made (retrained, replaced):
        its stored model id differs from the files' now."""
        old = options.get("model_id", "")
        try:
            now = self._model(spec, value).id_hex
        except Exception:  # noqa: BLE001 - a broken model: the encode will say why
            return ""
        return (f"the {spec.key} model for quality {int(round(value))} changed since "
                f"(model id {old[:12] or 'unknown'} -> {now[:12]})") if old != now else ""

    def encode(self, spec: CodecSpec, ref: ReferenceClip, s: EncodeSettings,
               out_path: str | os.PathLike, on_frame: OnFrame | None = None,
               check_cancel: Callable[[], None] | None = None) -> EncodeResult:
        from studio.codec.learned import Bitstream
        from studio.codec.learned.color import planes_to_rgb
        from studio.codec.learned.temporal import TemporalEncoder

        self.check(spec, s)
        info = ref.info
        model = self._model(spec, s.value)
        out = Path(out_path)
        out.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        files = []
        temporal = None if spec.intra else TemporalEncoder(model)
        for i in range(info.frames):
            if check_cancel is not None:
                check_cancel()
            rgb = planes_to_rgb(ref.planes(i), info.bit_depth, info.colorspace, info.full_range)
            payload = temporal.encode(rgb) if temporal else model.encode_rgb(rgb)
            bs = Bitstream(model.id, info.width, info.height, [payload],
                           temporal=temporal is not None)
            f = out / f"{i:05d}.{spec.ext}"
            bs.write(f)
            files.append(f)
            if on_frame is not None:
                on_frame(i + 1)
        encode_s = time.perf_counter() - t0
        sz = folder_sizes(files)
        duration = info.duration_s
        return EncodeResult(
            path=str(out), frames=info.frames, bytes=sz.stream_bytes,
            bitrate_kbps=8.0 * sz.stream_bytes / duration / 1000.0, encode_s=encode_s,
            pix_fmt=info.pix_fmt, frame_bytes=sz.frame_bytes, keyframes=sz.keyframes,
            file_bytes=sz.file_bytes, file_kbps=8.0 * sz.file_bytes / duration / 1000.0,
            options={"quality": f"{int(round(s.value))}", "model": model.name,
                     "model_id": model.id_hex,
                     **({} if spec.intra else {"temporal": f"gop {temporal.gop}"})},
            command=f"studio codec encode --codec "
                    f"{spec.encoder if is_user_learned(spec) else 'learned'} "
                    f"--quality {int(round(s.value))}"
                    + ("" if spec.intra else f" --temporal --gop {temporal.gop}"),
            encoder_version=f"{model.name} ({model.id_hex[:12]}), {_version()}")

    def decode(self, spec: CodecSpec, path: str | os.PathLike, info: ReferenceInfo,
               expected: int | None = None) -> Iterator[DecodedFrame]:
        files = sorted(Path(path).glob(f"*.{spec.ext}"))
        if expected is not None and len(files) != expected:
            raise AlignmentError(f"{Path(path).name}: {len(files)} pictures, expected {expected}")
        frames = _Frames(files, spec, info)
        for i in range(len(files)):
            planes, kind = frames.planes_and_type(i)
            yield DecodedFrame(i, planes, kind)

    def reader(self, spec: CodecSpec, path: str | os.PathLike, info: ReferenceInfo) -> FrameReader:
        return _Frames(sorted(Path(path).glob(f"*.{spec.ext}")), spec, info)


class _Frames(FrameReader):
    """The folder's pictures by index. Intra files decode alone; in the temporal mode a
    P-frame needs its predecessor, so a jump decodes forward from the last I-frame before
    it (in-order reads cost one frame each)."""

    def __init__(self, files: list[Path], spec: CodecSpec, info: ReferenceInfo) -> None:
        self.files, self.spec, self.info = files, spec, info
        self.extra = [] if spec.encoder == "learned_codec" else [spec.encoder]
        self._decoder = None
        self._at = -1           # index of the frame self._decoder holds

    def _read(self, i: int):
        from studio.codec.learned import Bitstream, find_model

        bs = Bitstream.read(self.files[i])
        if len(bs.payloads) != 1:
            raise AlignmentError(f"{self.files[i]}: {len(bs.payloads)} frames, expected one")
        return bs, find_model(bs.model_id, self.extra, where=str(self.files[i]))

    def planes_and_type(self, index: int):
        from studio.codec.learned.color import rgb_to_planes
        from studio.codec.learned.temporal import TemporalDecoder, frame_type

        if not 0 <= index < len(self.files):
            raise IndexError(f"frame {index} not found")
        bs, model = self._read(index)
        where = str(self.files[index])
        if not bs.temporal:
            rgb, kind = model.decode_rgb(bs.payloads[0], bs.width, bs.height, where=where), "I"
        else:
            start = index
            if self._decoder is None or self._at != index - 1:
                self._decoder = TemporalDecoder(model)
                while start > 0 and frame_type(self._read(start)[0].payloads[0]) != "I":
                    start -= 1
            for k in range(start, index):
                b, _ = self._read(k)
                self._decoder.decode(b.payloads[0], b.width, b.height, str(self.files[k]))
            kind = frame_type(bs.payloads[0])
            rgb = self._decoder.decode(bs.payloads[0], bs.width, bs.height, where)
            self._at = index
        return rgb_to_planes(rgb, self.info.bit_depth, self.info.colorspace,
                             self.info.full_range), kind

    def planes(self, index: int):
        return self.planes_and_type(index)[0]
