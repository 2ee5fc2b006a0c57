"""BD-rate / BD-PSNR against published reference values.

Curves: the x265 rate-distortion points published in the README and example_usage.py of the
``bjontegaard`` package (FAU-LMS/bjontegaard, BSD-3-Clause). Expected numbers: computed with
that package, version 1.3.0 (``bjontegaard.bd_rate/bd_psnr(..., method=...)``), whose PCHIP
variant its authors report equal to the JCT-VC/JVET CTC Excel sheet (JCTVC-L1100, JVET-T2010)
to 10 decimals. The VCEG-M33 'cubic' values agree with a second, independent implementation
(the 'Sample 3' pair of the classic bjontegaard_metric.py demo, 31.3973740549...).
"""

from __future__ import annotations

import pytest

from studio.codec import bdrate

TEST1 = ([9487.76, 4593.60, 2486.44, 1358.24], [40.037, 38.615, 36.845, 34.851],
         [9787.80, 4469.00, 2451.52, 1356.24], [40.121, 38.651, 36.970, 34.987])
TEST2 = ([82472.76, 26875.24, 9487.76, 4593.6], [43.825, 41.404, 40.037, 38.615],
         [99896.96, 33952.04, 9787.8, 4469.0], [44.731, 41.875, 40.121, 38.651])
TEST3 = ([82472.76, 26875.24, 9487.76, 4593.6, 3600, 2900],
         [43.825, 41.404, 40.037, 38.615, 36.5, 35.1],
         [99896.96, 33952.04, 9787.8, 4469.0, 4040, 3300],
         [44.731, 41.875, 40.121, 38.651, 37, 36.5])

# (curves, method, BD-rate %, BD-PSNR dB) from bjontegaard 1.3.0
EXPECTED = [
    (TEST1, "pchip", -4.417485350589045, 0.11969278542479489),
    (TEST1, "akima", -4.425245156997493, 0.11940927028529469),
    (TEST1, "cubic", -4.420462706125383, 0.12040941911451103),
    (TEST2, "pchip", -4.47218200276197, 0.08887484704747745),
    (TEST2, "cubic", -4.699437548068142, 0.09540440289143115),
    (TEST3, "pchip", -2.9528024116427964, 0.08953590194998828),
    (TEST3, "akima", -2.52692018696532, 0.050889305024889205),
]


@pytest.mark.parametrize("curves,method,rate,psnr", EXPECTED)
def test_matches_reference_values(curves, method, rate, psnr):
    assert bdrate.bd_rate(*curves, method=method) == pytest.approx(rate, abs=1e-9)
    assert bdrate.bd_psnr(*curves, method=method) == pytest.approx(psnr, abs=1e-9)


def test_classic_vceg_m33_sample():
    anchor = ([686.76, 309.58, 157.11, 85.95], [40.28, 37.18, 34.24, 31.42])
    test = ([893.34, 407.8, 204.93, 112.75], [40.39, 37.21, 34.17, 31.24])
    assert bdrate.bd_rate(*anchor, *test, method="cubic") == pytest.approx(31.3973740549, abs=1e-8)


def test_exact_on_analytic_curves():
    rates = [100.0, 200.0, 400.0, 800.0]
    q = [30.0, 33.0, 36.5, 38.0]
    # same quality at 80% of the rate everywhere: exactly -20 %
    assert bdrate.bd_rate(rates, q, [r * 0.8 for r in rates], q) == pytest.approx(-20.0, abs=1e-9)
    # +0.5 dB at every rate: exactly +0.5 dB
    assert bdrate.bd_psnr(rates, q, rates, [v + 0.5 for v in q]) == pytest.approx(0.5, abs=1e-12)
    # order of the points does not matter
    assert bdrate.bd_rate(rates[::-1], q[::-1], rates, q) == pytest.approx(0.0, abs=1e-12)


