#!/usr/bin/env bash
# Runs the README's shell blocks, section by section, as a reader would type them, so a line
# that stops working fails the build.
#
# Each ```sh block of README.md is preceded by a marker saying what to do with it:
#   <!-- readme: run -->                    run every line, in order, in one shell
#   <!-- readme: run in the background -->  start every line and leave it running (a server
#                                           the next blocks of the section talk to)
#   <!-- readme: skip (WHY) -->             not run here; the script says so, with WHY
# A ```sh block without a marker fails the script: every block is run or skipped on purpose.
#
# Within a block:
#   - `cargo run --release --` and `rollout` run the debug binary `cargo test` built (the
#     release build would double CI's build time for the same code);
#   - a line ending in `&` runs in the background, as the README says; a `rollout sim up`
#     started so is waited for until it serves; `kill %N` stops the Nth of them;
#   - a line whose comment says `exit N` must exit N, every other line 0;
#   - a line whose comment says `Ctrl-C` runs until it is stopped: it runs for a few seconds;
#   - `cargo test` is not run again (.ci/run runs it): the script checks that .ci/run runs it.
# Every line has a deadline; everything started in the background stops at the end of its
# section. The commands run in a scratch directory holding links to the checkout's
# manifests/, experiments/ and strategies/, so nothing is written into the checkout.
#
# Environment: ROLLOUT_BIN (default target/debug/rollout, built when missing),
# README_LINE_TIMEOUT (seconds per line, default 300).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
readme="${README:-$root/README.md}"
line_timeout="${README_LINE_TIMEOUT:-300}"
export NO_COLOR=1 CARGO_TERM_COLOR=never

bin="${ROLLOUT_BIN:-$root/target/debug/rollout}"
if [ ! -x "$bin" ]; then
  (cd "$root" && cargo build --locked --bin rollout)
fi
for tool in kubectl curl timeout; do
  command -v "$tool" >/dev/null || { echo "readme.sh: $tool is needed" >&2; exit 1; }
done

