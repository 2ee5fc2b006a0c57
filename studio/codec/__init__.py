"""Codec workbench engine: encoder ladders, quality metrics, BD-rate, sweeps and reports.

Modules: reference (the normalised source clip), encoders (PyAV/FFmpeg ladders, decode back),
metrics (PSNR, SSIM, MS-SSIM), vmaf (optional, via imageio-ffmpeg), bdrate (Bjontegaard),
project (the sweep store), sweep (the job), report (tables, CSV/JSON/SVG), cli (`studio codec`).
No Qt here: the UI calls these functions on a worker and draws what comes back.
"""
