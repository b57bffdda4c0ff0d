# Sourced by quickstart.sh and test.sh: installs what a fresh Debian machine with Swift lacks.
ensure_deps() {
    if [ ! -f /usr/include/zlib.h ] && command -v apt-get >/dev/null; then
        (apt-get update -qq && apt-get install -y -qq zlib1g-dev) >/dev/null
    fi
    local wanted=("rocketmq==0.4.4" "$@")
    if ! python3 -c "import rocketmq.client" 2>/dev/null || { [ $# -gt 0 ] && ! python3 -c "import pytest" 2>/dev/null; }; then
        python3 -m pip install --quiet --disable-pip-version-check "${wanted[@]}"
    fi
}