work="$(mktemp -d)"
bg_pids=()
bg_logs=()
cleanup() {
  stop_background
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/bin" "$work/run" "$work/logs"
ln -s "$bin" "$work/bin/rollout"
for d in manifests experiments strategies; do ln -s "$root/$d" "$work/run/$d"; done
export PATH="$work/bin:$PATH"

failures=0
skipped=()

# Stops what the section started in the background (by pid), and forgets it.
stop_background() {
  local pid
  for pid in "${bg_pids[@]}"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  bg_pids=()
  bg_logs=()
}

fail() {
  echo "FAILED: $*" >&2
  failures=$((failures + 1))
}

# Starts `cmd` in the background; a `sim up` is waited for until it says it serves.
start_background() {
  local where="$1" cmd="$2" log
  log="$work/logs/bg-${#bg_pids[@]}.log"
  (cd "$work/run" && exec bash -c "exec $cmd") >"$log" 2>&1 &
  bg_pids+=("$!")
  bg_logs+=("$log")
  echo "  started in the background (pid $!, output in $log)"
  if [[ "$cmd" == *"sim up"* ]]; then
    local deadline=$((SECONDS + 60))
    until grep -q "Ctrl-C stops it" "$log"; do
      if ! kill -0 "${bg_pids[-1]}" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
        fail "$where: \`$cmd\` did not start serving"
        sed 's/^/    | /' "$log" >&2
        return
      fi
      sleep 0.2
    done
  fi
}

# Runs one line of a block.
run_line() {
  local where="$1" text="$2"
  local cmd="${text%%#*}" comment=""
  [[ "$text" == *"#"* ]] && comment="${text#*#}"
  cmd="$(sed -E 's/[[:space:]]+$//' <<<"$cmd")"
  [ -z "$cmd" ] && return
  cmd="${cmd//cargo run --release --/rollout}"
  echo "+ $where: $cmd"

  if [[ "$cmd" == "cargo test" || "$cmd" == "cargo test "* ]]; then
    if grep -Eq "^${cmd}( --locked)?$" "$root/.ci/run"; then
      echo "  .ci/run runs it"
    else
      fail "$where: .ci/run does not run \`$cmd\`"
    fi
    return
  fi
  if [[ "$cmd" =~ ^export\ ([A-Za-z_]+)=(.*)$ ]]; then
    local name="${BASH_REMATCH[1]}" value="${BASH_REMATCH[2]}"
    value="${value//\$PWD/$work/run}"
    export "$name=$value"
    return
  fi
  if [[ "$cmd" =~ ^kill\ %([0-9]+)$ ]]; then
    local i=$((BASH_REMATCH[1] - 1))
    local pid="${bg_pids[$i]:-}"
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
      fail "$where: job %$((i + 1)) is not running"
      return
    fi
    kill -TERM "$pid"
    local deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null; do
      [ $SECONDS -ge $deadline ] && { fail "$where: pid $pid did not stop within 10s of SIGTERM"; return; }
      sleep 0.1
    done
    bg_pids[$i]=""
    return
  fi
  if [[ "$cmd" == *"&" ]]; then
    start_background "$where" "${cmd%&}"
    return
  fi

  local expect=0 limit="$line_timeout"
  [[ "$comment" =~ exit\ ([0-9]+) ]] && expect="${BASH_REMATCH[1]}"
  if [[ "$comment" == *"Ctrl-C"* ]]; then expect=124; limit=5; fi
  local log="$work/logs/line.log" code=0 began=$SECONDS
  (cd "$work/run" && timeout --kill-after=10 "$limit" bash -c "$cmd") >"$log" 2>&1 || code=$?
  echo "  exit $code after $((SECONDS - began))s"
  if [ "$code" != "$expect" ]; then
    if [ "$code" = 124 ]; then
      fail "$where: \`$cmd\` did not end within ${limit}s"
    else
      fail "$where: \`$cmd\` exited $code, the README says $expect"
    fi
    tail -n 40 "$log" | sed 's/^/    | /' >&2
  fi
}

# Walks the README: headings end sections, markers say what to do with the next block.
marker="" section="" in_block=0 block_kind="" n=0
while IFS= read -r line || [ -n "$line" ]; do
  n=$((n + 1))
  if [ $in_block = 1 ]; then
    if [[ "$line" == '```'* ]]; then
      in_block=0
      continue
    fi
    case "$block_kind" in
      run) run_line "README.md:$n" "$line" ;;
      background)
        local_cmd="${line%%#*}"
        [[ -n "${local_cmd// /}" ]] && run_line "README.md:$n" "${local_cmd%"${local_cmd##*[![:space:]]}"} &"
        ;;
    esac
    continue
  fi
  if [[ "$line" =~ ^#{1,3}\  ]]; then
    stop_background
    section="${line#\#* }"
    section="${section#\#* }"
    section="${section#\#* }"
    continue
  fi
  if [[ "$line" =~ ^\<\!--\ readme:\ (.*)\ --\>$ ]]; then
    marker="${BASH_REMATCH[1]}"
    continue
  fi
  if [[ "$line" == '```sh' ]]; then
    in_block=1
    case "$marker" in
      run) block_kind=run; echo "== $section (README.md:$n)" ;;
      "run in the background") block_kind=background; echo "== $section (README.md:$n), in the background" ;;
      skip*)
        block_kind=skip
        reason="${marker#skip }"; reason="${reason#(}"; skipped+=("README.md:$n ($section): ${reason%)}")
        ;;
      *)
        fail "README.md:$n: a shell block without a <!-- readme: run | run in the background | skip (why) --> marker"
        block_kind=skip
        ;;
    esac
    marker=""
    continue
  fi
  [ -n "$line" ] && marker=""
done <"$readme"
stop_background

echo
echo "skipped blocks:"
for s in "${skipped[@]}"; do echo "  $s"; done
if [ $failures -gt 0 ]; then
  echo "readme.sh: $failures README line(s) failed" >&2
  exit 1
fi
echo "readme.sh: every README line run passed (${SECONDS}s)"
