#!/usr/bin/env bash
# Create or update the development environment of centertrack_ros in <repo>/.venv.
#
# Idempotent: every step records a stamp (a hash of its inputs) under .venv/.setup/ and is
# skipped while that stamp is current, so a second run takes a few seconds and changes nothing.
#
# Steps
#   1. venv        create .venv with python3 (3.10 .. 3.13; the ROS wheels exist for those)
#   2. packages    pip install -r scripts/requirements.txt (pinned, locked by constraints.txt;
#                  lines marked "# no-deps" are installed without their dependencies)
#   3. cmake fix   point the ROS wheels' exported CMake files at this machine's Python/numpy
#   4. ament path  a .pth hook puts .venv on AMENT_PREFIX_PATH for every venv interpreter
#   5. msg         build each interface package of msg/ (vision_msgs, autoware_perception_msgs,
#                  foxglove_msgs) into .venv, only if `import <package>.msg` fails
#   6. package     editable install of centertrack_ros (console scripts in .venv/bin) and its
#                  share directory (launch/, config/, models/, package.xml, ament index marker)
#                  linked into .venv/share, like `colcon build --symlink-install`
#
# Environment
#   PYTHON=python3.x          interpreter used to create the venv (default: python3)
#   CENTERTRACK_VENV=<dir>    venv location (default: <repo>/.venv)
#   CENTERTRACK_FORCE=1       ignore the stamps and redo every step
#
# Usage: scripts/setup_env.sh [--check]
#   --check   change nothing; exit 0 when the environment is complete and current, 1 (listing
#             the stale steps) otherwise
set -euo pipefail

CHECK=0
case "${1:-}" in
  --check) CHECK=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CENTERTRACK_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
STAMPS="$VENV/.setup"
REQ="$ROOT/scripts/requirements.txt"
LOCK="$ROOT/scripts/constraints.txt"
MSG_DIR="$ROOT/msg"
T0=$SECONDS

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

hash_of() {  # hash_of <file-or-string>...: one sha256 over the contents of files / the strings
  local x
  for x in "$@"; do
    if [[ -f "$x" ]]; then cat -- "$x"; else printf '%s\n' "$x"; fi
  done | sha256sum | cut -d' ' -f1
}
stamp_ok() { [[ -z "${CENTERTRACK_FORCE:-}" && -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
stamp_set() { mkdir -p "$STAMPS"; printf '%s\n' "$2" > "$STAMPS/$1"; }
STALE=()
todo() {  # todo <step>: true when the step must run; in --check mode records it and is false
  if ((CHECK)); then STALE+=("$1"); return 1; fi
}

# --- 1. venv -----------------------------------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c '' 2>/dev/null; then
  ((CHECK)) && { log "stale: venv ($VENV missing or broken)"; exit 1; }
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON=python3.11 or similar)"
  "$PYTHON" - <<'EOF' || die "Python 3.10 to 3.13 is required (the ros-* wheels exist for those)"
import sys
sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 13) else 1)
EOF
  log "creating $VENV with $("$PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
