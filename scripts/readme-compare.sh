#!/usr/bin/env bash
# Regenerates the comparison tables in README.md from real `rollout compare` runs (between the
# <!-- compare:NAME --> and <!-- /compare:NAME --> markers).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-1}"
cargo build --release --quiet
table() { ./target/release/rollout compare --image "$1" --runs "$runs" 2>/dev/null; }
splice() {
  local name="$1" file="$2"
  python3 - "$name" "$file" <<'PY'
import sys, re
name, file = sys.argv[1], sys.argv[2]
text = open("README.md").read()
new = open(file).read().strip()
pattern = re.compile(r"<!-- compare:%s -->.*?<!-- /compare:%s -->" % (name, name), re.S)
if not pattern.search(text):
    sys.exit("README.md has no compare:%s markers" % name)
text = pattern.sub(lambda m: "<!-- compare:%s -->\n%s\n<!-- /compare:%s -->" % (name, new, name), text)
open("README.md", "w").write(text)
PY
}
tmp="$(mktemp -d)"
table v2 > "$tmp/healthy"
table v2-regression > "$tmp/failing"
splice healthy "$tmp/healthy"
splice failing "$tmp/failing"
rm -rf "$tmp"
