"""The learned codec: entropy coding, the .nlc container, the CLI and the sweep backend.

Uses a tiny randomly-initialised model (tests/fixtures/learned_codec.py): these tests check
the bitstream machinery (exactness, sizes, errors), never quality.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from studio.codec import encoders
from studio.codec.learned import (Bitstream, BitstreamError, LearnedModelError, decode_file,
                                  encode_pictures, load_model, resolve_model)
from studio.codec.learned.container import _HEAD
from studio.codec.learned.entropy import (EntropyError, FactorizedCoder, FactorizedTables,
                                          GaussianCoder, GaussianTables)
from studio.jobs import UserError
from tests.fixtures.learned_codec import (gaussian_tables, make_learned_family,
                                          make_learned_model)

STUDIO = str(Path(sys.executable).with_name("studio"))


@pytest.fixture(scope="module", params=["factorized", "hyperprior"])
def family(request, tmp_path_factory) -> Path:
    return make_learned_family(tmp_path_factory.mktemp("lc") / "fam", points=4,
                               hyperprior=request.param == "hyperprior")


@pytest.fixture(scope="module")
def picture() -> np.ndarray:
    """A smooth 40x56 RGB picture (not a multiple of 16: exercises padding and cropping)."""
    yy, xx = np.mgrid[0:40, 0:56].astype(np.float32)
    return np.stack([xx / 56, yy / 40, 0.5 + 0.4 * np.sin(xx / 5) * np.cos(yy / 7)], -1)


def _tables(rng, m=5, n=9) -> FactorizedTables:
    freqs = np.zeros((m, n + 1), np.int32)
    for c in range(m):
        p = rng.random(n + 1) + 0.02
        f = np.maximum(1, np.floor(p / p.sum() * 65536)).astype(np.int64)
        f[np.argmax(f)] += 65536 - f.sum()
        freqs[c] = f
    return FactorizedTables(freqs, np.full(m, -4, np.int32), np.full(m, n + 1, np.int32),
                            np.zeros(m, np.float32), 16)


def test_entropy_coder_round_trips_random_latents_exactly():
    rng = np.random.default_rng(1)
    coder = FactorizedCoder(_tables(rng))
    for shape in ((5, 1, 1), (5, 7, 11), (5, 16, 3)):
        q = rng.integers(-12, 13, shape).astype(np.int32)        # many outside -4..4: escapes
        q.flat[0], q.flat[-1] = 32767, -32767                     # the escape code's limits
        data = coder.encode(q)
        assert np.array_equal(coder.decode(data, *shape[1:]), q)
        assert coder.encode(q) == data                            # deterministic
    with pytest.raises(EntropyError, match="beyond the escape"):
        coder.encode(np.full((5, 1, 1), 40000, np.int32))
    with pytest.raises(EntropyError, match="left over|does not decode"):
        coder.decode(data[:-4], 16, 3)


def test_gaussian_coder_round_trips_random_latents_exactly():
    """The hyperprior's coder: each latent coded with the table of its scale index."""
    rng = np.random.default_rng(2)
    t = GaussianTables(**{k.replace("scale_table", "scales").replace("g_", ""): v
                          for k, v in gaussian_tables(np.geomspace(0.11, 40, 9)).items()},
                       precision=16)
    t.validate()
    coder = GaussianCoder(t)
    scales = rng.uniform(0.0, 60.0, (6, 5, 7)).astype(np.float32)
    idx = t.scale_index(scales)
    assert idx.min() >= 0 and idx.max() == 8                 # beyond the table: the last one
    q = np.rint(rng.standard_normal(scales.shape) * scales).astype(np.int32)
    q.flat[3] = 30000                                        # far outside any table: escape
    data = coder.encode(q, idx)
    assert np.array_equal(coder.decode(data, idx), q) and coder.encode(q, idx) == data
    # wider scales cost more bits for the same spread (the tables are not all alike)
    small = coder.encode(np.zeros_like(q), np.zeros_like(idx))
    assert len(small) < len(coder.encode(np.zeros_like(q), np.full_like(idx, 8)))
    with pytest.raises(EntropyError, match="left over|does not decode"):
        coder.decode(data + b"\x01\x00\x00\x00", idx)


