# Sourced by scripts/demo and scripts/test: make sure a virtual environment can
# be created (Debian ships venv support in a separate package), create .venv,
# and define $VENV. Installs Debian packages with apt-get when run as root;
# otherwise says what to install.

PYTHON=${PYTHON:-python3}
VENV=${RECONDIFF_VENV:-.venv}

apt_install() {
  # apt_install PKG...: install Debian packages that are not installed yet.
  local missing=() pkg
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "recondiff: please install the equivalent of: ${missing[*]}" >&2
    return 1
  fi
  if [ "$(id -u)" = 0 ]; then
    echo "recondiff: installing Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "recondiff: please run: sudo apt-get install ${missing[*]}" >&2
    return 1
  fi
}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "recondiff: $PYTHON not found; install Python 3.11 or newer (Debian: apt-get install python3)" >&2
  exit 2
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "recondiff: needs Python 3.11 or newer; $PYTHON is $("$PYTHON" --version 2>&1)" >&2
  exit 2
fi
if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    # Debian's python3 lacks ensurepip until python3-venv is installed.
    apt_install python3-venv || exit 2
  fi
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
