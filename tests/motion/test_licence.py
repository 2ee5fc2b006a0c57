"""The Bandai-Namco data is CC BY-NC 4.0 (its LICENSE file), not BY-NC-ND."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bandai_licence_wording():
    files = [*ROOT.glob("studio/motion/**/*.py"), *ROOT.glob("ui/motion/*.py"),
             *ROOT.glob("docs/motion*.md"), ROOT / "README.md"]
    wrong = [str(f.relative_to(ROOT)) for f in files if "NC-ND" in f.read_text("utf-8")]
    assert not wrong, wrong