def test_delta_frames_round_trip_and_cost_little_when_latents_repeat():
    """D-frames: the change of the latents, with the frame's own zero shares and table."""
    from studio.codec.learned.temporal import decode_delta, encode_delta

    rng = np.random.default_rng(3)
    d = np.zeros((6, 9, 11), np.int32)
    moving = rng.random(d.shape) < 0.05
    d[moving] = rng.integers(-3, 4, int(moving.sum()))
    d[2, 4, 4], d[5, 0, 0] = 400, -9                          # beyond the table: escapes
    data = encode_delta(d)
    assert np.array_equal(decode_delta(data, d.shape), d)
    assert len(encode_delta(np.zeros_like(d))) < len(data)
    with pytest.raises(EntropyError):
        decode_delta(data[:10], d.shape)


def test_hyperprior_keeps_its_quantisation_offsets(tmp_path, picture):
    """A hyperprior fitted to a factorised model codes q = round(y - y_means) and decodes
    y_hat = q + y_means; a point without y_means (the older layout) codes round(y); a
    y_means of the wrong length is a clear error naming the file."""
    pt = make_learned_model(tmp_path / "hp", hyperprior=True)
    model = load_model(pt)
    offs = model.gaussian.y_means
    assert offs is not None and np.abs(offs).max() > 0.05
    payload, q = model.encode_q(picture)
    assert np.array_equal(q, np.rint(model._latents(picture) - offs[:, None, None]))
    assert np.array_equal(model.decode_q(payload, 56, 40), q)
    want = model.synthesise(q, 56, 40)
    assert np.array_equal(model.decode_rgb(payload, 56, 40), want)
    # the same tables without the offsets: the older layout still loads and codes round(y)
    plain = make_learned_model(tmp_path / "plain", hyperprior=True, y_means=False)
    old = load_model(plain)
    assert old.gaussian.y_means is None
    _, q0 = old.encode_q(picture)
    assert np.array_equal(q0, np.rint(old._latents(picture)))
    with np.load(pt / "entropy.npz") as z:
        tabs = dict(z)
    tabs["y_means"] = tabs["y_means"][:-1]
    np.savez(pt / "entropy.npz", **tabs)
    with pytest.raises(LearnedModelError, match=r"entropy\.npz.*y_means.*channels"):
        load_model(pt)


def test_the_catalogue_label_names_the_entropy_model(tmp_path):
    """The shipped codec's label in plots and tables says which kind of model it is."""
    from studio.codec.encoders.learned_backend import family_label
    from studio.codec.learned.model import rate_points_by_quality, shipped_dir

    f = rate_points_by_quality(make_learned_family(tmp_path / "f", points=2))
    h = rate_points_by_quality(make_learned_family(tmp_path / "h", points=2, hyperprior=True))
    assert family_label(f) == "Learned (Balle 2017, factorised prior)"
    assert family_label(h) == "Learned (Balle 2018, scale hyperprior)"
    assert family_label({1: f[1], 2: h[2]}) == "Learned"
    assert encoders.CODECS["learned"].label == family_label(rate_points_by_quality(shipped_dir()))


def test_tables_are_checked():
    t = _tables(np.random.default_rng(0))
    t.freqs[2, 0] += 1
    with pytest.raises(EntropyError, match="channel 2: frequencies must"):
        t.validate()


