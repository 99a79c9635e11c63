#!/usr/bin/env bash
# Build quickfix 1.16.0 (PyPI's source) with SSL (HAVE_SSL, OpenSSL) and install it into the
# active Python environment. PyPI's quickfix compiles without SSL, so SocketUseSSL needs this.
# Needs a C++ compiler and OpenSSL's headers (Debian/Ubuntu: g++ libssl-dev).
#   scripts/quickfix_ssl.sh          build (once; the wheel is kept) and install
#   scripts/quickfix_ssl.sh --check  exit 0 if the installed quickfix has SSL, else 1
set -euo pipefail
VERSION=1.16.0
WHEELS="${OMS_QUICKFIX_WHEELS:-$HOME/.cache/oms-ci/quickfix-ssl}"

has_ssl() {
    python - <<'PY'
import os, sys, tempfile
try:
    import quickfix as fix
except ImportError:
    sys.exit(1)
class App(fix.Application):
    def onCreate(self, s): pass
    def onLogon(self, s): pass
    def onLogout(self, s): pass
    def toAdmin(self, m, s): pass
    def fromAdmin(self, m, s): pass
    def toApp(self, m, s): pass
    def fromApp(self, m, s): pass
with tempfile.TemporaryDirectory() as d:
    cfg = os.path.join(d, "probe.cfg")
    with open(cfg, "w") as f:
        f.write("[DEFAULT]\nConnectionType=acceptor\nStartTime=00:00:00\nEndTime=00:00:00\n"
                "UseDataDictionary=N\n\n[SESSION]\nBeginString=FIX.4.4\nSenderCompID=A\n"
                "TargetCompID=B\nSocketAcceptPort=1\n")
    try:
        fix.SSLSocketAcceptor(App(), fix.MemoryStoreFactory(), fix.SessionSettings(cfg))
    except fix.ConfigError as exc:
        sys.exit(1 if "HAVE_SSL" in str(exc) else 0)
sys.exit(0)
PY
}

if [ "${1:-}" = "--check" ]; then
    has_ssl
    exit $?
fi
if has_ssl; then
    echo "quickfix with SSL is installed"
    exit 0
fi
wheel="$(ls "$WHEELS"/quickfix-"$VERSION"-*.whl 2>/dev/null | head -n1 || true)"
if [ -z "$wheel" ]; then
    echo "building quickfix $VERSION with SSL (about ten minutes, once)"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    python -m pip download -q --no-deps --no-binary :all: -d "$work" "quickfix==$VERSION"
    tar xzf "$work"/quickfix-"$VERSION".tar.gz -C "$work"
    python -m pip install -q setuptools wheel
    (cd "$work/quickfix-$VERSION" &&
        python setup.py -q build_ext -j "$(nproc)" --define HAVE_SSL --libraries ssl,crypto \
            bdist_wheel -d "$WHEELS" >"$work/build.log" 2>&1) ||
        { tail -n 30 "$work/build.log"; echo "quickfix build failed"; exit 1; }
    wheel="$(ls "$WHEELS"/quickfix-"$VERSION"-*.whl | head -n1)"
fi
python -m pip install -q --no-deps --force-reinstall "$wheel"
has_ssl || { echo "the installed quickfix still has no SSL"; exit 1; }
echo "quickfix $VERSION with SSL installed"
