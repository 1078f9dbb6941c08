#!/usr/bin/env bash
# The manual pages (ctest: service_man), hand-written roff under man/:
#   - each renders without a single groff warning;
#   - udpsievectl(8) names every command form and global option `udpsievectl --help` lists
#     (which comes from the command table), and udpsieved(8) every option of `udpsieved --help`;
#   - udpsieve.yaml(5) names every key of docs/configuration.md's key tables, and
#     udpsieve-rules(5) every match field and action there;
# so a command, option or key added without its manual page fails here.
#
#   tests/service/man_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v groff >/dev/null || fail "groff is missing (scripts/setup.sh installs groff-base)"

for page in udpsieved.8 udpsievectl.8 udpsieve.yaml.5 udpsieve-rules.5; do
  [[ -f $src/man/$page ]] || fail "man/$page is missing"
  out=$(groff -man -Tutf8 -ww -z "$src/man/$page" 2>&1) || fail "groff failed on $page: $out"
  [[ -z $out ]] || fail "groff warns about $page: $out"
done
echo "ok: every page renders without warnings"

# Names are searched for in the roff source with its escaped hyphens undone.
text_of() { sed -e 's/\\-/-/g' -e 's/\\(em/-/g' "$src/man/$1"; }
missing=()
need() { grep -qF -- "$2" <(text_of "$1") || missing+=("$1: $2"); }

# udpsievectl: each command's words (up to the first option or operand) and the global options.
while read -r words; do
  need udpsievectl.8 "$words"
done < <("$build/udpsievectl" --help |
  awk '/^commands:/ {on = 1; next} /^global options/ {on = 0}
       on && /^  [a-z]/ {w = $1; if ($2 ~ /^[a-z]+$/) w = w " " $2; print w}')
for option in $("$build/udpsievectl" --help | awk '/^global options/ {on = 1; next} on && /^  --/ {print $1}'); do
  need udpsievectl.8 "$option"
done
for option in $("$build/udpsieved" --help | grep -o -- '--[a-z-]*' | sort -u); do
  need udpsieved.8 "$option"
done

# Configuration keys: the first column of the key tables between "## Daemon configuration" and
# "## Rule files"; match fields and actions from the tables after "### Match fields".
conf=$src/docs/configuration.md
for key in $(awk '/^## Daemon configuration/ {on = 1} /^## Rule files/ {on = 0}
                  on && /^\| `[a-z_]+` \|/ {split($0, c, "`"); print c[2]}' "$conf" | sort -u); do
  need udpsieve.yaml.5 "$key"
done
for field in $(awk '/^### Match fields/ {on = 1} /^### Runtime rules/ {on = 0}
                    on && /^\| `/ {n = split($0, c, "|"); print c[2]}' "$conf" |
               grep -o '`[a-z_]*' | tr -d '`' | sort -u); do
  need udpsieve-rules.5 "$field"
done
if ((${#missing[@]} > 0)); then
  printf 'missing from the manual pages:\n' >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 1
fi
echo "ok: the pages name every command, option, key and match field"
