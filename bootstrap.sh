#!/usr/bin/env bash
# Neural Media Studio set-up: installs what is missing, then runs the app or the tests.
#
#   ./bootstrap.sh run  [ARGS]   install the app's needs and open the desktop app
#                                (headless: say how to run it, run the main job, exit non-zero)
#   ./bootstrap.sh test [ARGS]   install the test needs and run the whole test suite
#
# Works on Debian/Ubuntu (apt-get, as root or through sudo) and macOS (Homebrew).
# Python packages go into .venv beside this file; re-runs skip what is already installed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
MODE="${1:-run}"
shift || true
VENV="$HERE/.venv"
OS="$(uname -s)"

say() { printf '\033[1m[studio]\033[0m %s\n' "$*" >&2; }

# --- system packages -----------------------------------------------------------------
APP_DEBS=(python3-venv libportaudio2 libglib2.0-0 libgl1 libegl1 libgl1-mesa-dri
          libxkbcommon0 libxkbcommon-x11-0 libfreetype6 libfontconfig1 libdbus-1-3
          libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-image0
          libxcb-render-util0 libxcb-xinerama0 libxcb-randr0 libsndfile1)
TEST_DEBS=(xvfb xauth espeak-ng libespeak-ng1 pulseaudio sox)

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing system packages: ${missing[*]}"
  local SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

brew_install() {
  command -v brew >/dev/null || { say "Homebrew not found: install it from brew.sh, then re-run"; exit 1; }
  for pkg in "$@"; do brew list --formula "$pkg" >/dev/null 2>&1 || brew install "$pkg"; done
}

system_deps() {
  local what="$1"
  if [ "$OS" = "Linux" ] && command -v apt-get >/dev/null; then
    apt_install "${APP_DEBS[@]}"
    [ "$what" = test ] && apt_install "${TEST_DEBS[@]}"
  elif [ "$OS" = "Darwin" ]; then
    brew_install portaudio python@3.12
    [ "$what" = test ] && brew_install espeak-ng
  else
    say "unknown system ($OS): install PortAudio (and for tests espeak-ng, Xvfb) yourself"
  fi
  return 0
}

# --- python environment -------------------------------------------------------------
pick_python() {
  for py in python3.11 python3.12 python3.13 python3.10 python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
      echo "$py"; return 0
    fi
  done
  say "Python 3.10 or newer is needed"; exit 1
}

python_deps() {
  local extras="$1"
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$(pick_python)" -m venv "$VENV"
  fi
  local stamp="$VENV/.studio-$extras"
  local sum
  sum="$(cat pyproject.toml | cksum)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    say "installing Python packages ($extras)"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    if [ "$extras" = app ]; then
      "$VENV/bin/python" -m pip install -qq -e .
    else
      "$VENV/bin/python" -m pip install -qq -e ".[$extras]"
    fi
    # PySceneDetect requires the GUI build of OpenCV, whose cv2 would overwrite the headless
    # one the app uses (and clash with Qt): take it without dependencies (pyproject lists the
    # others); shot detection needs only cv2's core functions.
    "$VENV/bin/python" -m pip install -qq --no-deps "scenedetect>=0.6.4,<0.8"
    echo "$sum" > "$stamp"
  fi
}

case "$MODE" in
  run)
    system_deps app
    python_deps app
    if [ "$OS" = "Linux" ] && [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
      say "no display found (DISPLAY is not set), so the desktop window cannot open."
      say "  on a desktop session:   ./bootstrap.sh run"
      say "  on a virtual screen:    xvfb-run -a ./bootstrap.sh run"
      say "  headless, any job:      $VENV/bin/studio --help"
      say "running the main job headless instead: the default avatar says a sample sentence"
      "$VENV/bin/studio" devices >&2 || true
      "$VENV/bin/studio" talk demo --out "$HERE/out" >&2 \
        && say "wrote $HERE/out/talk_demo.mp4 (open it in any video player)"
      exit 2
    fi
    exec "$VENV/bin/python" main.py "$@"
    ;;
  test)
    system_deps test
    python_deps test
    export PYTHONDONTWRITEBYTECODE=1
    if [ "$OS" = "Linux" ] && [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null; then
      exec xvfb-run -a -s "-screen 0 1920x1200x24" "$VENV/bin/python" -m pytest "$@"
    fi
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: ./bootstrap.sh run|test [ARGS]" >&2
    exit 2
    ;;
esac
