"""Per-shot encoding in the manner of Netflix's Dynamic Optimizer, with decoder budgets.

1. Shots: PySceneDetect on the reference (studio.codec.shots).
2. Candidates: every shot encoded at a small ladder per codec x preset x quality value; they
   are ordinary sweep points carrying a frame range, so they run through the same executor
   (process pool or Dask) and are scored the same way. Each also records its decoder speed.
3. A decoder budget (minimum decode frames/s at the clip's resolution) removes candidates
   that break it before anything is chosen.
4. Choice: per codec family, each shot's candidates are reduced to their convex hull in
   (bits, squared error) and one point per shot is picked by Lagrangian slope matching so the
   whole clip meets a target average bitrate with the least total squared error (the MSE-pooled
   PSNR of the clip); the bits left under the target then buy the best remaining upgrades.
5. The chosen shot streams are stitched into one playable file per family (MPEG-TS for
   H.264/HEVC, with each shot's parameter sets carried in band; Matroska otherwise), decoded
   frame by frame and scored on the whole clip like any other point (mode ``pershot``).
6. Mixed choice (``OptimiseSpec.mixed``; on by default when several codecs are given): every
   shot's candidates of all the codecs are pooled into one hull and the same ``choose`` picks
   one per shot. Different families cannot share one file, so each chosen shot becomes its own
   segment file (``streams/<id>/``, remuxed as in stitching); the segments are decoded in
   order, concatenated and scored on the whole clip; the point (codec ``mixed``) comes with a
   report (``reports/<id>.json``, ``.csv``, ``.html``) listing every shot's choice.
Candidates the decoder budget removes keep their point with ``over_budget`` set to the reason,
and project.json's ``decoder_budget`` lists them, so plots can mark them.
Fixed whole-clip encodes (the CRF ladder and single-pass ABR at the same rates) land in the
same project, so BD-rate of per-shot against fixed is an ordinary BD table.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from studio.codec import encoders, ffmpeg_tool, metrics
from studio.codec.project import DONE, MIXED, Point, Project, mixed_frames, write_json
from studio.codec.shots import detect_shots
from studio.codec.sweep import SweepSpec, run_sweep
from studio.jobs import Job, JobContext, UserError, atomic_path


@dataclass
class OptimiseSpec:
    input: str
    target_kbps: float
    codecs: list[str] = field(default_factory=lambda: ["x264"])
    presets: dict[str, list[str]] = field(default_factory=dict)
    values: dict[str, list[float]] = field(default_factory=dict)   # per-shot ladder
    points: int = 6                      # ladder values per codec/preset when not given
    max_frames: int | None = 120
    max_seconds: float | None = None
    detector: str = "content"
    min_decode_fps: float | None = None  # the decoder budget: measured decode speed...
    max_kmac_per_pixel: float | None = None   # ...and, for learned codecs, their graph's cost
    curve: bool = True                   # also optimise at the fixed ladder's rates (BD-rate)
    mixed: bool | None = None            # choose across codecs per shot (None: when >1 codec)
    workers: int | None = None
    cluster: str | None = None
    vmaf: bool = False


@dataclass
class Candidate:
    shot: int
    point: Point
    bits: float
    sse: float          # sum of squared luma errors over the shot's frames
    kept_bits: float = 0.0   # bits stitching removes but the first shot keeps (info SEI)


@dataclass
class OptimiseSummary:
    project: str
    shots: list[list[int]] = field(default_factory=list)
    chosen: dict[str, list[str]] = field(default_factory=dict)   # point id -> shot point ids
    removed_by_budget: list[str] = field(default_factory=list)
    budget_reasons: dict[str, str] = field(default_factory=dict)   # removed id -> why
    mixed: list[str] = field(default_factory=list)      # ids of the mixed points made
    reports: list[str] = field(default_factory=list)    # their report files
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


# --- the choice ---------------------------------------------------------------------------

def hull(cands: list[Candidate]) -> list[Candidate]:
    """Lower convex hull in (bits, error): the only points a rate-distortion optimiser picks."""
    pts = sorted(cands, key=lambda c: (c.bits, c.sse))
    best: list[Candidate] = []
    for c in pts:                          # drop dominated points (more bits, no less error)
        if best and c.sse >= best[-1].sse:
            continue
        best.append(c)
    out: list[Candidate] = []
    for c in best:                         # keep the convex part
        while len(out) >= 2:
            a, b = out[-2], out[-1]
            # slope a->b must be steeper (more negative) than a->c, else b is not on the hull
            if (b.sse - a.sse) * (c.bits - a.bits) >= (c.sse - a.sse) * (b.bits - a.bits):
                out.pop()
            else:
                break
        out.append(c)
    return out


def choose(hulls: list[list[Candidate]], budget_bits: float) -> list[Candidate]:
    """One candidate per shot: least total error with total bits <= budget (when reachable).

    Lagrangian slope matching (each shot takes argmin sse + lam * bits; lam found by bisection
    so the total fits), then greedy upgrades along each hull with the best error saved per
    extra bit while the budget allows, then an exact knapsack over the hulls where it beats
    that (the ladder is discrete, so slope matching alone can leave bits unspent)."""
    if any(not h for h in hulls):
        raise UserError("a shot has no usable candidate (every encode failed or broke the "
                        "decoder budget)")

    def pick(lam: float) -> list[int]:
        return [min(range(len(h)), key=lambda k: h[k].sse + lam * h[k].bits) for h in hulls]

    def bits(sel: list[int]) -> float:
        return sum(h[k].bits for h, k in zip(hulls, sel))

    lo, hi = 0.0, 1.0
    while bits(pick(hi)) > budget_bits and hi < 1e18:
        hi *= 4
    if bits(pick(0.0)) <= budget_bits:
        sel = pick(0.0)
    else:
        for _ in range(80):
            mid = math.sqrt(lo * hi) if lo > 0 else hi / 1e6
            if bits(pick(mid)) > budget_bits:
                lo = mid
            else:
                hi = mid
        sel = pick(hi)
    while True:   # spend what is left on the best upgrades
        left = budget_bits - bits(sel)
        best, gain = None, 0.0
        for s, (h, k) in enumerate(zip(hulls, sel)):
            if k + 1 < len(h):
                extra = h[k + 1].bits - h[k].bits
                if 0 < extra <= left and (h[k].sse - h[k + 1].sse) / extra > gain:
                    best, gain = s, (h[k].sse - h[k + 1].sse) / extra
        if best is None:
            break
        sel[best] += 1
    picked = [h[k] for h, k in zip(hulls, sel)]
    if bits(sel) <= budget_bits:
        exact = _knapsack(hulls, budget_bits)
        if exact is not None and sum(c.sse for c in exact) < sum(c.sse for c in picked):
            return exact
    return picked


def _knapsack(hulls: list[list[Candidate]], budget_bits: float,
              grid: int = 4000) -> list[Candidate] | None:
    """Exact multiple-choice knapsack on a bit grid (bits rounded up, so the answer always
    fits): with a discrete ladder the Lagrangian choice can leave budget unspent that a
    different combination would use; this closes that gap. O(shots x options x grid)."""
    unit = budget_bits / grid
    if unit <= 0:
        return None
    inf = float("inf")
    cost = np.full(grid + 1, inf)
    cost[0] = 0.0
    back: list[np.ndarray] = []
    for h in hulls:
        new = np.full(grid + 1, inf)
        arg = np.full(grid + 1, -1, dtype=np.int64)
        for k, c in enumerate(h):
            w = int(math.ceil(c.bits / unit))
            if w > grid:
                continue
            shifted = np.full(grid + 1, inf)
            shifted[w:] = cost[:grid + 1 - w] + c.sse
            better = shifted < new
            new[better] = shifted[better]
            arg[better] = k
        back.append(arg)
        cost = new
    if not np.isfinite(cost).any():
        return None
    j = int(np.argmin(cost))
    out: list[Candidate] = []
    for h, arg in zip(reversed(hulls), reversed(back)):
        k = int(arg[j])
        out.append(h[k])
        j -= int(math.ceil(h[k].bits / unit))
    return out[::-1]


# --- stitching ----------------------------------------------------------------------------

# SEI NAL unit types: the encoders' own "who made me" messages, which a decoder does not need
_SEI = {"x264": "6", "x265": "39|40"}


def stitch(parts: list[Path], family: str, out: Path, keep_first_sei: bool = True) -> Path:
    """Concatenate shot streams of one codec without re-encoding (the executable's concat
    demuxer). H.264/HEVC go to MPEG-TS with parameter sets in band, since shots coded at
    different settings carry different PPS; the encoder's info SEI (x265's is ~2 KB) is kept
    from the first shot only, as a whole-clip encode carries it once (and from none with
    ``keep_first_sei=False``: a later segment of a mixed choice)."""
    if any(p.is_dir() for p in parts):     # image codecs: every frame is its own file already
        import shutil

        from studio.jobs import atomic_directory
        with atomic_directory(out) as folder:
            k = 0
            for part in parts:
                for f in sorted(x for x in part.iterdir() if x.is_file()):
                    shutil.copyfile(f, folder / f"{k:05d}{f.suffix}")
                    k += 1
        return out
    ext = "ts" if family in ("x264", "x265") else "mkv"
    target = out.with_name(f"{out.name}.{ext}")   # not with_suffix: ids hold dots (19.5k)
    with tempfile.TemporaryDirectory(prefix="studio-stitch-") as tmp:
        inputs = list(parts)
        if family in _SEI:
            annexb = "h264_mp4toannexb" if family == "x264" else "hevc_mp4toannexb"
            inputs = []
            for k, p in enumerate(parts):
                ts = Path(tmp) / f"shot{k:04d}.ts"
                bsf = (annexb if k == 0 and keep_first_sei
                       else f"{annexb},filter_units=remove_types={_SEI[family]}")
                ffmpeg_tool.run(["-y", "-i", ffmpeg_tool.path_arg(p), "-c", "copy", "-bsf:v", bsf,
                                 "-muxdelay", "0", "-muxpreload", "0", "-f", "mpegts",
                                 ffmpeg_tool.path_arg(ts)], what=f"stitching shot {k}")
                inputs.append(ts)
        listing = Path(tmp) / "parts.txt"
        listing.write_text("".join(f"file '{p.resolve()}'\n" for p in inputs), encoding="utf-8")
        with atomic_path(target) as t:
            ffmpeg_tool.run(["-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
                             "-muxdelay", "0", "-muxpreload", "0", "-f",
                             "mpegts" if ext == "ts" else "matroska", ffmpeg_tool.path_arg(t)],
                            what=f"stitching {target.name}")
    return target


def _nal_units(blob: bytes):
    """NAL units of length-prefixed (4-byte, as in MP4 samples) data."""
    i = 0
    while i + 4 <= len(blob):
        n = int.from_bytes(blob[i:i + 4], "big")
        if n <= 0 or i + 4 + n > len(blob):
            return
        yield blob[i + 4:i + 4 + n]
        i += 4 + n


def _hvcc_units(extradata: bytes):
    """NAL units of an hvcC record (the MP4 extradata of HEVC)."""
    if len(extradata) < 23 or extradata[0] != 1:
        return
    i, arrays = 23, extradata[22]
    for _ in range(arrays):
        if i + 3 > len(extradata):
            return
        count = int.from_bytes(extradata[i + 1:i + 3], "big")
        i += 3
        for _ in range(count):
            n = int.from_bytes(extradata[i:i + 2], "big")
            yield extradata[i + 2:i + 2 + n]
            i += 2 + n


def sei_bytes(path: Path, family: str) -> int:
    """Bytes of SEI messages (with their 4-byte length fields) in a shot's MP4: what stitching
    strips from every shot but the first."""
    if family not in _SEI:
        return 0
    import av
    total = 0
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        extra = bytes(vs.codec_context.extradata or b"")
        if family == "x265":
            total += sum(len(u) + 2 for u in _hvcc_units(extra) if (u[0] >> 1) & 0x3F in (39, 40))
        for pkt in c.demux(vs):
            if not pkt.size:
                continue
            for u in _nal_units(bytes(pkt)):
                kind = u[0] & 0x1F if family == "x264" else (u[0] >> 1) & 0x3F
                if kind in ((6,) if family == "x264" else (39, 40)):
                    total += len(u) + 4
            break                                # the info SEI rides with the first picture
    return total


def stitched_bytes(path: Path) -> tuple[int, int]:
    """(elementary stream bytes, file bytes) of a stitched file, counted like any point."""
    if path.is_dir():
        size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
        return size, size
    import av
    total = 0
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        extra = len(vs.codec_context.extradata or b"")
        for pkt in c.demux(vs):
            total += pkt.size or 0
    return total + extra, path.stat().st_size


# --- the job ------------------------------------------------------------------------------

def _sweep_spec(spec: OptimiseSpec, shots: list[list[int]], mode: str = "crf",
                values: dict | None = None) -> SweepSpec:
    return SweepSpec(spec.input, list(spec.codecs), points=spec.points, mode=mode,
                     presets=spec.presets, values=values if values is not None else spec.values,
                     max_frames=spec.max_frames, max_seconds=spec.max_seconds,
                     workers=spec.workers, ms_ssim=False, vmaf=spec.vmaf, shots=shots,
                     cluster=spec.cluster)


def decoder_kmac_per_pixel(p: Point) -> float | None:
    """Thousands of multiply-adds per pixel of a learned codec's decoder (synthesis graph), as
    its rate point's codec.json records them (counted from the ONNX graph); None for codecs
    whose decoder is not a network."""
    if encoders.CODECS.get(p.codec) is None or encoders.CODECS[p.codec].backend != "learned":
        return None
    import json

    from studio.codec.learned.model import rate_points_by_quality, shipped_dir
    spec = encoders.CODECS[p.codec]   # the shipped family, or a user's folder of rate points
    family = Path(spec.encoder) if encoders.is_user_learned(spec) else shipped_dir()
    folder = rate_points_by_quality(family).get(int(p.value))
    if folder is None:
        return None
    try:
        info = json.loads((folder / "codec.json").read_text(encoding="utf-8"))
        cost = info.get("cost", info)
        # a hyperprior's decoder also runs hyper_synthesis: decoder_macs counts both
        return float(cost.get("decoder_macs_per_pixel",
                              cost["synthesis_macs_per_pixel"])) / 1000.0
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def budget_reason(p: Point, min_fps: float | None, max_kmac: float | None) -> str:
    """Why the decoder budget removes candidate ``p`` ("" when it fits)."""
    if min_fps and p.decode_fps and p.decode_fps < min_fps:
        return f"decodes at {p.decode_fps:.0f} frames/s < {min_fps:g}"
    if max_kmac is not None:
        kmac = decoder_kmac_per_pixel(p)
        if kmac is not None and kmac > max_kmac:
            return f"decoder costs {kmac:.1f} kMAC/pixel > {max_kmac:g}"
    return ""


def over_budget(proj: Project) -> dict[str, str]:
    """Every finished point that breaks the project's decoder budget, with why: the shot
    candidates the optimiser removed, and whole-clip points held to the same limits (what the
    plots mark). Empty when the project has no budget."""
    b = proj.decoder_budget or {}
    min_fps, max_kmac = b.get("min_decode_fps"), b.get("max_kmac_per_pixel")
    if not min_fps and max_kmac is None:
        return {}
    out = {}
    for p in proj.points.values():
        if p.status == DONE and p.mode != "pershot":
            why = p.over_budget or budget_reason(p, min_fps, max_kmac)
            if why:
                out[p.id] = why
    return out


def _gather(proj: Project, codecs: list[str], shots: list[list[int]],
            min_fps: float | None, max_kmac: float | None,
            summary: OptimiseSummary) -> dict[str, list[list[Candidate]]]:
    """Every usable shot candidate per codec and shot (not yet reduced to hulls). Candidates
    the decoder budget removes are flagged on their point (``over_budget``: why) and listed
    in ``proj.decoder_budget`` and the summary; flags of an earlier run are cleared first."""
    ref = proj.reference
    assert ref is not None
    pixels = ref.width * ref.height
    out = {c: [[] for _ in shots] for c in codecs}
    index = {tuple(s): k for k, s in enumerate(shots)}
    removed: dict[str, str] = {}
    for p in proj.points.values():
        if not p.is_shot:
            continue
        p.over_budget = ""
        if p.status != DONE or p.codec not in out:
            continue
        k = index.get(tuple(p.frame_range))
        if k is None:
            continue
        why = budget_reason(p, min_fps, max_kmac)
        if why:
            p.over_budget = removed[p.id] = why
            continue
        mse = proj.point_frames(p.id).get("mse_y") or []
        if not mse:
            continue
        sse = float(np.sum(mse)) * pixels
        # stitching drops each shot's info SEI (the first shot's is kept: see the budget)
        sei = sei_bytes(proj.folder / p.stream, encoders.CODECS[p.codec].family)
        out[p.codec][k].append(Candidate(k, p, 8.0 * (p.bytes - sei), sse, 8.0 * sei))
    proj.decoder_budget = {"min_decode_fps": min_fps, "max_kmac_per_pixel": max_kmac,
                           "removed": removed}
    summary.removed_by_budget = sorted(removed)
    summary.budget_reasons = dict(sorted(removed.items()))
    return out


def _score_stitched(proj: Project, path: Path, codec: str) -> tuple[dict, dict, float]:
    """Decode a stitched file frame by frame (its container's clock may be offset: count) and
    score it against the whole reference."""
    ref = proj.reference
    assert ref is not None
    from studio.codec.encoders.pyav_backend import decode_sequential
    spec = encoders.CODECS[codec]
    frames = (encoders.encoder_for(spec).decode(spec, path, ref, ref.frames) if spec.image
              else decode_sequential(path, ref, ref.frames))
    return score_frames(proj, frames)


def score_frames(proj: Project, frames) -> tuple[dict, dict, float]:
    """Score decoded frames of the whole clip (each numbered as a reference frame) against the
    reference: (per-frame columns, pooled metrics, frames/s of decode + score). The one scoring
    path of stitched and mixed per-shot points."""
    ref = proj.reference
    assert ref is not None
    clip = proj.reference_clip()
    scores = []
    t0 = time.perf_counter()
    seen = 0
    for df in frames:
        if df.index != seen:
            raise encoders.AlignmentError(f"decoded frame {df.index} where {seen} was due")
        scores.append(metrics.score_frame(clip.planes(df.index), df.planes, ref.bit_depth,
                                          True, False))
        seen += 1
    if seen != ref.frames:
        raise encoders.AlignmentError(f"decoded {seen} frames, expected {ref.frames}")
    dec = time.perf_counter() - t0
    cols = metrics.columns(scores)
    return cols, metrics.pool(cols, ref.bit_depth), ref.frames / dec if dec > 0 else 0.0


def run_optimise(spec: OptimiseSpec, folder: str | os.PathLike, ctx: JobContext) -> OptimiseSummary:
    t0 = time.perf_counter()
    folder = Project.resolve_folder(folder)
    if spec.target_kbps <= 0:
        raise UserError("--target-kbps must be positive")
    if Project.exists(folder):   # the users' learned codecs this project already compares
        Project.load(folder).close()
    spec = replace(spec, codecs=list(dict.fromkeys(encoders.resolve_codec(c)
                                                   for c in spec.codecs)))
    if not ffmpeg_tool.capabilities().ok:
        raise UserError(f"stitching needs the FFmpeg executable: {ffmpeg_tool.capabilities().problem}")
    summary = OptimiseSummary(project=str(folder))

    # 1. reference + whole-clip fixed ladder (also the comparison curve)
    run_sweep(_sweep_spec(spec, []), folder, ctx.stage(0, 4, "whole clip"))
    proj = Project.load(folder)
    try:
        ref = proj.reference
        assert ref is not None
        # 2. shots
        if not proj.shots:
            clip = proj.reference_clip()
            shots = detect_shots(clip, spec.detector, check=ctx.check, on_frame=lambda n: ctx.progress(
                1 + n / max(1, len(clip)), 4, "detecting shots"))
            proj.shots = [s.to_list() for s in shots]
            proj.notes.append(f"{len(shots)} shots found by PySceneDetect ({spec.detector}): "
                              + ", ".join(f"{a}-{b - 1}" for a, b in proj.shots))
            proj.save()
        summary.shots = proj.shots
    finally:
        proj.close()
    # 3. every shot at the ladder, and single-pass ABR of the whole clip at the target (and,
    #    for a curve, at the fixed ladder's rates: per-shot vs both fixed modes by BD-rate)
    run_sweep(_sweep_spec(spec, summary.shots), folder,
              ctx.stage(2, 4, f"{len(summary.shots)} shots"))
    rates = _curve_rates(folder, spec) if spec.curve else {}
    abr = {c: sorted({float(round(spec.target_kbps))} | set(rates.get(c, [])))
           for c in spec.codecs if "bitrate" in encoders.CODECS[c].rate_modes}
    if abr:
        run_sweep(_sweep_spec(spec, [], "bitrate", abr), folder, ctx.stage(2, 4, "ABR"))

    # 4. choose and stitch per codec family, at the target (and the fixed ladder's rates)
    ctx.progress(3, 4, "choosing per shot", force=True)
    proj = Project.load(folder)
    try:
        ref = proj.reference
        assert ref is not None
        raw = _gather(proj, list(spec.codecs), summary.shots, spec.min_decode_fps,
                      spec.max_kmac_per_pixel, summary)
        proj.save()                       # the budget flags, before anything is chosen
        curve_rates = _curve_rates(folder, spec) if spec.curve else {}
        at_target: dict[str, Point] = {}
        for c in spec.codecs:
            family = encoders.CODECS[c].family
            hulls = [hull(per) for per in raw[c]]
            if any(not h for h in hulls):
                if mixed_on(spec):        # the mixed choice may still cover every shot
                    summary.notes.append(f"{c}: a shot has no candidate within the decoder "
                                         f"budget; {c} alone is not optimised")
                    continue
                choose(hulls, 0.0)        # raises the clear refusal
            targets = [spec.target_kbps] + curve_rates.get(c, [])
            seen: set[tuple[str, ...]] = set()
            for target in sorted(set(round(t, 1) for t in targets)):
                ctx.check()
                chosen = choose(hulls, _budget(hulls, target, ref))
                picked = tuple(x.point.id for x in chosen)
                if picked in seen and target != spec.target_kbps:
                    continue       # the same choice as a lower target: one point, not two
                seen.add(picked)
                pt = _make_point(proj, c, family, chosen, target, ref)
                proj.points[pt.id] = pt
                summary.chosen[pt.id] = [s["point"] for s in pt.shots]
                proj.save()
                if target == spec.target_kbps:
                    at_target[c] = pt
                if abs(pt.bitrate_kbps - target) > 0.05 * target and target == spec.target_kbps:
                    summary.notes.append(
                        f"{c}: the per-shot ladder reaches {_reach(hulls, ref)} kbit/s; the "
                        f"target {target:g} kbit/s gave {pt.bitrate_kbps:.1f} (widen the ladder "
                        f"with --values)")
        if spec.mixed and len(spec.codecs) < 2:
            summary.notes.append("--mixed needs two or more codecs; with one, its per-shot "
                                 "choice already pools its presets")
        if mixed_on(spec):
            # the first segment keeps its encoder's info SEI, the others lose it: charge each
            # candidate exactly that (not the largest SEI of any codec, as one family's
            # budget does), so a cheap-SEI codec on the first shot is not penalised
            hulls = [hull([replace(x, bits=x.bits + (x.kept_bits if k == 0 else 0.0),
                                   kept_bits=0.0)
                           for c in spec.codecs for x in raw[c][k]])
                     for k in range(len(summary.shots))]
            # the mixed curve: at the target, and at the first codec's fixed-ladder rates
            targets = [spec.target_kbps] + curve_rates.get(spec.codecs[0], [])
            seen = set()
            for target in sorted(set(round(t, 1) for t in targets)):
                ctx.check()
                chosen = choose(hulls, _budget(hulls, target, ref))
                picked = tuple(x.point.id for x in chosen)
                if picked in seen and target != spec.target_kbps:
                    continue
                seen.add(picked)
                pt = _make_mixed(proj, chosen, target, ref)
                proj.points[pt.id] = pt
                summary.chosen[pt.id] = [s["point"] for s in pt.shots]
                summary.mixed.append(pt.id)
                note = ""
                if target == spec.target_kbps:
                    note = _compare_note(pt, at_target)
                    summary.notes.append(note)
                    if abs(pt.bitrate_kbps - target) > 0.05 * target:
                        summary.notes.append(
                            f"mixed: the pooled per-shot ladder reaches {_reach(hulls, ref)} "
                            f"kbit/s; the target {target:g} kbit/s gave {pt.bitrate_kbps:.1f}")
                files = write_mixed_report(proj, pt, note)
                pt.report = str(files[0].relative_to(proj.folder))
                summary.reports += [str(f) for f in files]
                proj.save()
        if summary.removed_by_budget:
            limits = [f"decode slower than {spec.min_decode_fps:g} frames/s"
                      if spec.min_decode_fps else "",
                      f"cost more than {spec.max_kmac_per_pixel:g} kMAC/pixel to decode"
                      if spec.max_kmac_per_pixel else ""]
            summary.notes.append(f"{len(summary.removed_by_budget)} shot encodes "
                                 f"{' or '.join(x for x in limits if x)} and were not considered "
                                 f"(flagged over_budget in project.json)")
        for n in summary.notes:
            if n not in proj.notes:
                proj.notes.append(n)
        proj.save()
    finally:
        proj.close()
    summary.seconds = time.perf_counter() - t0
    return summary


def mixed_on(spec: OptimiseSpec) -> bool:
    """The mixed choice runs when asked for, or by default whenever several codecs are given."""
    return len(spec.codecs) >= 2 and spec.mixed is not False


def _compare_note(mixed: Point, singles: dict[str, Point]) -> str:
    """How the mixed choice compares with the best single-codec per-shot choice (by the
    MSE-pooled PSNR-Y that both optimise) at the same target."""
    m = mixed.metrics
    text = (f"mixed per-shot at {mixed.value:g} kbit/s: {mixed.bitrate_kbps:.1f} kbit/s, PSNR-Y "
            f"{m.get('psnr_y', float('nan')):.2f} dB (MSE-pooled "
            f"{m.get('psnr_y_global', float('nan')):.2f})")
    if not singles:
        return text + "; no single-codec per-shot point at this target to compare with"
    best = max(singles.values(), key=lambda p: p.metrics.get("psnr_y_global", -math.inf))
    b = best.metrics
    d = m.get("psnr_y_global", math.nan) - b.get("psnr_y_global", math.nan)
    return (text + f"; best single codec {best.codec}: {best.bitrate_kbps:.1f} kbit/s, PSNR-Y "
            f"{b.get('psnr_y', float('nan')):.2f} dB (MSE-pooled "
            f"{b.get('psnr_y_global', float('nan')):.2f}): mixed {d:+.2f} dB at "
            f"{100 * (mixed.bitrate_kbps / best.bitrate_kbps - 1):+.1f} % rate")


def _curve_rates(folder: Path, spec: OptimiseSpec) -> dict[str, list[float]]:
    """Rates of the whole-clip fixed ladder per codec: where per-shot and ABR are compared."""
    proj = Project.load(folder)
    try:
        out: dict[str, list[float]] = {}
        for p in proj.points.values():
            if p.status == DONE and p.mode == "crf" and not p.is_shot and p.codec in spec.codecs:
                out.setdefault(p.codec, []).append(round(p.bitrate_kbps, 1))
        return out
    finally:
        proj.close()


def _budget(hulls, target_kbps: float, ref) -> float:
    """Bits the shots may spend: the target, less the one info SEI the stitched file keeps."""
    keep = max((c.kept_bits for h in hulls for c in h), default=0.0)
    return target_kbps * 1000.0 * ref.duration_s - keep


def _reach(hulls, ref) -> str:
    lo = sum(h[0].bits for h in hulls) / ref.duration_s / 1000.0
    hi = sum(h[-1].bits for h in hulls) / ref.duration_s / 1000.0
    return f"{lo:.1f}-{hi:.1f}"


def _make_point(proj: Project, codec: str, family: str, chosen: list[Candidate], target: float,
                ref) -> Point:
    pid = f"{codec}_pershot_{target:g}k"
    stream_dir = proj.folder / "streams"
    stream_dir.mkdir(parents=True, exist_ok=True)
    path = stitch([proj.folder / c.point.stream for c in chosen], family, stream_dir / pid)
    cols, pooled, dec_fps = _score_stitched(proj, path, codec)
    sbytes, fbytes = stitched_bytes(path)
    frames_rel = f"frames/{pid}.json"
    write_json(proj.folder / frames_rel, {**cols, "shot": [k for k, c in enumerate(chosen)
                                                           for _ in range(c.point.frames)]})
    presets = sorted({c.point.preset for c in chosen})
    duration = ref.duration_s
    return Point(
        id=pid, codec=codec, preset=presets[0] if len(presets) == 1 else "mixed",
        mode="pershot", value=float(target), status=DONE,
        stream=str(path.relative_to(proj.folder)), frames_file=frames_rel, frames=ref.frames,
        bytes=sbytes, bitrate_kbps=8.0 * sbytes / duration / 1000.0, file_bytes=fbytes,
        file_kbps=8.0 * fbytes / duration / 1000.0,
        bpp=8.0 * sbytes / (ref.width * ref.height * ref.frames), metrics=pooled,
        backend="stitched", encoder=encoders.CODECS[codec].encoder, decode_fps=dec_fps,
        shots=[_shot_entry(c.point) for c in chosen],
        finished=time.strftime("%Y-%m-%dT%H:%M:%S"))


def _shot_entry(p: Point) -> dict:
    return {"frames": p.frame_range, "point": p.id, "codec": p.codec, "value": p.value,
            "preset": p.preset, "kbps": p.bitrate_kbps, "psnr_y": p.metrics.get("psnr_y"),
            "vmaf": p.metrics.get("vmaf"), "decode_fps": p.decode_fps}


def _make_mixed(proj: Project, chosen: list[Candidate], target: float, ref) -> Point:
    """The mixed choice as a point: one segment file per shot (remuxed like stitching, the
    info SEI kept in the first only), decoded in order and scored on the whole clip."""
    import shutil

    pid = f"{MIXED}_pershot_{target:g}k"
    seg_dir = proj.folder / "streams" / pid
    shutil.rmtree(seg_dir, ignore_errors=True)
    seg_dir.mkdir(parents=True)
    shots: list[dict] = []
    sbytes = fbytes = 0
    for k, c in enumerate(chosen):
        p = c.point
        path = stitch([proj.folder / p.stream], encoders.CODECS[p.codec].family,
                      seg_dir / f"shot{k:03d}_{p.codec}", keep_first_sei=k == 0)
        seg, size = stitched_bytes(path)
        sbytes += seg
        fbytes += size
        shots.append({**_shot_entry(p), "stream": str(path.relative_to(proj.folder)),
                      "bytes": seg,
                      "kbps": p.bitrate_kbps * seg / p.bytes if p.bytes else 0.0})
    pt = Point(id=pid, codec=MIXED, preset="", mode="pershot", value=float(target),
               shots=shots)
    cols, pooled, dec_fps = score_frames(proj, mixed_frames(proj.folder, pt, ref))
    frames_rel = f"frames/{pid}.json"
    write_json(proj.folder / frames_rel, {**cols, "shot": [k for k, c in enumerate(chosen)
                                                           for _ in range(c.point.frames)]})
    duration = ref.duration_s
    pt.status, pt.stream, pt.frames_file, pt.frames = DONE, f"streams/{pid}", frames_rel, ref.frames
    pt.bytes, pt.file_bytes = sbytes, fbytes
    pt.bitrate_kbps = 8.0 * sbytes / duration / 1000.0
    pt.file_kbps = 8.0 * fbytes / duration / 1000.0
    pt.bpp = 8.0 * sbytes / (ref.width * ref.height * ref.frames)
    pt.metrics, pt.decode_fps, pt.backend = pooled, dec_fps, "segments"
    pt.encoder = "+".join(sorted({encoders.CODECS[c.point.codec].encoder for c in chosen}))
    pt.finished = time.strftime("%Y-%m-%dT%H:%M:%S")
    return pt


_REPORT_COLUMNS = ("shot", "first_frame", "last_frame", "codec", "preset", "setting", "kbps",
                   "psnr_y", "vmaf", "decode_fps", "segment", "candidate")


def mixed_report(proj: Project, pt: Point, comparison: str = "") -> dict:
    """What the mixed point's report files hold: every shot's choice, the totals, the
    whole-clip score and the candidates the decoder budget removed."""
    rows = []
    for k, sh in enumerate(pt.shots):
        spec = encoders.CODECS.get(sh["codec"])
        rows.append({"shot": k, "first_frame": sh["frames"][0], "last_frame": sh["frames"][1] - 1,
                     "codec": sh["codec"], "preset": sh["preset"],
                     "setting": f"{getattr(spec, 'value_name', 'CRF')} {sh['value']:g}",
                     "kbps": round(sh["kbps"], 3), "psnr_y": sh.get("psnr_y"),
                     "vmaf": sh.get("vmaf"), "decode_fps": round(sh["decode_fps"], 1),
                     "segment": sh["stream"], "candidate": sh["point"]})
    whole = {k: pt.metrics[k] for k in ("psnr_y", "psnr_y_global", "psnr_yuv", "ssim_y", "vmaf")
             if k in pt.metrics}
    return {"point": pt.id, "source": proj.source, "target_kbps": pt.value,
            "total_kbps": pt.bitrate_kbps, "file_kbps": pt.file_kbps, "frames": pt.frames,
            "whole_clip": whole, "decode_fps": pt.decode_fps, "shots": rows,
            "comparison": comparison, "decoder_budget": proj.decoder_budget}


def write_mixed_report(proj: Project, pt: Point, comparison: str = "") -> list[Path]:
    """reports/<id>.json, .csv and a self-contained .html table of a mixed per-shot point."""
    import csv
    import html
    import io

    data = mixed_report(proj, pt, comparison)
    folder = proj.folder / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / f"{pt.id}.{ext}" for ext in ("json", "csv", "html")]
    write_json(files[0], data)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(_REPORT_COLUMNS), lineterminator="\n")
    w.writeheader()
    for r in data["shots"]:
        w.writerow({k: "" if r[k] is None else r[k] for k in _REPORT_COLUMNS})
    w.writerow({"shot": "total", "kbps": round(pt.bitrate_kbps, 3),
                "psnr_y": whole_psnr(pt), "vmaf": pt.metrics.get("vmaf", ""),
                "decode_fps": round(pt.decode_fps, 1), "segment": pt.stream})
    with atomic_path(files[1]) as t:
        t.write_text(buf.getvalue(), encoding="utf-8")

    def cell(v) -> str:
        if v is None:
            return "<td>-</td>"
        if isinstance(v, float):
            v = f"{v:.2f}"
        return f"<td>{html.escape(str(v))}</td>"

    body = "".join("<tr>" + "".join(cell(r[k]) for k in _REPORT_COLUMNS) + "</tr>\n"
                   for r in data["shots"])
    whole = ", ".join(f"{k} {v:.3f}" for k, v in data["whole_clip"].items())
    removed = data["decoder_budget"].get("removed") or {}
    budget = ("".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in removed.items())
              or "<li>none</li>")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(pt.id)}"
            f"</title><style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}"
            f"td,th{{border:1px solid #999;padding:2px 6px;text-align:right}}</style></head>"
            f"<body><h1>Mixed per-shot choice {html.escape(pt.id)}</h1>"
            f"<p>{html.escape(Path(proj.source).name)}: target {pt.value:g} kbit/s, total "
            f"{pt.bitrate_kbps:.2f} kbit/s (files {pt.file_kbps:.2f}), {pt.frames} frames, "
            f"whole clip: {html.escape(whole)}; decode {pt.decode_fps:.0f} frames/s</p>"
            + (f"<p>{html.escape(comparison)}</p>" if comparison else "")
            + "<table><tr>" + "".join(f"<th>{c}</th>" for c in _REPORT_COLUMNS) + "</tr>\n"
            + body + "</table><h2>Removed by the decoder budget</h2><ul>" + budget
            + "</ul></body></html>\n")
    with atomic_path(files[2]) as t:
        t.write_text(page, encoding="utf-8")
    return files


def whole_psnr(pt: Point):
    v = pt.metrics.get("psnr_y")
    return "" if v is None else round(v, 4)


def optimise_job(spec: OptimiseSpec, folder: str | os.PathLike) -> Job:
    return Job(f"Per-shot optimisation of {Path(spec.input).name}",
               lambda ctx: run_optimise(spec, folder, ctx))