def test_encode_decode_is_bit_exact_across_processes(family, picture, tmp_path):
    import cv2

    src = tmp_path / "in.png"
    cv2.imwrite(str(src), np.rint(picture * 255).astype(np.uint8)[..., ::-1])
    nlc, png = tmp_path / "a.nlc", tmp_path / "a.png"
    # another process encodes, a third decodes (the model found by its id in --codec)
    r = subprocess.run([STUDIO, "codec", "encode", str(src), "--codec", str(family),
                        "--quality", "3", "--out", str(nlc)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([STUDIO, "codec", "decode", str(nlc), "--codec", str(family),
                        "--out", str(png)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # this process: the same bytes from the same picture, the same pixels from the bytes
    model = resolve_model(str(family), 3)
    rgb = cv2.imread(str(src))[..., ::-1].astype(np.float32) / 255.0
    assert encode_pictures(model, [rgb]).to_bytes() == nlc.read_bytes()
    (dec,) = decode_file(nlc, [family])
    assert np.array_equal(np.clip(np.rint(dec * 255), 0, 255).astype(np.uint8),
                          cv2.imread(str(png))[..., ::-1])
    assert dec.shape == picture.shape


def test_container_sizes_and_multi_frame(family, picture, tmp_path):
    model = resolve_model(str(family), 1)
    bs = encode_pictures(model, [picture, picture[::-1].copy(), picture])
    f = tmp_path / "v.nlc"
    n = bs.write(f)
    assert n == f.stat().st_size == _HEAD.size + 3 * 8 + 4 + sum(len(p) for p in bs.payloads)
    back = Bitstream.read(f)
    assert back.payloads == bs.payloads and (back.width, back.height) == (56, 40)
    dec = decode_file(f, [family])
    assert len(dec) == 3 and np.array_equal(dec[0], dec[2])


def _as_shipped(family: Path, tmp_path: Path, monkeypatch) -> None:
    """Make ``family`` the shipped learned codec (key ``learned``) for this test."""
    from studio import paths

    models = tmp_path / "models"
    models.mkdir()
    (models / "learned_codec").symlink_to(family, target_is_directory=True)
    monkeypatch.setattr(paths, "MODELS_DIR", models)


def _encoded(family, picture, tmp_path) -> tuple[Path, bytes]:
    f = tmp_path / "x.nlc"
    encode_pictures(resolve_model(str(family), 2), [picture]).write(f)
    return f, f.read_bytes()


def test_damaged_streams_give_clear_errors(family, picture, tmp_path):
    f, data = _encoded(family, picture, tmp_path)
    bad = tmp_path / "bad.nlc"
    for cut in (10, _HEAD.size + 4, len(data) - 3):
        bad.write_bytes(data[:cut])
        with pytest.raises(BitstreamError, match=r"bad\.nlc: truncated"):
            decode_file(bad, [family])
    for pos in (_HEAD.size + 9, len(data) - 5):      # header table, payload
        flipped = bytearray(data)
        flipped[pos] ^= 0x10
        bad.write_bytes(bytes(flipped))
        with pytest.raises(BitstreamError, match="damaged"):
            decode_file(bad, [family])
    bad.write_bytes(b"JUNK" + data[4:])
    with pytest.raises(BitstreamError, match="not a learned-codec bitstream"):
        decode_file(bad, [family])


def test_wrong_model_id_and_missing_model(family, picture, tmp_path, capsys):
    from studio.cli import main

    f, data = _encoded(family, picture, tmp_path)
    # a valid stream that names another model (header CRC recomputed)
    head_end = _HEAD.size + 8
    head = bytearray(data[:head_end])
    head[6:22] = bytes(16)
    wrong = tmp_path / "wrong.nlc"
    wrong.write_bytes(bytes(head) + struct.pack("<I", zlib.crc32(bytes(head)))
                      + data[head_end + 4:])
    with pytest.raises(LearnedModelError, match="wrong.nlc: made with learned-codec model 0000"):
        decode_file(wrong, [family])
    # the right stream without its model installed: the CLI says so, no traceback
    assert main(["codec", "decode", str(f), "--out", str(tmp_path / "o.png")]) == 1
    err = capsys.readouterr().err
    assert "is not installed" in err and "--codec" in err and "Traceback" not in err
    with pytest.raises(LearnedModelError, match="no such learned-codec model folder"):
        resolve_model(str(tmp_path / "nowhere"), 1)
    broken = make_learned_model(tmp_path / "broken")
    (broken / "synthesis" / "model.onnx").unlink()
    with pytest.raises(LearnedModelError, match=r"synthesis/model.onnx: missing"):
        load_model(broken)
    with pytest.raises(LearnedModelError, match=r"no rate point for quality 9 \(has 1\.\.4\)"):
        resolve_model(str(family), 9)
    assert issubclass(BitstreamError, UserError) and issubclass(LearnedModelError, UserError)


def test_learned_runs_in_a_sweep(family, clip, tmp_path, monkeypatch):
    from studio.codec.project import DONE, Project
    from studio.codec.sweep import SweepSpec, run_sweep
    from studio.jobs import JobContext

    _as_shipped(family, tmp_path, monkeypatch)
    spec = encoders.codec_spec("learned")
    assert spec.image and spec.backend == "learned" and spec.value_name == "quality"
    assert encoders.encoder_for(spec).available(spec) == (True, "")
    src = clip("src.mp4", width=64, height=48, frames=3)
    out = tmp_path / "proj"
    summary = run_sweep(SweepSpec(str(src), ["learned"], points=2, values={"learned": [1, 4]},
                                  max_frames=3, workers=0, ms_ssim=False, vmaf=False),
                        out, JobContext(lambda _p: None))
    assert len(summary.done) == 2 and not summary.failed, summary.failed
    proj = Project.load(out)
    try:
        (curve,) = proj.curves("psnr_y")
        for p in curve.points:
            assert p.status == DONE and p.backend == "learned" and p.frames == 3
            files = sorted((out / p.stream).glob("*.nlc"))
            assert len(files) == 3
            assert p.bytes == p.file_bytes == sum(x.stat().st_size for x in files)
            assert p.bpp == pytest.approx(8 * p.bytes / (64 * 48 * 3))
            assert np.isfinite(p.metrics["psnr_y"])
    finally:
        proj.close()


def test_hyperprior_rate_point_is_checked(tmp_path):
    """A hyperprior point lacking a hyper graph, or naming an unknown entropy model, is
    refused with the folder and the problem, before anything runs."""
    import json

    from studio.codec.learned.model import check_family

    fam = make_learned_family(tmp_path / "hp", points=1, hyperprior=True)
    (fam / "q1" / "hyper_synthesis" / "model.onnx").unlink()
    with pytest.raises(LearnedModelError, match=r"q1 \(quality 1\) lacks "
                                                r"hyper_synthesis/model.onnx"):
        check_family(fam)
    pt = make_learned_model(tmp_path / "odd", hyperprior=True)
    meta = json.loads((pt / "codec.json").read_text())
    (pt / "codec.json").write_text(json.dumps(dict(meta, entropy_model="mixture")))
    with pytest.raises(LearnedModelError, match="entropy_model is 'mixture'"):
        load_model(pt)


def test_temporal_mode_round_trips_across_processes(family, picture, tmp_path):
    """--temporal: I then P-frames (residuals against the previous DECODED frame), a scene
    cut forces an I-frame, another process decodes the same pixels the encoder predicted
    from, and a P-frame alone is refused with a clear error."""
    from studio.codec.learned import iter_decode
    from studio.codec.learned.temporal import TemporalEncoder, frame_type

    model = resolve_model(str(family), 2)
    still = [np.clip(picture + 0.01 * k, 0, 1) for k in range(4)]
    cut = 1.0 - picture                                       # a different scene
    seq = still + [cut, cut]
    bs = encode_pictures(model, seq, temporal=True, gop=0)
    import re
    kinds = "".join(frame_type(p) for p in bs.payloads)
    assert bs.temporal and re.fullmatch(r"IP[PD][PD]IP", kinds), kinds
    f = tmp_path / "t.nlc"
    bs.write(f)
    assert f.read_bytes()[4] == 2                             # version 2: temporal
    # the encoder's own reconstructions are what a decoder in another process produces
    enc = TemporalEncoder(model, gop=0)
    recon = []
    for rgb in seq:
        enc.encode(rgb)
        recon.append(enc.prev)
    out = tmp_path / "t.png"
    r = subprocess.run([STUDIO, "codec", "decode", str(f), "--codec", str(family), "--out",
                        str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    import cv2
    for i, want in enumerate(recon):
        got = cv2.imread(str(tmp_path / f"t_{i:05d}.png"))[..., ::-1]
        assert np.array_equal(got, np.clip(np.rint(want * 255), 0, 255).astype(np.uint8)), i
    # gop 2: an I-frame every second frame
    kinds = "".join(frame_type(p) for p in encode_pictures(model, still, temporal=True,
                                                             gop=2).payloads)
    assert kinds == "IPIP"
    lone = Bitstream(bs.model_id, bs.width, bs.height, [b"D" + bs.payloads[1][1:]],
                     temporal=True)
    lone.write(tmp_path / "d.nlc")
    with pytest.raises(UserError, match="D-frame needs the frame before it"):
        list(iter_decode(tmp_path / "d.nlc", [family])[2])
    lone = Bitstream(bs.model_id, bs.width, bs.height, [bs.payloads[1]], temporal=True)
    lone.write(tmp_path / "p.nlc")
    with pytest.raises(UserError, match="P-frame needs the frame before it"):
        list(iter_decode(tmp_path / "p.nlc", [family])[2])


def test_temporal_mode_in_a_sweep_decodes_by_index(family, clip, tmp_path, monkeypatch):
    """learned-p in a sweep: one file per frame, bytes = the files, and random access (the
    viewer) gives the same planes as decoding in order."""
    from studio.codec.project import Project
    from studio.codec.sweep import SweepSpec, run_sweep
    from studio.jobs import JobContext

    _as_shipped(family, tmp_path, monkeypatch)
    src = clip("src.mp4", width=64, height=48, frames=5)
    out = tmp_path / "proj"
    summary = run_sweep(SweepSpec(str(src), ["learned-p"], points=1, values={"learned-p": [2]},
                                  max_frames=5, workers=0, ms_ssim=False, vmaf=False),
                        out, JobContext(lambda _p: None))
    assert len(summary.done) == 1 and not summary.failed, summary.failed
    proj = Project.load(out)
    try:
        (pt,) = proj.points.values()
        files = sorted((out / pt.stream).glob("*.nlc"))
        assert len(files) == 5 and pt.bytes == sum(x.stat().st_size for x in files)
        frames = list(proj.decoded_frames(pt.id))
        assert frames[0].pict_type == "I" and {f.pict_type for f in frames[1:]} <= {"I", "P"}
        for i in (3, 1, 4):                                   # jumps: decode from an I-frame
            assert all(np.array_equal(a, b) for a, b in zip(proj.point_planes(pt.id, i),
                                                            frames[i].planes))
    finally:
        proj.close()


def test_cli_decode_of_a_damaged_frame_leaves_no_output(family, picture, tmp_path, capsys,
                                                        monkeypatch):
    """Frames 0-1 decode, frame 2's payload is damaged: one clear error, and neither the PNGs
    already written nor a half-written MP4 stay behind."""
    from studio.cli import main

    # both fixture families are named "fam": each test registers its own
    monkeypatch.setattr(encoders, "CODECS", dict(encoders.CODECS))

    model = resolve_model(str(family), 2)
    bs = encode_pictures(model, [picture, 1 - picture, picture], temporal=True, gop=0)
    bs.payloads[2] = bs.payloads[2][:1] + bytes(len(bs.payloads[2]) - 1)   # CRC recomputed
    f = tmp_path / "d.nlc"
    bs.write(f)
    for out in ("o.png", "o.mp4"):
        assert main(["codec", "decode", str(f), "--codec", str(family), "--out",
                     str(tmp_path / out)]) == 1
        err = capsys.readouterr().err
        assert "d.nlc frame 2" in err and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.nlc"]


def test_a_cancelled_cli_encode_leaves_no_file(family, picture, tmp_path, monkeypatch):
    """The encode runs as a job: its progress reaches the bar, and a cancel (Ctrl-C) after
    the first frame stops it at the next one, before the .nlc is written."""
    import studio.codec.cli as codec_cli
    from studio.cli import main
    from studio.cli_progress import run_job_cli

    monkeypatch.setattr(encoders, "CODECS", dict(encoders.CODECS))

    clip = tmp_path / "c.mp4"
    from studio.media.video_writer import VideoWriter
    with VideoWriter(clip, 25, 56, 40) as w:
        for k in range(6):
            w.write(np.clip(np.rint((picture + 0.02 * k) * 255), 0, 255).astype(np.uint8))
    seen = []

    def cancel_at_first_report(job):
        def progress(p):
            seen.append(p.done)
            job.cancel()
        return job.run(progress)

    monkeypatch.setattr(codec_cli, "_run", cancel_at_first_report)
    out = tmp_path / "c.nlc"
    assert main(["codec", "encode", str(clip), "--codec", str(family), "--quality", "1",
                 "--temporal", "--out", str(out)]) == 130
    assert seen == [1] and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.mp4"]
    monkeypatch.setattr(codec_cli, "_run", lambda job: run_job_cli(job, quiet=True))
    assert main(["codec", "encode", str(clip), "--codec", str(family), "--quality", "1",
                 "--temporal", "--out", str(out)]) == 0 and out.exists()


def test_a_retrained_rate_point_is_encoded_again_by_the_next_sweep(clip, tmp_path,
                                                                    monkeypatch):
    """Re-running a sweep skips finished points, but not those whose learned model changed
    on disk since (a user retrains q2 and runs the sweep again): they are re-encoded with the
    new model, the others kept, and the sweep says which and why. The model cache and the
    session pools pick up the new files in the same process."""
    from studio.codec.learned import resolve_model
    from studio.codec.project import Project
    from studio.codec.sweep import SweepSpec, run_sweep
    from studio.jobs import JobContext

    fam = make_learned_family(tmp_path / "fam", points=2)
    _as_shipped(fam, tmp_path, monkeypatch)
    src = clip("src.mp4", width=64, height=48, frames=2)
    out = tmp_path / "proj"

    def sweep():
        return run_sweep(SweepSpec(str(src), ["learned"], points=2,
                                   values={"learned": [1, 2]}, max_frames=2, workers=0,
                                   ms_ssim=False, vmaf=False), out, JobContext(lambda _p: None))

    first = sweep()
    assert len(first.done) == 2
    old_id = resolve_model("learned", 2).id_hex
    again = sweep()
    assert again.done == [] and len(again.skipped) == 2
    make_learned_model(fam / "q2", quality=2, seed=99)          # "retrained"
    new = resolve_model("learned", 2)
    assert new.id_hex != old_id
    third = sweep()
    assert third.skipped == ["learned_default_crf1"] and third.done == ["learned_default_crf2"]
    assert any("learned_default_crf2" in n and "changed since" in n and old_id[:12] in n
               for n in third.notes), third.notes
    proj = Project.load(out)
    try:
        pt = proj.points["learned_default_crf2"]
        assert pt.options["model_id"] == new.id_hex
        # the stored frames decode with the new model, which a stale pool could not do
        nlc = sorted((out / pt.stream).glob("*.nlc"))[0]
        assert decode_file(nlc, [fam])[0].shape == (48, 64, 3)
    finally:
        proj.close()
