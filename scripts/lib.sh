# Shared by scripts/kafka.sh, scripts/schema-registry.sh and scripts/rest-catalog.sh: one Java
# service started from Maven Central jars, with a pid file, a log and a lock. The caller sets
# `name`, `here` (its pom.xml), `home`, `lib`, `log`, `pidfile`, `endpoint`, `stop_seconds`, and
# defines `answers` (exit 0 when the service responds), `describe` (print what the service says
# about itself) and `launch` (start it in the background, writing $pidfile; its command line
# names $home, which is how a pid file's process is known to be the service). Optional: `java`
# and `java_min` (the JVM, default `java` 17+), `unpack` (run in $lib after the jars are
# copied there) and `mvn_props` (an array of -Dname=value for Maven).

say() { echo "$name: $*"; }

# The pid file's process, when it is still this service: its command line names $home (the
# service's jars, log or properties are there). A pid file outlives its server (a reboot, a killed
# JVM) and the pid goes to another process, which `start` would wait for and `stop` would kill.
pid_alive() {
  local pid args
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  args="$(ps -ww -o args= -p "$pid" 2>/dev/null)" || return 1
  [[ "$args" == *"$home/"* ]]
}

# The stamp holds `mvn_props` (Maven -D properties overriding the pom's, e.g. another broker
# version): jars fetched with other properties are fetched again.
fetch_jars() {
  local wanted="${mvn_props[*]:-}"
  if [[ -f "$lib/.stamp" && "$lib/.stamp" -nt "$here/pom.xml" && "$(cat "$lib/.stamp")" == "$wanted" ]]; then return 0; fi
  say "fetching jars from Maven Central into $lib${wanted:+ ($wanted)}"
  rm -rf "$lib"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$lib" -DincludeScope=runtime ${mvn_props[@]+"${mvn_props[@]}"}
  if declare -F unpack >/dev/null; then (cd "$lib" && unpack); fi
  printf '%s' "$wanted" >"$lib/.stamp"
}

java_check() {
  local v
  v="$("${java:-java}" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
  if [[ -z "$v" || "$v" -lt "${java_min:-17}" ]]; then
    echo "$name: Java ${java_min:-17} or newer is required (found: ${v:-none} at ${java:-java})" >&2
    exit 1
  fi
}

# Starts the service unless it already answers, then waits until it does.
start() {
  if pid_alive && answers; then say "already running on $endpoint (pid $(cat "$pidfile"))"; return 0; fi
  if ! pid_alive && answers; then say "a server already answers on $endpoint (not started by this script)"; return 0; fi
  if pid_alive; then
    say "pid $(cat "$pidfile") is starting; waiting"
  else
    java_check
    fetch_jars
    launch
  fi
  local timeout="${K2_SERVICE_START_TIMEOUT:-90}"
  local deadline=$((SECONDS + timeout))
  until answers; do
    if ! pid_alive; then
      tail -30 "$log" >&2
      echo "$name: exited during start-up (see $log)" >&2
      rm -f "$pidfile"
      exit 1
    fi
    if ((SECONDS > deadline)); then
      tail -30 "$log" >&2
      echo "$name: no answer on $endpoint after ${timeout}s (see $log)" >&2
      exit 1
    fi
    sleep 0.5
  done
  say "up on $endpoint (pid $(cat "$pidfile"))"
}

# SIGTERM, then SIGKILL after $stop_seconds.
stop() {
  if ! pid_alive; then rm -f "$pidfile"; say "not running"; return 0; fi
  local pid
  pid="$(cat "$pidfile")"
  say "stopping pid $pid"
  kill -TERM "$pid"
  for _ in $(seq 1 $((stop_seconds * 2))); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; say "stopped"; return 0; }
    sleep 0.5
  done
  say "no clean shutdown after ${stop_seconds}s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

status() {
  if answers; then
    say "up on $endpoint$(pid_alive && echo " (pid $(cat "$pidfile"))")"
    describe
  else
    say "down$(pid_alive && echo " (pid $(cat "$pidfile")) alive but not answering")"
    return 1
  fi
}

# Runs "$@" holding the service's lock: parallel test workers all call start.
locked() {
  exec 9>"$home/.lock"
  flock 9
  "$@"
}
