#!/bin/sh
# node_check.sh HELPER_TEST.js ASSET.js...: node --check on every asset, then the helper tests.
# Exit 77 (ctest: skipped) when node is not installed.
if ! command -v node >/dev/null 2>&1; then
  echo "SKIPPED: node is not installed; the web page's JavaScript was not checked"
  exit 77
fi
test_js=$1
shift
for f in "$@"; do
  node --check "$f" || { echo "FAIL: node --check $f"; exit 1; }
  echo "ok: node --check $f"
done
node "$test_js"
