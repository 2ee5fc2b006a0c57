"""Codec workbench engine: encoder ladders, quality metrics, BD-rate, sweeps and reports.

Modules: reference (the normalised source clip), encoders/ (the Encoder seam: PyAV and FFmpeg-
executable backends, decode back), ffmpeg_tool (the executable), adaptive (content-adaptive
ladders), metrics (PSNR, SSIM, MS-SSIM), ffmetrics (VMAF, XPSNR... via the executable), score
(re-score a project), bdrate (Bjontegaard), project (the sweep store), sweep (the job), report
(tables, CSV/JSON/SVG), cli (`studio codec`).
No Qt here: the UI calls these functions on a worker and draws what comes back.
"""