def test_compare_reports_overlap_and_errors():
    r = bdrate.compare(*TEST1)
    assert r.bd_rate == pytest.approx(-4.417485350589045, abs=1e-9)
    assert 0.9 < r.overlap <= 1.0
    with pytest.raises(bdrate.BDError, match="overlap"):
        bdrate.compare([1, 2, 3], [30, 31, 32], [1, 2, 3], [40, 41, 42])
    with pytest.raises(bdrate.BDError, match="at least 2"):
        bdrate.compare([1], [30], [1, 2], [30, 31])
    with pytest.raises(bdrate.BDError, match="same quality"):
        bdrate.bd_rate([1, 2, 3], [30, 30, 32], [1, 2, 3], [30, 31, 32])


# --- warnings: when a BD number deserves less trust than it looks ------------------------------

RATES = [100.0, 200.0, 400.0, 800.0]
ANCHOR_Q = [30.0, 33.5, 37.0, 40.0]


def test_well_behaved_curves_give_no_warning_and_every_method():
    r = bdrate.compare(*TEST1)
    assert r.warnings == []
    assert list(r.bd_rate_by_method) == list(bdrate.METHODS)
    assert r.bd_rate_by_method["akima"] == pytest.approx(-4.425245156997493, abs=1e-9)
    assert r.bd_rate_by_method["cubic"] == pytest.approx(-4.420462706125383, abs=1e-9)
    assert r.method_spread < 0.01 and r.rate_overlap > 0.9


def test_overlap_under_75_percent_warns():
    # +3 dB everywhere: the quality ranges share 7 of 13 dB (54 %); under the old 50 % note
    r = bdrate.compare(RATES, ANCHOR_Q, RATES, [q + 3 for q in ANCHOR_Q])
    assert r.overlap == pytest.approx(7 / 13)
    assert len(r.warnings) == 1 and "quality ranges overlap only 54%" in r.warnings[0]
    assert "75%" in r.warnings[0]


def test_methods_far_apart_warn():
    # a kinked anchor: cubic's polynomial overshoots where pchip stays monotonic
    r = bdrate.compare(RATES, [30, 36, 37, 40], [110, 190, 420, 800], [30, 33, 38.5, 40])
    assert r.method_spread > 2
    (w,) = [w for w in r.warnings if "interpolation methods disagree" in w]
    assert "points (over 2)" in w and "sign" not in w
    assert "pchip +14.6 %" in w and "cubic +77.4 %" in w


def test_sign_flip_between_methods_warns_even_when_close():
    r = bdrate.compare(RATES, ANCHOR_Q, RATES, [30.1, 32.9, 37.7, 39.5])
    vals = r.bd_rate_by_method
    assert min(vals.values()) < 0 < max(vals.values()) and r.method_spread < 2
    (w,) = r.warnings
    assert "disagree on the sign" in w and "over 2" not in w


def test_identical_curves_are_no_sign_flip():
    # rounding noise around 0 % must not read as "the methods disagree on the sign"
    assert bdrate.compare(RATES, ANCHOR_Q, RATES, ANCHOR_Q).warnings == []


def test_few_points_and_non_monotonic_curves_warn():
    r = bdrate.compare(RATES[:3], ANCHOR_Q[:3], RATES, [30, 34, 33.8, 40])
    assert any("anchor curve has 3 points" in w for w in r.warnings)
    assert any("test curve is not monotonic" in w for w in r.warnings)


def test_lower_is_better_metric_is_compared_the_right_way_round():
    # CAMBI-like: banding falls as the rate rises; the test reaches each level at 80 % rate
    banding = [9.0, 6.0, 4.0, 3.0]
    r = bdrate.compare(RATES, banding, [x * 0.8 for x in RATES], banding, higher_is_better=False)
    assert r.bd_rate == pytest.approx(-20.0, abs=1e-9)
    assert r.bd_quality < 0          # less banding at equal rate: negative in metric units
    assert bdrate.bd_quality(RATES, banding, RATES, [b - 1 for b in banding],
                             higher_is_better=False) == pytest.approx(-1.0, abs=1e-12)
    # read as higher-is-better the same curves are non-monotonic nonsense; it must say so
    assert any("not monotonic" in w for w in bdrate.compare(
        RATES, banding, [x * 0.8 for x in RATES], banding).warnings)


def test_unknown_method_is_an_error():
    with pytest.raises(bdrate.BDError, match="unknown interpolation method"):
        bdrate.compare(*TEST1, method="linear")
