#!/usr/bin/env bash
# Looks at the built site as a reader would: builds it, serves it on localhost, and takes
# headless Chromium screenshots of the home page, a workflow page and an API page.
# Not run in CI (needs Chromium: `apt-get install -y chromium`).
#
#   bash docs/screenshots.sh [OUT_DIR]        # default: site_screenshots/ (PNG files)
#   MKDOCS=/path/to/mkdocs bash docs/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-site_screenshots}")
mkdir -p "$out"
site=$(mktemp -d)
profile=$(mktemp -d)
port=${PORT:-8765}
"${MKDOCS:-mkdocs}" build --strict --quiet --site-dir "$site"
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$site" >/dev/null 2>&1 &
server=$!
trap 'kill "$server"; rm -rf "$site" "$profile"' EXIT
sleep 1
for page in "index.html home" "any-length/index.html any-length" "api/layers/index.html api-layers" "gallery/index.html gallery"; do
    set -- $page
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --hide-scrollbars --window-size=1280,1600 \
        --screenshot="$out/$2.png" "http://127.0.0.1:$port/$1" 2>/dev/null
done
ls -l "$out"
