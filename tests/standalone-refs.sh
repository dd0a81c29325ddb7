#!/usr/bin/env bash
# Usage: standalone-refs.sh REPO_DIR
# The repository stands alone: no tracked text file refers to design notes
# kept outside it (../shared/, DESIGN.md, IC-REFERENCE, NGTCP2-NOTES) or to
# an issue tracker's numbers ("issue 3"). Prints each hit as file:line and
# exits 1 when there is one.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 REPO_DIR" >&2; exit 2; }
cd "$1"
pattern='\.\./shared/|DESIGN\.md|IC-REFERENCE|NGTCP2-NOTES|\b[Ii]ssues? #?[0-9]+\b'
# git grep reads tracked files only; -I skips binary ones (the report PNG).
if hits=$(git grep -nIE "$pattern" -- . ':!tests/standalone-refs.sh' 2>/dev/null); then
    echo "$hits"
    echo "FAIL: these lines point outside the repository or at issue numbers" >&2
    exit 1
fi
echo "ok: no reference outside the repository"
