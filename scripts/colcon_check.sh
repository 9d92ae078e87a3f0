#!/usr/bin/env bash
# Build centertrack_ros the ROS way and run what colcon installed (`make colcon-check`).
#
# In a temporary ROS 2 workspace: src/centertrack_ros is this repository as a clone has it
# (tracked files and new ones git does not ignore; msg/ left out, it is COLCON_IGNOREd), beside
# it the interface packages of msg/ that the lean node needs (vision_msgs; --msgs names others),
# as a user puts a package the distribution lacks into the workspace. `colcon build` builds them
# on top of an underlay that stands for /opt/ros/<distro>: the development venv's ROS 2 (the
# ros-* wheels) and colcon, or with --fresh-venv a new venv holding only
# scripts/requirements-runtime.txt plus the build tools (interface generators, colcon), so that
# torch, onnx and the tools' packages are not even installed. Then, in a shell that sources
# install/setup.bash, scripts/colcon_smoke.py checks that Python and the ament index find the
# installed copies and runs the installed centertrack_node once over DDS with an exported .onnx,
# engine onnxruntime and torch blocked: a frame in, tracked detections out.
# Exit status 0 when all of it works.
#
# Usage: scripts/colcon_check.sh [--onnx FILE] [--msgs "PKG ..."] [--fresh-venv] [--keep DIR]
#   --onnx FILE    the exported model to run (default: export the bundled model first with the
#                  development venv's centertrack_export, about half a minute)
#   --msgs LIST    interface packages of msg/ to build in the workspace (default vision_msgs)
#   --fresh-venv   build and run in a new venv made from requirements-runtime.txt (pip fetches
#                  the packages: about a minute more, and the registry must be reachable)
#   --keep DIR     work in DIR (created, must not exist) and keep it; default: a temporary
#                  directory, removed at the end
# Environment: CENTERTRACK_VENV (the development venv, default <repo>/.venv, made by
# `make setup`); ROS_DOMAIN_ID (default: a random one of 1..101; discovery stays on this machine).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEV_VENV="${CENTERTRACK_VENV:-$ROOT/.venv}"
ONNX=""
MSGS="vision_msgs"
KEEP=""
FRESH=0
while (($#)); do
  case "$1" in
    --onnx) ONNX="$(realpath "$2")"; shift 2 ;;
    --msgs) MSGS="$2"; shift 2 ;;
    --fresh-venv) FRESH=1; shift ;;
    --keep) KEEP="$2"; shift 2 ;;
    *) echo "usage: $0 [--onnx FILE] [--msgs \"PKG ...\"] [--fresh-venv] [--keep DIR]" >&2
       exit 2 ;;
  esac
done
log() { printf '[colcon-check] %s\n' "$*" >&2; }
die() { printf '[colcon-check] error: %s\n' "$*" >&2; exit 1; }
[[ -z "$ONNX" || -f "$ONNX" ]] || die "no such model: $ONNX"

if [[ -n "$KEEP" ]]; then
  [[ ! -e "$KEEP" ]] || die "$KEEP exists"
  mkdir -p "$KEEP"
  WS="$(realpath "$KEEP")"
else
  WS="$(mktemp -d "${TMPDIR:-/tmp}/centertrack_colcon.XXXXXX")"
  trap 'rm -rf "$WS"' EXIT
fi
T0=$SECONDS

# --- the model -----------------------------------------------------------------------------------
if [[ -z "$ONNX" ]]; then
  [[ -x "$DEV_VENV/bin/centertrack_export" ]] || die "no centertrack_export in $DEV_VENV (make setup)"
  ONNX="$WS/bundled.onnx"
  "$DEV_VENV/bin/centertrack_export" --output "$ONNX" --no-check > "$WS/export.log" 2>&1 \
    || { cat "$WS/export.log" >&2; die "exporting the bundled model failed"; }
  log "exported the bundled model: $((SECONDS - T0)) s"
fi

