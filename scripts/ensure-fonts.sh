#!/usr/bin/env bash
# Install the Debian font packages the synthetic renderer uses, if missing.
set -euo pipefail
need=()
[ -e /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf ] || need+=(fonts-liberation)
[ -e /usr/share/fonts/truetype/freefont/FreeSans.ttf ] || need+=(fonts-freefont-ttf)
[ -e /usr/share/fonts/truetype/croscore/Arimo-Regular.ttf ] || need+=(fonts-croscore)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo -n"; else
  echo "warning: missing font packages ${need[*]} (no root); the renderer falls back to the fonts present" >&2
  exit 0
fi
echo "installing font packages: ${need[*]}"
$SUDO apt-get install -y -q "${need[@]}" >/dev/null 2>&1 || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q "${need[@]}" >/dev/null; } \
  || echo "warning: could not install ${need[*]}; the renderer falls back to the fonts present" >&2
