#!/usr/bin/env bash
# Checks that every Markdown file cited in comments and documentation exists in the repository, and that every
# cited section (a file name ending in .md followed by §5.2, §3–4 or §8, §13.1) is a numbered heading of that file
# (`## 5.`, `### 5.2 `).
#
# Usage: scripts/check_citations.sh [-q]     (-q: print failures and the summary only)
# Scans Sources/, Tests/, Fuzz/, scripts/, Documentation/, Benchmarks/, Tools/, Examples/ and README.md.
# A cited path resolves relative to the citing file's folder first, then to the repository root.
# Exit status: 0 when every citation resolves, 1 otherwise (each failure names file:line).

set -u
cd "$(dirname "$0")/.." || exit 2

quiet=0
[ "${1:-}" = "-q" ] && quiet=1

# Names of files that commands write at run time (not documents of the repository).
generated='^(results\.md|table\.md|ddm-ablation\.md)$'

scan_paths=(Sources Tests Fuzz scripts Documentation Benchmarks Tools Examples README.md)
existing=()
for p in "${scan_paths[@]}"; do [ -e "$p" ] && existing+=("$p"); done

# One citation: a path ending in .md, an optional "§N", then optional further sections (", §M", " and §M", "–M").
sec='[0-9]+(\.[0-9]+)*'
pattern="[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.md( ?§ ?${sec}((, ?| and |–|-)§? ?${sec})*)?"

refs=0
fails=0

# True when `file` has a heading numbered `n` ("## 5. Title", "### 5.2 Title", "## §5 Title").
has_section() {
  local file=$1 n=$2 esc
  esc=$(printf '%s' "$n" | sed 's/\./\\./g')
  grep -Eq "^#+[[:space:]]+§?${esc}\.?([[:space:]]|$)" "$file"
}

while IFS= read -r hit; do
  file=${hit%%:*}
  rest=${hit#*:}
  line=${rest%%:*}
  ref=${rest#*:}
  path=${ref%%.md*}.md
  case $path in //*) continue ;; esac                       # part of a URL
  base=$(basename "$path")
  if [[ $base =~ $generated ]]; then continue; fi
  refs=$((refs + 1))

  target=""
  dir=$(dirname "$file")
  if [ -f "$dir/$path" ]; then target="$dir/$path"; elif [ -f "$path" ]; then target="$path"; fi
  if [ -z "$target" ]; then
    echo "FAIL $file:$line: $ref (no file $path in the repository)"
    fails=$((fails + 1))
    continue
  fi

  bad=""
  sections=$(printf '%s' "${ref#"$path"}" | grep -Eo "$sec" || true)
  for n in $sections; do
    has_section "$target" "$n" || bad="$bad §$n"
  done
  if [ -n "$bad" ]; then
    echo "FAIL $file:$line: $ref (no heading$bad in $target)"
    fails=$((fails + 1))
  elif [ $quiet -eq 0 ]; then
    echo "ok   $file:$line: $ref"
  fi
done < <(grep -rInoE "$pattern" "${existing[@]}" 2>/dev/null)

echo "$refs citations checked, $fails failing"
[ $fails -eq 0 ]