# --- the underlay ----------------------------------------------------------------------------------
if ((FRESH)); then
  VENV="$WS/venv"
  T1=$SECONDS
  # The development venv's interpreter underneath (same Python as the ros-* wheels there).
  BASE_PY="$(_ROS_WHEELS_BOOTSTRAP_COMPLETE=1 "$DEV_VENV/bin/python" -c \
    'import sys; print(sys._base_executable)')"
  "$BASE_PY" -m venv "$VENV"
  export PIP_DISABLE_PIP_VERSION_CHECK=1
  "$VENV/bin/python" -m pip install --quiet -r "$ROOT/scripts/requirements-runtime.txt" \
    || die "pip install -r scripts/requirements-runtime.txt failed"
  # Build tools only (what rosdep and apt give a ROS user): the generators of requirements.txt's
  # section for msg/ and colcon, at the locked versions.
  mapfile -t TOOLS < <(sed -n '/^# --- Interface generators/,/^# --- /{/^[a-z]/s/[=[:space:]].*//p}' \
    "$ROOT/scripts/requirements.txt")
  ((${#TOOLS[@]} >= 10)) || die "cannot find the build tools in scripts/requirements.txt"
  "$VENV/bin/python" -m pip install --quiet -c "$ROOT/scripts/constraints.txt" "${TOOLS[@]}" \
    || die "pip install ${TOOLS[*]} failed"
  # As setup_env.sh does: the wheels' CMake files name their build machine's include paths.
  read -r PYVER PY_INC NP_INC < <(_ROS_WHEELS_BOOTSTRAP_COMPLETE=1 "$VENV/bin/python" -c '
import sys, sysconfig, numpy
print("%d.%d" % sys.version_info[:2], sysconfig.get_paths()["include"], numpy.get_include())')
  TAG="cp${PYVER/./}"
  grep -lsF "/opt/python/$TAG-$TAG/" "$VENV"/share/*/cmake/*.cmake | xargs -r sed -i \
    -e "s|/opt/python/$TAG-$TAG/lib/python$PYVER/site-packages/numpy/_core/include|$NP_INC|g" \
    -e "s|/opt/python/$TAG-$TAG/include/python$PYVER|$PY_INC|g"
  if "$VENV/bin/python" -c 'import torch' 2>/dev/null; then die "torch is in the fresh venv"; fi
  log "fresh venv from requirements-runtime.txt and the build tools: $((SECONDS - T1)) s"
else
  VENV="$DEV_VENV"
fi
VPY="$VENV/bin/python"
[[ -x "$VENV/bin/colcon" ]] || die "no colcon in $VENV (run make setup)"

# --- the workspace ---------------------------------------------------------------------------------
mkdir -p "$WS/src/centertrack_ros"
(
  cd "$ROOT"
  # What a clone of the working tree holds; files deleted but not yet committed are absent.
  git ls-files -z --cached --others --exclude-standard -- . ':!msg' \
    | while IFS= read -r -d '' file; do [[ -f "$file" ]] && printf '%s\0' "$file"; done \
    | tar --null -T - -cf - | tar -C "$WS/src/centertrack_ros" -xf -
)
for pkg in $MSGS; do
  [[ -f "$ROOT/msg/$pkg/package.xml" ]] || die "no interface package msg/$pkg"
  cp -r "$ROOT/msg/$pkg" "$WS/src/$pkg"
  rm -f "$WS/src/$pkg/COLCON_IGNORE"   # it is meant for this: a workspace without the package
done
log "workspace $WS: centertrack_ros, $MSGS; underlay $VENV"

# --- colcon build ----------------------------------------------------------------------------------
# The underlay, as /opt/ros/<distro> is after sourcing its setup.bash.
export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH"
T2=$SECONDS
if ! (cd "$WS" && colcon build --base-paths src \
        --cmake-args -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release \
        -DPython3_EXECUTABLE="$VPY" > "$WS/build.log" 2>&1); then
  tail -80 "$WS/build.log" >&2
  die "colcon build failed (log: $WS/build.log)"
fi
grep -E '^(Finished|Summary)' "$WS/build.log" >&2 || true
log "colcon build: $((SECONDS - T2)) s"

# --- the installed package, over DDS ---------------------------------------------------------------
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$((RANDOM % 101 + 1))}" ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
T3=$SECONDS
# (setup.bash reads unset variables: not under set -u)
set +u
# shellcheck disable=SC1091
source "$WS/install/setup.bash"
set -u
"$VPY" "$WS/src/centertrack_ros/scripts/colcon_smoke.py" --workspace "$WS" --onnx "$ONNX" \
  --msgs "$MSGS"
log "installed node over DDS: $((SECONDS - T3)) s; all: $((SECONDS - T0)) s"
