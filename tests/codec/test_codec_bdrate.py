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
