#!/usr/bin/env bash
# Installs the dependencies of the interop clients (relying parties and the auth0 Management SDKs):
#   node/    npm ci (exact versions from package-lock.json)
#   python/  virtualenv in python/.venv with requirements.txt
# Safe to run repeatedly.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

die() {
  echo "interop install: $*" >&2
  exit 1
}

for tool in node npm python3; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found on PATH; install it first (Node.js >= 20.19 with npm, Python >= 3.10)"
done

# auth0@7 needs Node.js ^20.19 (or 22.12 and later).
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' \
  || die "Node.js >= 20.19 is required, found $(node --version)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || die "Python >= 3.10 is required, found $(python3 --version 2>&1)"
python3 -c 'import ensurepip, venv' 2>/dev/null \
  || die "python3 cannot create virtualenvs (on Debian/Ubuntu: apt-get install python3-venv)"

echo "interop install: node dependencies"
(cd "$here/node" && npm ci --no-audit --no-fund)

echo "interop install: python virtualenv"
venv="$here/python/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/python/requirements.txt"

echo "interop install: done"
