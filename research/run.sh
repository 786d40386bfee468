#!/usr/bin/env bash
# research/run.sh NAME [compare args...]: one research grid on the validation split, logged under research/NAME.
set -euo pipefail
name=$1; shift
mkdir -p research/$name
echo "fedaid-lite compare --set fed.eval_split=val $* --out runs/research/$name" > research/$name/command.txt
.venv/bin/fedaid-lite compare --quiet --jobs 2 --set fed.eval_split=val "$@" --out runs/research/$name > research/$name/log.txt 2>&1
cp runs/research/$name/results.csv runs/research/$name/summary.md research/$name/
