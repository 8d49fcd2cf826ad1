#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the test suite needs, only when they are missing:
#   make          the README's commands
#   libstdc++6,   librocketmq.so (the official C++ client inside the PyPI `rocketmq` wheel, used by
#   libgcc-s1     the interop tests) links only these plus libc and a zlib bundled in the wheel
#   openssl       the gRPC proxy TLS tests make a throw-away self-signed certificate
#   redis-server  the Redis idempotency-store tests and the Celery chord test (Redis result
#                 backend) start a real server on a free loopback port
#   chromium,     the dashboard's browser test (tests/django/test_dashboard_browser.py) drives Debian's
#   chromium-driver  headless Chromium through Selenium and chromedriver
#   fuse3         fusermount3 and libfuse3 for the power-cut tests (tests/support/lazyfs.py, a FUSE
#                 filesystem that drops unsynced writes; they need /dev/fuse and root, and fail without)
#   gcc,          the C compiler and the interpreter's headers for the mypyc build of the hot modules
#   python3.11-dev  (tools/build_accel.py; test_accel.py requires it; `make run` falls back to pure
#                 Python without them). Headers are looked for where the venv's interpreter expects
#                 them, so a pyenv/self-built Python that ships its own needs no package.
# Run by `make test` (and so by .ci/run). Without root and sudo it prints what to install instead.
set -euo pipefail

missing=()
command -v make >/dev/null 2>&1 || missing+=(make)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v fusermount3 >/dev/null 2>&1 || missing+=(fuse3)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
py="${PYTHON:-python3.11}"
if command -v "$py" >/dev/null 2>&1 &&
    ! "$py" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
    missing+=(python3.11-dev)
fi
libs=$("$(command -v ldconfig || echo /sbin/ldconfig)" -p 2>/dev/null || true)
for pair in libstdc++.so.6:libstdc++6 libgcc_s.so.1:libgcc-s1; do
    if ! grep -qF "${pair%%:*}" <<<"$libs"; then
        missing+=("${pair##*:}")
    fi
done
((${#missing[@]})) || exit 0

sudo=""
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo"
    else
        echo "missing system packages: ${missing[*]} -- install them with: apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi
echo "installing missing system packages: ${missing[*]}" >&2
$sudo apt-get update
$sudo apt-get install -y --no-install-recommends "${missing[@]}"
