#!/usr/bin/env bash
# The last step of `make test`: build the wheel, install it into a fresh venv outside the checkout, and
# run from another folder what a new user runs first. Everything a user runs must work from a wheel.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
torch=${TORCH:-torch==2.13.0}
work=$(mktemp -d "${TMPDIR:-/tmp}/ecm-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT
unset PYTHONPATH

echo "wheel check: building the wheel"
"$root/.venv/bin/python" -m pip wheel -q --no-deps -w "$work/dist" "$root" 2>&1 | grep -v "^WARNING: Location" || true
wheel=$(ls "$work"/dist/ecm_tal-*.whl)

echo "wheel check: installing $(basename "$wheel") into a fresh venv"
"$python" -m venv "$work/venv"
pip=("$work/venv/bin/python" -m pip install -q --disable-pip-version-check)
# torch first, pinned: a plain `torch` would pull a multi-GB CUDA build.
"${pip[@]}" "$torch" 2>&1 | grep -v "^WARNING: Location" || true
"${pip[@]}" "$wheel" 2>&1 | grep -v "^WARNING: Location" || true

mkdir "$work/elsewhere"
cd "$work/elsewhere"
ecm="$work/venv/bin/ecm"
where=$("$work/venv/bin/python" -c "import ecm; print(ecm.__file__)")
case "$where" in
  "$work"/venv/*) ;;
  *) echo "wheel check: ecm imported from $where, not from the installed wheel" >&2; exit 1 ;;
esac

echo "wheel check: ecm config list / show"
"$ecm" config list > recipes.txt  # not piped into grep -q: its early exit could break ecm's pipe
grep -q "^thumos14 " recipes.txt
"$ecm" config show synthetic-tiny > tiny.yaml
grep -q "synthetic: tiny" tiny.yaml
echo "wheel check: ecm demo --preset tiny --epochs 2"
"$ecm" demo --preset tiny --epochs 2 --out demo --quiet > demo.log 2>&1 || { cat demo.log >&2; exit 1; }
test -s demo/report.md -a -s demo/predictions.json
echo "wheel check: ecm train synthetic-tiny --epochs 3"
"$ecm" train synthetic-tiny --out run --epochs 3 --quiet > train.log 2>&1 || { cat train.log >&2; exit 1; }
test -s run/summary.json -a -s run/checkpoints/last.pt
echo "wheel check: ecm train thumos14-student on that run, ecm localize with the student"
"$ecm" train thumos14-student --out student --epochs 1 --quiet --set data.root=data/synthetic/tiny \
  --set student.teacher=run --set student.window=64 --set student.levels=3 --set student.hidden_dim=32 \
  > student.log 2>&1 || { cat student.log >&2; exit 1; }
"$ecm" localize student --out student.json --quiet > localize.log 2>&1 || { cat localize.log >&2; exit 1; }
test -s student/pseudo_labels.json -a -s student.json
echo "wheel check: passed (installed wheel, run from $work/elsewhere)"
