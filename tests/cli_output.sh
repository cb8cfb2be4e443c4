#!/usr/bin/env bash
# `novaq local` output handling (issue 16): a -o that cannot be written (a directory, a
# missing directory) fails before any work, naming the path; SIGTERM or SIGINT during a
# compression leaves no "<out>.tmp.<pid>" behind, and the process dies of the signal.
set -u
novaq=$1 data=$2 dir=$3
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
fail=0
model=$data/novaq-tiny-llama
bad() { echo "FAIL: $*"; cat err.txt 2>/dev/null; fail=1; }

# -o is a directory: refused before calibration (which prints "calibration:" when done) and
# before the input is read, with the path in the message.
mkdir outdir
"$novaq" local "$model" -o outdir --calib "$model/calib.txt" >out.txt 2>err.txt
rc=$?
[ $rc = 1 ] || bad "-o outdir: exit $rc, want 1"
grep -qF "outdir: the output is a directory" err.txt || bad "-o outdir: no message naming it"
grep -q "calibration:" err.txt && bad "-o outdir: calibration ran before the output was checked"
ls | grep -q '\.tmp\.' && bad "-o outdir: a temporary file is left"

# -o in a missing directory
"$novaq" local "$model" -o missing/sub/x.novaq >out.txt 2>err.txt
rc=$?
[ $rc = 1 ] || bad "-o missing/sub/x.novaq: exit $rc, want 1"
grep -qF "missing/sub/x.novaq: output directory missing/sub: No such file" err.txt || bad "-o missing dir: message"

# A signal in the middle of writing: wait for the temporary file, then signal. Background
# jobs of a script ignore SIGINT, so that run resets it to the default first (env).
for sig in TERM INT; do
  rm -f sig.novaq*
  if [ $sig = INT ]; then env --default-signal=INT "$novaq" local "$model" -o sig.novaq 2>err.txt &
  else "$novaq" local "$model" -o sig.novaq 2>err.txt & fi
  pid=$!
  for _ in $(seq 200); do ls sig.novaq.tmp.* >/dev/null 2>&1 && break; sleep 0.05; done
  ls sig.novaq.tmp.* >/dev/null 2>&1 || bad "SIG$sig: no temporary file appeared"
  kill -$sig $pid
  wait $pid
  rc=$?
  want=$((128 + $(kill -l $sig)))
  [ $rc = $want ] || bad "SIG$sig: exit $rc, want $want (killed by the signal)"
  left=$(ls sig.novaq* 2>/dev/null)
  [ -z "$left" ] || bad "SIG$sig: left behind: $left"
done
[ $fail = 0 ] && echo "ok"
exit $fail
