"""`studio talk optimise`: a faster copy of a lip-sync pair, checked against the original.

Why: a SyncTalk_2D-size U-Net (its 328 model, 320 px) runs at ~10-17 fps in FP32 on a
2-core laptop CPU, short of live mode's 25 fps. onnxruntime's static quantisation (QDQ
format, per-channel signed 8-bit weights, unsigned 8-bit activations) roughly doubles that;
FP16 is the equivalent step for GPU / CoreML providers.

What :func:`optimise_pair` does, per model of the pair (``audio_encoder/`` and ``unet/``):

1. ``quant_pre_process`` (shape inference + basic graph fusions) into a scratch folder;
2. ``quantize_static`` calibrated on *this avatar's* crops and *this audio's* windows (the
   first two thirds of the audio's frames: the ranges are the ones the model will see);
   or, with ``precision="fp16"``, a float16 graph with float32 inputs and outputs;
3. a graph-optimised copy saved to disk (``ORT_ENABLE_EXTENDED`` for INT8 on CPU: QDQ
   pairs fused into integer kernels but no machine-specific layouts; ``ORT_ENABLE_BASIC``
   for FP16, which must stay loadable by any provider);
4. a manifest copied from the original with an ``"optimisation"`` record (method, settings,
   calibration, onnxruntime version, the original's path and sha256, the gate's numbers).

Then the quality gate (:func:`quality_gate`) renders held-out frames (the audio's last third,
never used for calibration) with both pairs and compares them: PSNR of the repainted mouth
area >= 38 dB, and the lip-gap-vs-speech-energy correlation within 0.05 of the FP32 pair's.
A pair that fails is not written (the caller keeps using the FP32 pair) and the error says
which number failed; ``force=True`` skips the gate (random-weight speed tests).

The original folder is never modified; ``out`` must be another folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from studio.jobs import JobContext, UserError
from studio.talk.avatar import MODEL_PARTS
from studio.talk.avatar import frame_index as pingpong

log = logging.getLogger(__name__)

PRECISIONS = ("int8", "fp16")
PSNR_MIN_DB = 38.0
R_TOLERANCE = 0.05
OPT_KEY = "optimisation"  # the manifest's record of what was done


class GateFailed(UserError):
    """The optimised pair's output drifted too far from the FP32 pair's (the reasons say how)."""

    def __init__(self, message: str, report: "GateReport") -> None:
        super().__init__(message)
        self.report = report


# -- the quality gate ------------------------------------------------------------------------

@dataclass
class GateReport:
    """FP32 vs optimised pair on held-out frames."""

    frames: int
    psnr_db: float            # pooled over all held-out frames, repainted area, 8-bit
    worst_psnr_db: float      # the worst single frame
    r_fp32: float | None      # lip gap vs speech energy, FP32 pair (None: no landmarks)
    r_optimised: float | None
    psnr_min_db: float = PSNR_MIN_DB
    r_tolerance: float = R_TOLERANCE
    problems: list[str] = field(default_factory=list)
    lip_flat: bool = False    # the lip gap never moved in either pair: r says nothing

    @property
    def passed(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.r_fp32 is None:
            lip = "lip-gap r not measured (the template has no landmarks)"
        elif self.lip_flat:
            lip = "lip gap flat in both pairs (no open mouth in these frames: r not informative)"
        else:
            lip = f"lip-gap r {self.r_fp32:+.3f} (FP32) vs {self.r_optimised:+.3f}"
        return (f"{self.frames} held-out frames: mouth PSNR {self.psnr_db:.1f} dB "
                f"(worst frame {self.worst_psnr_db:.1f}); {lip}")

    def to_dict(self) -> dict:
        return {"frames": self.frames, "psnr_db": _num(self.psnr_db),
                "worst_psnr_db": _num(self.worst_psnr_db), "r_fp32": _num(self.r_fp32),
                "r_optimised": _num(self.r_optimised), "psnr_min_db": self.psnr_min_db,
                "r_tolerance": self.r_tolerance, "lip_flat": self.lip_flat,
                "passed": self.passed,
                "problems": list(self.problems)}


def _num(v: float | None) -> float | None:
    if v is None:
        return None
    return round(float(v), 3) if math.isfinite(v) else (999.0 if v > 0 else -999.0)


def psnr(mse: float) -> float:
    """PSNR (dB) of 8-bit images from their mean squared error; inf when identical."""
    return float("inf") if mse <= 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def _to_u8(pred: np.ndarray) -> np.ndarray:
    """(1, 3, S, S) prediction -> (S, S, 3) uint8, the rounding :meth:`LipSync.paste` uses."""
    return np.clip(pred[0].transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def speech_energy(wav16k: np.ndarray, n_frames: int, fps: int) -> np.ndarray:
    """RMS of the audio inside each video frame's interval (what an open mouth follows)."""
    hop = 16000 // fps
    n = min(n_frames, max(0, len(wav16k) // hop))
    e = np.zeros(n_frames, np.float64)
    if n:
        e[:n] = np.sqrt((wav16k[:n * hop].astype(np.float64).reshape(n, hop) ** 2).mean(axis=1))
    return e


def quality_gate(reference, candidate, template, wav16k: np.ndarray, frames: Sequence[int],
                 psnr_min_db: float = PSNR_MIN_DB, r_tolerance: float = R_TOLERANCE,
                 check: Callable[[], None] | None = None) -> GateReport:
    """Compare two LipSync pairs (the FP32 ``reference`` and the optimised ``candidate``) on
    video ``frames`` of ``wav16k`` rendered with ``template``. Each pair uses its own
    audio encoder, so the encoder's quantisation error counts too. Lip gap: the face-mesh
    mouth opening measured in the pasted frame's pixels (studio.talk.eval_sync) against the
    speech energy of each frame, as Pearson r, for each pair."""
    from studio.talk.eval_sync import mouth_opening_pixels, pearson

    n = reference.frame_count(len(wav16k))
    frames = [int(i) for i in frames if 0 <= int(i) < n]
    if not frames:
        raise UserError("quality gate: no held-out frames (the audio is too short; use at "
                        "least 3 seconds)")
    rows_ref = reference.audio_rows(wav16k, n)
    rows_cand = candidate.audio_rows(wav16k, n)
    c = reference.contract
    if c.mask == "lower_half":
        y0, y1, x0, x1 = c.size // 2, c.size, 0, c.size
    else:
        x0, y0, x1, y1 = c.mask_rect
    landmarks = getattr(template, "landmarks", None)
    sq_err, count, worst = 0.0, 0, float("inf")
    open_ref: list[float] = []
    open_cand: list[float] = []
    for i in frames:
        if check is not None:
            check()
        k = pingpong(i, template.n_frames)
        frame = template.frame(k)
        image6, box = reference.crop(frame, template.crop_box(k))
        p_ref = reference.predict(image6, reference.audio_features(rows_ref, i, i + 1))
        p_cand = candidate.predict(image6, candidate.audio_features(rows_cand, i, i + 1))
        a = _to_u8(p_ref)[y0:y1, x0:x1].astype(np.float64)
        b = _to_u8(p_cand)[y0:y1, x0:x1].astype(np.float64)
        err = float(((a - b) ** 2).sum())
        sq_err += err
        count += a.size
        worst = min(worst, psnr(err / max(a.size, 1)))
        if landmarks is not None:
            open_ref.append(mouth_opening_pixels(reference.paste(frame, p_ref, box), landmarks[k]))
            open_cand.append(mouth_opening_pixels(candidate.paste(frame, p_cand, box), landmarks[k]))
    report = GateReport(len(frames), psnr(sq_err / max(count, 1)), worst, None, None,
                        psnr_min_db, r_tolerance)
    if landmarks is not None:
        energy = speech_energy(wav16k, n, reference.fps)[frames]
        report.r_fp32 = pearson(np.asarray(open_ref), energy)
        report.r_optimised = pearson(np.asarray(open_cand), energy)
        report.lip_flat = bool(np.ptp(open_ref) < 1e-9 and np.ptp(open_cand) < 1e-9)
    if report.psnr_db < psnr_min_db:
        report.problems.append(f"the mouth area differs from the FP32 pair's by "
                               f"{report.psnr_db:.1f} dB PSNR (needs >= {psnr_min_db:g} dB)")
    if report.r_fp32 is not None and abs(report.r_optimised - report.r_fp32) > r_tolerance:
        report.problems.append(f"lip sync changed: lip gap vs speech energy r is "
                               f"{report.r_optimised:+.3f}, the FP32 pair's {report.r_fp32:+.3f} "
                               f"(allowed difference {r_tolerance:g})")
    return report


# -- calibration data ------------------------------------------------------------------------

def split_frames(n: int, calib: int, held_out: int) -> tuple[list[int], list[int]]:
    """(calibration frames, held-out frames) of an ``n``-frame clip: calibration spread over
    the first two thirds, held-out consecutive frames from the last third (consecutive so
    the lip-gap correlation follows speech), never the same frame."""
    cut = max(1, (2 * n) // 3)
    cal = np.unique(np.linspace(0, cut - 1, num=min(calib, cut)).round().astype(int)).tolist()
    tail = list(range(cut, n))
    if len(tail) > held_out:
        start = (len(tail) - held_out) // 2
        tail = tail[start:start + held_out]
    return cal, tail


class _Feeds:
    """An onnxruntime ``CalibrationDataReader`` over prepared feeds (dicts name -> array)."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self.feeds = feeds
        self._it: Iterator[dict[str, np.ndarray]] = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = iter(self.feeds)


def _input_names(path: Path) -> list[str]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in inits]


def calibration_feeds(lipsync, template, wav16k: np.ndarray, frames: Sequence[int],
                      enc_names: list[str], unet_names: list[str]
                      ) -> tuple[list[dict], list[dict]]:
    """(encoder feeds, U-Net feeds): the audio windows and the (crop, audio feature) pairs of
    ``frames``, exactly as a render builds them (FP32 encoder rows feed the U-Net)."""
    from studio.talk import mel as melmod
    from studio.talk.waveform import WAVEFORM

    n = lipsync.frame_count(len(wav16k))
    rows = lipsync.audio_rows(wav16k, n)
    unet_feeds = []
    for i in frames:
        k = pingpong(i, template.n_frames)
        image6, _ = lipsync.crop(template.frame(k), template.crop_box(k))
        feat = lipsync.audio_features(rows, i, i + 1)
        unet_feeds.append({unet_names[0]: image6, unet_names[1]: feat})
    if lipsync.encoder_input == WAVEFORM:
        # a HuBERT-style extractor takes (1, N) samples: calibrate on 1 s chunks of the
        # calibration part of the audio
        end = min(len(wav16k), int((max(frames) + 1) * 16000 / lipsync.fps))
        chunks = [wav16k[s:s + 16000] for s in range(0, max(end - 16000, 0) + 1, 16000)][:16]
        enc_feeds = [{enc_names[0]: ch.astype(np.float32)[None]} for ch in chunks]
    else:
        windows = melmod.mel_windows(melmod.melspectrogram(wav16k), n, fps=lipsync.fps)
        fb = lipsync.encoder.fixed_batch or 1
        enc_feeds = []
        idx = list(frames)
        for s in range(0, len(idx) - fb + 1, fb):
            enc_feeds.append({enc_names[0]: windows[idx[s:s + fb]].astype(np.float32)})
    return enc_feeds, unet_feeds


# -- one model ---------------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pre_process(src: Path, dst: Path, where: str | Path | None = None) -> str:
    """onnxruntime's quantisation pre-processing; returns what ran. Symbolic shape inference
    fails on some exports (custom ops, odd Reshapes): then it runs without it."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(src), str(dst))
        return "quant_pre_process (symbolic shapes, ONNX shapes, basic optimisation)"
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises many types here
        log.info("%s: symbolic shape inference failed (%s); pre-processing without it", src, exc)
        try:
            quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
            return "quant_pre_process without symbolic shape inference (it failed on this graph)"
        except Exception as exc2:  # noqa: BLE001
            raise UserError(f"{where or src}: onnxruntime could not pre-process this model for "
                            f"quantisation: {str(exc2).splitlines()[0] if str(exc2) else exc2}") from None


def quantise_int8(src: Path, dst: Path, feeds: list[dict], reduce_range: bool = False,
                  where: str | Path | None = None) -> dict:
    """Static QDQ quantisation of ``src`` into ``dst``; returns the settings used. ``where``:
    the user's file, for messages (``src`` is a scratch copy)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if not feeds:
        raise UserError(f"{where or src}: no calibration data (the audio is too short)")
    try:
        quantize_static(str(src), str(dst), _Feeds(feeds), quant_format=QuantFormat.QDQ,
                        per_channel=True, reduce_range=reduce_range,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
        # MinMax keeps one (min, max) per tensor and call, so memory stays small. Not
        # "CalibMaxIntermediateOutputs": onnxruntime 1.32 drops the data instead of merging it
        # (then "No data is collected").
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"{where or src}: onnxruntime static quantisation failed: "
                        f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    return {"method": "onnxruntime.quantization.quantize_static", "format": "QDQ",
            "weights": "QInt8 per-channel", "activations": "QUInt8",
            "calibration_method": "MinMax", "reduce_range": bool(reduce_range),
            "calibration_items": len(feeds)}


def convert_fp16(src: Path, dst: Path) -> dict:
    """A float16 graph that still takes and gives float32 (the manifests stay valid)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(src))
    try:
        half = convert_float_to_float16(model, keep_io_types=True)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"{src}: FP16 conversion failed: {exc}") from None
    onnx.save(half, str(dst))
    return {"method": "onnxruntime.transformers.float16.convert_float_to_float16",
            "keep_io_types": True}


def save_optimised_graph(src: Path, dst: Path, level: str,
                         where: str | Path | None = None) -> None:
    """Let onnxruntime optimise the graph once and save the result, so every later load
    starts from the fused graph (``level``: "basic" or "extended"; never "all", whose
    layouts are specific to this CPU)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                   "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED}[level]
    so.optimized_model_filepath = str(dst)
    so.log_severity_level = 3
    try:
        ort.InferenceSession(str(src), sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"{where or src}: onnxruntime could not load the converted model to optimise "
                        f"it: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    if not dst.exists():
        raise UserError(f"{dst}: onnxruntime did not write the optimised graph")


# -- the pair ----------------------------------------------------------------------------------

@dataclass
class OptimiseResult:
    out: Path
    precision: str
    gate: GateReport | None
    forced: bool
    seconds: float
    sizes: dict[str, tuple[int, int]]  # part -> (original bytes, optimised bytes)

    def summary(self) -> str:
        sizes = ", ".join(f"{p} {a / 1e6:.1f} -> {b / 1e6:.1f} MB" for p, (a, b) in self.sizes.items())
        gate = ("quality gate skipped (--force)" if self.gate is None else
                ("quality gate passed: " if self.gate.passed else "quality gate FAILED (forced): ")
                + self.gate.summary())
        return f"{self.precision.upper()} pair in {self.out} ({self.seconds:.0f} s; {sizes}); {gate}"


def is_optimised(folder: str | Path) -> bool:
    """True when ``folder`` holds a pair written by :func:`optimise_pair`."""
    try:
        d = json.loads((Path(folder) / "unet" / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(d, dict) and OPT_KEY in d


def _open(folder: Path, threads: int, provider: str):
    """A one-session pair for calibration and the gate."""
    from studio.settings import EngineSettings
    from studio.talk.session import open_lipsync

    return open_lipsync(folder, EngineSettings(pool_size=1, threads_per_session=threads,
                                               provider=provider))


def optimise_pair(models: str | Path, out: str | Path, *, avatar: str | Path | None = None,
                  audio: str | Path | None = None, precision: str = "int8", force: bool = False,
                  calib_frames: int = 64, gate_frames: int = 75, reduce_range: bool = False,
                  threads: int = 1, ctx: JobContext | None = None) -> OptimiseResult:
    """Write an optimised copy of the pair in ``models`` to ``out`` (see the module doc).
    ``avatar``: the template whose crops calibrate and judge it (default: the shipped one);
    ``audio``: speech for the audio windows (default: the shipped sample sentence)."""
    from studio.media.audio_io import load_audio
    from studio.paths import RESOURCES_DIR
    from studio.talk.avatar import AvatarTemplate
    from studio.talk.session import DEFAULT_AVATAR

    ctx = ctx or JobContext()
    t_all = time.perf_counter()
    models, out = Path(models).resolve(), Path(out).resolve()
    if precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}: use {' or '.join(PRECISIONS)}")
    for part in MODEL_PARTS:
        if not (models / part / "manifest.json").exists():
            raise UserError(f"{models / part / 'manifest.json'}: missing; --models must be a "
                            "folder with audio_encoder/ and unet/ (model.onnx + manifest.json)")
    if out == models or models in out.parents or out in models.parents:
        raise UserError(f"{out}: the optimised pair must go to another folder than {models} "
                        "(the FP32 original is kept as it is)")
    if out.exists() and any(out.iterdir()) and not is_optimised(out):
        raise UserError(f"{out}: exists and is not an optimised pair; choose a new folder")
    if is_optimised(models):
        raise UserError(f"{models}: already optimised; optimise the FP32 original (named in "
                        f"its manifests' \"{OPT_KEY}\" record)")

    ctx.progress(0, 5, "loading avatar, audio and the FP32 pair", force=True)
    tpl = AvatarTemplate.load(Path(avatar) if avatar else DEFAULT_AVATAR)
    audio_path = Path(audio) if audio else RESOURCES_DIR / "audio" / "hello.wav"
    wav = load_audio(audio_path, 16000, check=ctx.check).samples
    # INT8 is for the CPU, so it is judged there; FP16 on the provider it is meant for
    provider = "cpu" if precision == "int8" else "auto"
    ref = _open(models, threads, provider)
    n = ref.frame_count(len(wav))
    if n < 30:
        ref.close()
        raise UserError(f"{audio_path}: {n / ref.fps:.1f} s of audio; calibration and the "
                        "quality gate need at least 1.2 s (use a few seconds of speech)")
    cal, held = split_frames(n, calib_frames, gate_frames)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    sizes: dict[str, tuple[int, int]] = {}
    records: dict[str, dict] = {}
    try:
        srcs = {p: _manifest_model(models / p) for p in MODEL_PARTS}
        enc_feeds, unet_feeds = calibration_feeds(ref, tpl, wav, cal,
                                                  _input_names(srcs["audio_encoder"]),
                                                  _input_names(srcs["unet"]))
        feeds = {"audio_encoder": enc_feeds, "unet": unet_feeds}
        for step, part in enumerate(MODEL_PARTS, start=1):
            ctx.check()
            ctx.progress(step, 5, f"{precision.upper()}: {part}", force=True)
            src = srcs[part]
            scratch = work / f"_{part}"
            scratch.mkdir()
            rec: dict = {"precision": precision, "source": {"folder": str(models / part),
                                                            "file": src.name,
                                                            "sha256": _sha256(src)}}
            if precision == "int8":
                pre = scratch / "pre.onnx"
                rec["pre_process"] = pre_process(src, pre, src)
                quant = scratch / "quant.onnx"
                rec["quantisation"] = quantise_int8(pre, quant, feeds[part], reduce_range,
                                                    where=src)
                rec["quantisation"]["calibration"] = (
                    f"{len(cal)} frames of {tpl.path.name} crops and {audio_path.name} windows "
                    f"(frames {cal[0]}-{cal[-1]} of {n})")
                level = "extended"
            else:
                quant = scratch / "fp16.onnx"
                rec["conversion"] = convert_fp16(src, quant)
                level = "basic"
            dst_dir = work / part
            dst_dir.mkdir()
            save_optimised_graph(quant, dst_dir / "model.onnx", level, where=src)
            rec["graph_optimisation"] = f"onnxruntime ORT_ENABLE_{level.upper()}, saved"
            _write_manifest(models / part / "manifest.json", dst_dir / "manifest.json", rec)
            sizes[part] = (src.stat().st_size, (dst_dir / "model.onnx").stat().st_size)
            records[part] = rec
            shutil.rmtree(scratch)

        gate = None
        if not force:
            ctx.progress(3, 5, f"quality gate on {len(held)} held-out frames", force=True)
            cand = _open(work, threads, provider)
            try:
                gate = quality_gate(ref, cand, tpl, wav, held, check=ctx.check)
            finally:
                cand.close()
            if not gate.passed:
                raise GateFailed(f"{models}: the {precision.upper()} pair was not kept: "
                                 + "; ".join(gate.problems) + f" ({gate.summary()}). The FP32 "
                                 "pair stays in use. Try --reduce-range, other calibration "
                                 "audio (--audio), or --force to keep it anyway", gate)
        for part in MODEL_PARTS:
            records[part]["gate"] = (gate.to_dict() if gate is not None
                                     else {"skipped": "--force (not checked against FP32)"})
            _write_manifest(models / part / "manifest.json", work / part / "manifest.json",
                            records[part])
        ctx.progress(4, 5, "writing", force=True)
        if out.exists():
            shutil.rmtree(out)
        work.rename(out)
    finally:
        ref.close()
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return OptimiseResult(out, precision, gate, force, time.perf_counter() - t_all, sizes)


def _manifest_model(part_dir: Path) -> Path:
    from studio.runtime.manifest import Manifest

    m = Manifest.load(part_dir / "manifest.json")
    if not m.model_path.exists():
        raise UserError(f"{m.model_path}: model file missing (named by {m.path})")
    return m.model_path


def _write_manifest(src: Path, dst: Path, record: dict) -> None:
    """The original manifest, with ``file`` pointing at the optimised graph and the record
    of what was done (kept as raw JSON so fields this app does not know survive)."""
    import onnxruntime as ort

    d = json.loads(src.read_text(encoding="utf-8"))
    d["file"] = "model.onnx"
    tag = f" [{record['precision'].upper()} by studio talk optimise]"
    d["description"] = str(d.get("description", "")).replace(tag, "") + tag
    d[OPT_KEY] = {**record, "onnxruntime": ort.__version__,
                  "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    dst.write_text(json.dumps(d, indent=2) + "\n", encoding="utf-8")