# Interpreter facts. (Not with -S: the venv's own prefix and site-packages are known only once
# site.py has run.) _ROS_WHEELS_BOOTSTRAP_COMPLETE=1 skips the ROS hook's re-exec; not needed here.
read -r PYVER PURELIB < <(_ROS_WHEELS_BOOTSTRAP_COMPLETE=1 "$VPY" -c '
import sys, sysconfig
print("%d.%d" % sys.version_info[:2], sysconfig.get_paths()["purelib"])')
[[ "$PURELIB" == "$VENV"/* ]] || die "unexpected site-packages $PURELIB for the venv $VENV"

# --- 2. packages -------------------------------------------------------------------------------
PKG_HASH="$(hash_of "$REQ" "$LOCK" "python=$PYVER")"
if ! stamp_ok packages "$PKG_HASH" && todo packages; then
  log "installing pinned packages from scripts/requirements.txt (first time: about 2 minutes)"
  # pip has no per-requirement --no-deps: those lines go in a second call.
  WITH_DEPS="$(mktemp)"
  grep -v -e '^-c ' -e '#[[:space:]]*no-deps' "$REQ" > "$WITH_DEPS"
  mapfile -t NO_DEPS < <(sed -n 's/^\([^#[:space:]]\+\)[[:space:]]*#[[:space:]]*no-deps.*/\1/p' "$REQ")
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$VPY" -m pip install --quiet -c "$LOCK" -r "$WITH_DEPS"
  rm -f "$WITH_DEPS"
  if ((${#NO_DEPS[@]})); then
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$VPY" -m pip install --quiet --no-deps -c "$LOCK" \
      "${NO_DEPS[@]}"
  fi
  rm -f "$STAMPS/cmake-fix"   # freshly (re)installed wheels bring the unpatched CMake files back
  stamp_set packages "$PKG_HASH"
fi

# What is installed (name and version of every distribution but ours), for the steps below.
DISTS_HASH="$(hash_of "$(cd "$PURELIB" && ls -d -- *.dist-info | grep -v '^centertrack_ros-' | sort)")"

# --- 3. cmake fix ------------------------------------------------------------------------------
# The ROS wheels were built against /opt/python/cp3XY-cp3XY; their exported CMake targets name
# that interpreter's include directory and numpy's. Rewrite both to this venv's values, once.
CMAKE_HASH="$DISTS_HASH"
if ! stamp_ok cmake-fix "$CMAKE_HASH" && todo cmake-fix; then
  read -r PY_INC NP_INC < <(_ROS_WHEELS_BOOTSTRAP_COMPLETE=1 "$VPY" -c '
import sysconfig, numpy
print(sysconfig.get_paths()["include"], numpy.get_include())')
  TAG="cp${PYVER/./}"
  OLD_PY_INC="/opt/python/$TAG-$TAG/include/python$PYVER"
  OLD_NP_INC="/opt/python/$TAG-$TAG/lib/python$PYVER/site-packages/numpy/_core/include"
  mapfile -t files < <(grep -lsF -e "$OLD_PY_INC" -e "$OLD_NP_INC" "$VENV"/share/*/cmake/*.cmake || true)
  if ((${#files[@]})); then
    log "rewriting build-machine Python paths in ${#files[@]} CMake file(s)"
    sed -i -e "s|$OLD_NP_INC|$NP_INC|g" -e "s|$OLD_PY_INC|$PY_INC|g" "${files[@]}"
  fi
  stamp_set cmake-fix "$CMAKE_HASH"
fi

# --- 4. ament path -----------------------------------------------------------------------------
# ament_index_python looks packages up on AMENT_PREFIX_PATH. This hook (run by site.py at every
# start of a venv interpreter, before ros_wheels_bootstrapper.pth re-executes it with
# LD_LIBRARY_PATH, hence the name sorting first) prepends the venv prefix, so console scripts,
# `.venv/bin/python` and `.venv/bin/pytest` work without activating anything.
PTH="$PURELIB/centertrack_ros_ament_prefix.pth"
PTH_LINE="import os, sys; _p = [x for x in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if x]; sys.prefix in _p or os.environ.__setitem__('AMENT_PREFIX_PATH', os.pathsep.join([sys.prefix] + _p))"
if [[ ! -f "$PTH" || "$(cat "$PTH")" != "$PTH_LINE" ]] && todo ament-path; then
  printf '%s\n' "$PTH_LINE" > "$PTH"
fi

# --- 5. msg (interface packages the environment lacks) ----------------------------------------
# Each folder of msg/ is one interface package with the upstream definitions (README, "Setup
# details"). A package is built into the venv only when `import <package>.msg` fails (a ROS
# distribution or workspace that has it keeps its own), and rebuilt when we built it before and
# its folder or the toolchain changed, or it went missing. Their dependencies (std_msgs,
# geometry_msgs, builtin_interfaces, unique_identifier_msgs) are ros-* wheels of step 2.
MSG_PACKAGES=(vision_msgs autoware_perception_msgs foxglove_msgs)
importable() { "$VPY" -c "import $1.msg" 2>/dev/null; }
built_before() {  # (before msg/ had one folder per package, vision_msgs' stamp was "msgs")
  [[ -f "$STAMPS/msg-$1" ]] || [[ "$1" == vision_msgs && -f "$STAMPS/msgs" ]]
}
for pkg in "${MSG_PACKAGES[@]}"; do
  pkg_dir="$MSG_DIR/$pkg"
  # Contents and names of its files (a renamed message is another message), and the toolchain.
  pkg_hash="$(hash_of "$pkg_dir"/CMakeLists.txt "$pkg_dir"/package.xml "$pkg_dir"/msg/*.msg \
    "$(cd "$pkg_dir" && ls msg)" "$DISTS_HASH")"
  build_pkg=0
  if built_before "$pkg"; then
    stamp_ok "msg-$pkg" "$pkg_hash" && importable "$pkg" || build_pkg=1
  elif ! importable "$pkg"; then
    build_pkg=1
  else
    log "$pkg is importable already; not building msg/$pkg"
  fi
  if ((build_pkg)) && todo "msg:$pkg"; then
    log "building msg/$pkg into the venv (about 1 minute)"
    BUILD="$VENV/.build/$pkg"
    rm -rf "$BUILD"
    mkdir -p "$BUILD"
    (
      cd "$BUILD"
      export CMAKE_PREFIX_PATH="$VENV" AMENT_PREFIX_PATH="$VENV"
      cmake "$pkg_dir" -DCMAKE_INSTALL_PREFIX="$VENV" -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$VPY" > cmake.log 2>&1 \
        || { tail -40 cmake.log >&2; exit 1; }
      make -j"$(nproc)" install > make.log 2>&1 || { tail -60 make.log >&2; exit 1; }
    ) || die "building msg/$pkg failed (logs in $BUILD)"
    "$VPY" -c "import $pkg.msg" || die "$pkg was built but cannot be imported"
    stamp_set "msg-$pkg" "$pkg_hash"
    if [[ "$pkg" == vision_msgs ]]; then rm -f "$STAMPS/msgs"; fi
  fi
done

# --- 6. package --------------------------------------------------------------------------------
INSTALL_HASH="$(hash_of "$ROOT/setup.py" "$ROOT/setup.cfg" "$ROOT" "$PKG_HASH")"
if ! stamp_ok package "$INSTALL_HASH" && todo package; then
  log "installing centertrack_ros (editable) into the venv"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$VPY" -m pip install --quiet --no-deps --no-build-isolation \
    --editable "$ROOT"
  stamp_set package "$INSTALL_HASH"
fi
# Share directory: symlinks into the source tree, so edits and new files need no reinstall.
link() {  # link <target> <link name>: create or correct a symlink, touching nothing otherwise
  [[ -L "$2" && "$(readlink "$2")" == "$1" ]] && return 0
  todo "share:${2#"$VENV/"}" || return 0
  rm -rf "$2"
  ln -s "$1" "$2"
}
SHARE="$VENV/share/centertrack_ros"
INDEX="$VENV/share/ament_index/resource_index/packages"
((CHECK)) || mkdir -p "$SHARE" "$INDEX"
for item in package.xml launch config models; do
  # (launch/, config/, models/ exist only once they hold a tracked file.)
  if [[ -e "$ROOT/$item" ]]; then link "$ROOT/$item" "$SHARE/$item"; fi
done
link "$ROOT/resource/centertrack_ros" "$INDEX/centertrack_ros"

if ((CHECK)); then
  if ((${#STALE[@]})); then log "stale: ${STALE[*]}"; exit 1; fi
  log "environment in $VENV is complete and current"
  exit 0
fi
log "environment ready in $VENV ($((SECONDS - T0)) s)"
