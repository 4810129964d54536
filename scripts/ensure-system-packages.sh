#!/usr/bin/env bash
# Install the Debian packages edgecv needs, if missing: fonts for the synthetic renderer, Mosquitto (the local
# MQTT broker for IoT Jobs), and libpython3.11 (Triton's Python-backend stub links it).
set -euo pipefail
need=()
[ -e /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf ] || need+=(fonts-liberation)
[ -e /usr/share/fonts/truetype/freefont/FreeSans.ttf ] || need+=(fonts-freefont-ttf)
[ -e /usr/share/fonts/truetype/croscore/Arimo-Regular.ttf ] || need+=(fonts-croscore)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
[ -e /usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0 ] || [ -e /usr/lib/aarch64-linux-gnu/libpython3.11.so.1.0 ] \
  || need+=(libpython3.11)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo -n"; else
  echo "warning: missing Debian packages ${need[*]} (no root): fonts fall back, MQTT/Triton tests may fail" >&2
  exit 0
fi
echo "installing Debian packages: ${need[*]}"
$SUDO apt-get install -y -q "${need[@]}" >/dev/null 2>&1 || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q "${need[@]}" >/dev/null; } \
  || echo "warning: could not install ${need[*]}" >&2
