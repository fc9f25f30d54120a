#!/usr/bin/env bash
# The system packages the lab and its tests use, installed with apt-get where missing (Debian/Ubuntu,
# as root or with passwordless sudo). `make run` and `make test` call it; nothing is installed when
# every command is already there, and a machine without apt-get only gets a warning naming them.
#   tmux                  the control room's end-to-end test drives the real `lab` in tmux
#   chromium(-driver)     the browser view's test opens `lab serve` in headless Chromium
#   pdflatex, pdftotext   `lab publish` compiles its paper; its test reads the PDF back
#   bwrap                 generated experiment code runs only inside bubblewrap (agents/sandbox.py)
set -uo pipefail
want=()
command -v tmux >/dev/null 2>&1 || want+=(tmux)
{ command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; } || want+=(chromium)
command -v chromedriver >/dev/null 2>&1 || want+=(chromium-driver)
command -v pdflatex >/dev/null 2>&1 || want+=(texlive-latex-base texlive-latex-recommended lmodern)
command -v pdftotext >/dev/null 2>&1 || want+=(poppler-utils)
command -v bwrap >/dev/null 2>&1 || want+=(bubblewrap)
[ ${#want[@]} -eq 0 ] && exit 0
sudo=()
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo=(sudo -n)
if command -v apt-get >/dev/null 2>&1 \
   && "${sudo[@]}" apt-get update -qq \
   && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null; then
    exit 0
fi
echo "warning: could not install ${want[*]} (the tests that need them are skipped or fail); install them with your package manager" >&2
exit 0
