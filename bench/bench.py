#!/usr/bin/env python3
"""pg_plivo benchmarks, driven by bench/run.sh (which starts the clusters and simulator).

Every figure is the median of BENCH_RUNS runs with its [min-max]. Nothing here is a test:
it measures, prints a table and writes bench/RESULTS.md and the PNG chart.

Sizes (defaults finish in ~10-15 min on 2 cores; the issue's full sizes in brackets):
  BENCH_RUNS=3                       runs per figure
  BENCH_ENQUEUE_SECONDS=8            pgbench -T per run
  BENCH_DISPATCH_MESSAGES=10000      [50000] messages per dispatch run
  BENCH_DISPATCH_SECONDS=6           with 50 ms latency, a run is capped at about
                                     max_in_flight/0.05 s * this many messages
  BENCH_WAKEUP_MESSAGES=200          messages per wake-up run, one at a time
  BENCH_MEMORY_MESSAGES=100000       [1000000] the memory and large-backlog run
  BENCH_BACKLOG_SMALL=10000          [10000]
  BENCH_BIG_RUNS=2                   settled runs of the large-backlog/memory run
                                     (one more starts right after its INSERT)
  BENCH_IDLE_SECONDS=60              [60]
  BENCH_SIGNATURE_SECONDS=5          pgbench -T per SQL signature run
  BENCH_IN_FLIGHT=1,16,64,256        BENCH_LATENCIES_MS=0,50   the dispatch grid
  BENCH_BACKLOG_IN_FLIGHT=64         max_in_flight of the backlog and memory runs
  BENCH_MEDIA_MMS=10000              MMS of the media-check campaign (one picture)
  BENCH_ONLY=enqueue,signatures,dispatch,wakeup,backlog,idle,media   a subset
  BENCH_RESULTS=bench/RESULTS.md     where to write (the chart next to it, only when dispatch ran)
  BENCH_SKIP_BUILD=1                 (run.sh) use what is built and installed
bench/analysis.md, when present, is appended to RESULTS.md (the written analysis).
"""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
WORK = os.environ["BENCH_WORK"]


def env_int(name, default):
    return int(os.environ.get(name, default))


RUNS = env_int("BENCH_RUNS", 3)
ENQ_SECONDS = env_int("BENCH_ENQUEUE_SECONDS", 8)
DISPATCH_N = env_int("BENCH_DISPATCH_MESSAGES", 10000)
MEDIA_MMS = env_int("BENCH_MEDIA_MMS", 10000)
DISPATCH_SECONDS = env_int("BENCH_DISPATCH_SECONDS", 6)
WAKEUP_N = env_int("BENCH_WAKEUP_MESSAGES", 200)
MEMORY_N = env_int("BENCH_MEMORY_MESSAGES", env_int("BENCH_BACKLOG_MESSAGES", 100000))
BACKLOG_SMALL = env_int("BENCH_BACKLOG_SMALL", 10000)
BIG_RUNS = env_int("BENCH_BIG_RUNS", 2)
IDLE_SECONDS = env_int("BENCH_IDLE_SECONDS", 60)
SIG_SECONDS = env_int("BENCH_SIGNATURE_SECONDS", 5)
IN_FLIGHT = [int(x) for x in os.environ.get("BENCH_IN_FLIGHT", "1,16,64,256").split(",")]
LATENCIES = [int(x) for x in os.environ.get("BENCH_LATENCIES_MS", "0,50").split(",")]
SIM_URL = "http://127.0.0.1:%s" % os.environ["SIM_PORT"]
SIM_PID = int(os.environ["SIM_PID"])
CLK_TCK = os.sysconf("SC_CLK_TCK")

MAIN_ENV = dict(os.environ)
ENQ_ENV = dict(os.environ, PGHOST=os.environ["ENQ_PGHOST"], PGPORT=os.environ["ENQ_PGPORT"])

ROWS = []          # (section, figure, values list, unit, target text, met bool|None, note)
NOTES = {}         # measured context per section
CHART = {}         # latency -> {in_flight: (median, lo, hi)}


def log(msg):
    print("\033[1m--> %s\033[0m" % msg, file=sys.stderr, flush=True)


def psql(sql, env=None, *more):
    args = ["psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql]
    for m in more:
        args += ["-c", m]
    out = subprocess.run(args, env=env or MAIN_ENV, check=True, capture_output=True, text=True)
    return out.stdout.strip()


class Session:
    """One psql process kept open for a polling loop. A psql per poll costs ~8 ms of CPU
    (client start, a backend forked and its catalog caches filled): two polls every
    0.25 s took 0.27 of a core from the worker and simulator being measured."""

    END = "__pg_plivo_bench_end__"

    def __init__(self, env=None):
        self.proc = subprocess.Popen(["psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1"],
                                     env=env or MAIN_ENV, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def query(self, sql):
        self.proc.stdin.write(sql.rstrip().rstrip(";") + ";\n\\echo " + self.END + "\n")
        self.proc.stdin.flush()
        lines = []
        while True:
            line = self.proc.stdout.readline()
            if not line:  # ON_ERROR_STOP ended the session; its error is on stderr
                raise RuntimeError("psql session ended on: %s" % sql)
            line = line.rstrip("\n")
            if line == self.END:
                return "\n".join(lines).strip()
            lines.append(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def sim(path, body=None):
    req = urllib.request.Request(SIM_URL + path, method="POST" if body is not None else "GET",
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def sim_reset(latency_ms=0):
    sim("/_sim/reset?config=1", {})
    sim("/_sim/config", {"rate_limit": False, "latency_ms": latency_ms})


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK   # utime + stime, seconds


def machine_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def kb(status, key):
    return int(status.get(key, "0 kB").split()[0])


def worker_pid():
    for _ in range(100):
        pid = psql("SELECT pid FROM plivo.worker_status() WHERE running")
        if pid:
            return int(pid)
        time.sleep(0.1)
    raise RuntimeError("the worker is not running")


def summary(values):
    return statistics.median(values), min(values), max(values)


def fmt(values, digits=0):
    m, lo, hi = summary(values)
    f = "{:,.%df}" % digits
    return "%s [%s–%s]" % (f.format(m), f.format(lo), f.format(hi))


def add(section, figure, values, unit, target="", met=None, note="", digits=0):
    ROWS.append((section, figure, list(values), unit, target, met, note, digits))
    status = "" if met is None else ("met" if met else "MISSED")
    print("%-10s %-60s %-30s %-8s %-22s %s" % (section, figure, fmt(values, digits), unit,
                                               target, status), flush=True)


def pgbench(script_text, clients, seconds, env):
    path = os.path.join(WORK, "pgbench_%d.sql" % os.getpid())
    with open(path, "w") as f:
        f.write(script_text)
    out = subprocess.run(["pgbench", "-n", "-M", "prepared", "-c", str(clients),
                          "-j", str(min(clients, os.cpu_count() or 2)), "-T", str(seconds),
                          "-f", path], env=env, check=True, capture_output=True, text=True).stdout
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    return float(m.group(1))


# ----------------------------------------------------------------------------------------
def bench_enqueue():
    log("1. enqueue: plivo.send_mms() vs a plain INSERT of the same row (pgbench)")
    psql("CREATE EXTENSION IF NOT EXISTS pg_plivo", ENQ_ENV)
    psql("CREATE SCHEMA IF NOT EXISTS plain", ENQ_ENV)
    psql("CREATE TABLE IF NOT EXISTS plain.message_logs "
         "(LIKE plivo.message_logs INCLUDING ALL)", ENQ_ENV)
    # A different recipient on every call (as in real traffic: nothing to remember).
    mms = ("\\set n random(2000000, 9999999)\n"
           "SELECT plivo.send_mms('+1415' || :n, 'Your photos are ready', "
           "ARRAY['https://example.com/a.jpg'], '+14155550100');\n")
    # The row send_mms stores, with the values it computes (type, encoding, segments).
    plain = ("\\set n random(2000000, 9999999)\n"
             "INSERT INTO plain.message_logs (sender, recipient, message_text, media_urls, "
             "message_type, text_encoding, segments) VALUES ('+14155550100', '+1415' || :n, "
             "'Your photos are ready', ARRAY['https://example.com/a.jpg'], 'mms', 'GSM-7', 1);\n")
    # This cluster has no worker, so send_mms also sends NOTIFY (plivo.notify_on_enqueue
    # = auto); where the worker serves the database it does not: 'never' measures that.
    quiet_env = dict(ENQ_ENV, PGOPTIONS="-c plivo.notify_on_enqueue=never")
    for clients in (1, 2, 8):
        tps_mms, tps_notify, tps_plain, ratio, ratio_notify = [], [], [], [], []
        for _ in range(RUNS):
            psql("TRUNCATE plivo.message_logs, plivo.message_events, plain.message_logs", ENQ_ENV)
            psql("CHECKPOINT", ENQ_ENV)
            a = pgbench(mms, clients, ENQ_SECONDS, quiet_env)
            psql("CHECKPOINT", ENQ_ENV)
            n = pgbench(mms, clients, ENQ_SECONDS, ENQ_ENV)
            psql("CHECKPOINT", ENQ_ENV)
            b = pgbench(plain, clients, ENQ_SECONDS, ENQ_ENV)
            tps_mms.append(a)
            tps_notify.append(n)
            tps_plain.append(b)
            ratio.append(b / a)
            ratio_notify.append(b / n)
        add("enqueue", "send_mms() calls/s, %d client(s)" % clients, tps_mms, "calls/s")
        add("enqueue", "  the same with NOTIFY (no worker), %d client(s)" % clients, tps_notify,
            "calls/s")
        add("enqueue", "plain INSERT rows/s, %d client(s)" % clients, tps_plain, "rows/s")
        add("enqueue", "cost ratio send_mms / INSERT, %d client(s)" % clients, ratio, "×",
            "≤ 1.5×", statistics.median(ratio) <= 1.5, digits=2)
        add("enqueue", "  the same with NOTIFY, %d client(s)" % clients, ratio_notify, "×",
            digits=2)
    # Where the time goes in one send_mms (for the analysis): a profile of one backend.
    psql("TRUNCATE plivo.message_logs, plivo.message_events", ENQ_ENV)
    NOTES["enqueue_perf"] = perf_backend_profile(mms, quiet_env)
    NOTES["enqueue_waits"] = wait_events(mms, 8, quiet_env)  # as the ratio is measured
    NOTES["enqueue_waits_plain"] = wait_events(plain, 8, ENQ_ENV)


def wait_events(script_text, clients, env, seconds=4):
    """Samples pg_stat_activity's wait events of the pgbench backends every ~10 ms."""
    path = os.path.join(WORK, "waits.sql")
    with open(path, "w") as f:
        f.write(script_text)
    proc = subprocess.Popen(["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", "2",
                             "-T", str(seconds + 2), "-f", path], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    sampler = ("SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') "
               "FROM pg_stat_activity WHERE application_name = 'pgbench' AND state = 'active';\n"
               "SELECT pg_sleep(0.01);\n") * int(seconds * 60)
    spath = os.path.join(WORK, "sampler.sql")
    with open(spath, "w") as f:
        f.write(sampler)
    out = subprocess.run(["psql", "-X", "-qAt", "-f", spath], env=env, capture_output=True,
                         text=True).stdout.splitlines()
    proc.wait()
    counts = {}
    for w in out:
        if not w.strip():
            continue
        counts[w] = counts.get(w, 0) + 1
    total = max(1, sum(counts.values()))
    return ", ".join("%s %.0f%%" % (k, 100.0 * v / total)
                     for k, v in sorted(counts.items(), key=lambda kv: -kv[1])[:6])


def perf_backend_profile(script_text, env, seconds=5):
    if not shutil.which("perf"):
        return "perf not available"
    path = os.path.join(WORK, "profile.sql")
    with open(path, "w") as f:
        f.write(script_text)
    # One client; its backend is the pgbench connection's. Profile all postgres processes
    # of this cluster by the postmaster's children, -a would include the other cluster.
    data = os.path.join(WORK, "perf_enqueue.data")
    bench_proc = subprocess.Popen(["pgbench", "-n", "-M", "prepared", "-c", "1", "-T",
                                   str(seconds + 2), "-f", path], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    pid = psql("SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' LIMIT 1", env)
    if not pid:
        bench_proc.wait()
        return "no pgbench backend found"
    subprocess.run(["perf", "record", "-q", "-F", "999", "-g", "-o", data, "-p", pid, "--",
                    "sleep", str(seconds)], capture_output=True)
    bench_proc.wait()
    return perf_report(data) + "\n\nInclusive time (children) of the steps of one call:\n" + \
        perf_children(data)


STEPS = ("plivo_send_mms", "plivo_validate_message", "ExecInsert", "ExecARInsertTriggers",
         "AfterTriggerEndQuery", "plpgsql_exec_trigger", "RI_FKey_check", "PreCommit_Notify",
         "Async_Notify", "CommitTransaction", "XLogFlush", "exec_execute_message",
         "exec_bind_message", "fmgr_security_definer", "ExecConstraints", "stringToNode",
         "pg_plan_query", "icu_72::RegexMatcher::MatchChunkAt")


def perf_children(data):
    out = subprocess.run(["perf", "report", "-i", data, "--stdio", "--children", "--sort",
                          "symbol", "-g", "none", "--percent-limit", "0.5"],
                         capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+%)\s+([\d.]+%)\s+(?:\S+\s+)?\[.\]\s+(\S+)", line)
        if m and any(m.group(3) == step or m.group(3).startswith(step + "(")
                     for step in STEPS):
            rows.append("%8s inclusive  %s" % (m.group(1), m.group(3)))
    return "\n".join(rows)


def perf_report(data, lines=22, sort="dso,symbol", percent_limit="1.5"):
    out = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                          "--sort", sort, "-g", "none", "--percent-limit", percent_limit],
                         capture_output=True, text=True).stdout
    kept = [tidy(l) for l in out.splitlines() if l.strip() and not l.startswith("#")]
    return "\n".join(kept[:lines])


def tidy(line):
    line = re.sub(r"\s+-\s+-\s*$", "", line).rstrip()
    line = re.sub(r"nlohmann::json_abi_v[0-9_]+::", "nlohmann::", line)
    line = re.sub(r"<nlohmann::basic_json<.*", "<...>", line)
    return re.sub(r"\s{2,}", "  ", line)[:140]


def perf_dso_report(data, lines=12):
    return perf_report(data, lines, sort="dso", percent_limit="1")


def postmaster_children_cpu(exclude):
    """CPU seconds of the dispatch cluster's processes other than the worker."""
    data = psql("SHOW data_directory")
    with open(os.path.join(data, "postmaster.pid")) as f:
        pm = int(f.readline())
    total = cpu_ticks(pm)
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == exclude:
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pm:
                total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, ValueError):
            pass
    return total


# ----------------------------------------------------------------------------------------
def set_in_flight(n):
    psql("ALTER SYSTEM SET plivo.max_in_flight = %d" % n)
    psql("SELECT pg_reload_conf()")
    time.sleep(0.6)


def fresh():
    psql("TRUNCATE plivo.message_logs, plivo.message_events, plivo.delivery_reports, "
         "plivo.webhook_nonces")


ENQUEUE_SQL = ("INSERT INTO plivo.message_logs (recipient, message_text) "
               "SELECT '+1415555' || (2000 + n %% 7000), 'bench-%s-' || n "
               "FROM generate_series(1, %d) n")


def set_paused(on):
    """plivo.paused through ALTER SYSTEM and a reload; returns the reload's server time
    once the worker says it has applied it."""
    psql("ALTER SYSTEM SET plivo.paused = %s" % ("on" if on else "off"))
    t = float(psql("SELECT extract(epoch FROM clock_timestamp()) FROM pg_reload_conf()"))
    want = "t" if on else "f"
    for _ in range(500):
        if psql("SELECT paused FROM plivo.worker_status()") == want:
            return t
        time.sleep(0.01)
    raise RuntimeError("the worker did not apply plivo.paused = %s" % on)


def dispatch_run(n, tag, perf_data=None, timeout=900, settled=False):
    """Enqueues n SMS in one transaction and waits until none is queued/sending/retrying.
    Returns a dict: rate (msg/s from commit to the last row's update), cpu shares.
    settled: enqueue with the worker paused, VACUUM ANALYZE and CHECKPOINT, then resume
    (the rate counts from the resume): the queue's size is then the only difference
    between runs, not the bulk INSERT's after-effects (autovacuum of the new rows, first
    reads setting hint bits, a checkpoint forced by its WAL)."""
    fresh()
    wpid = worker_pid()
    t_enq = time.time()
    if settled:
        set_paused(True)
        psql(ENQUEUE_SQL % (tag, n))
        psql("VACUUM ANALYZE plivo.message_logs, plivo.message_events")
        psql("CHECKPOINT")
        enqueue_s = time.time() - t_enq
        t0 = set_paused(False)
    else:
        t0 = float(psql(ENQUEUE_SQL % (tag, n), None,
                        "SELECT extract(epoch FROM clock_timestamp())").splitlines()[-1])
        enqueue_s = time.time() - t_enq
    p0 = postmaster_children_cpu(wpid)
    w0, s0, (b0, a0), wall0 = cpu_ticks(wpid), cpu_ticks(SIM_PID), machine_busy(), time.time()
    perf = None
    if perf_data and shutil.which("perf"):
        perf = subprocess.Popen(["perf", "record", "-q", "-F", "499", "-g", "-o", perf_data,
                                 "-p", str(wpid)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    # WAL written since t0, sampled as the run goes (wal_at() reads it at any moment):
    # a run's WAL per message shows the full-page images that a checkpoint makes the
    # first change of each page cost, which grow with the table, not with the claim.
    poll = Session()
    wal = [(time.time(), wal_position(poll))]
    deadline = time.time() + timeout
    while time.time() < deadline:
        wal.append((time.time(), wal_position(poll)))
        if poll.query("SELECT NOT EXISTS (SELECT 1 FROM plivo.message_logs "
                      "WHERE status IN ('queued', 'retrying', 'sending'))") == "t":
            break
        # The rate comes from the rows' updated_at: polling often only takes CPU from
        # the worker (the check costs a few ms on a table full of dead rows).
        time.sleep(0.25)
    else:
        raise RuntimeError("dispatch of %d messages did not finish in %ds" % (n, timeout))
    poll.close()
    w1, s1, (b1, a1), wall1 = cpu_ticks(wpid), cpu_ticks(SIM_PID), machine_busy(), time.time()
    p1 = postmaster_children_cpu(wpid)
    if perf:
        perf.send_signal(2)
        perf.wait()
    end, sent = psql("SELECT extract(epoch FROM max(updated_at)), count(*) FILTER "
                     "(WHERE status = 'sent') FROM plivo.message_logs").split("|")
    elapsed = float(end) - t0
    stats = sim("/_sim/stats")
    wall = wall1 - wall0
    return {
        "rate": int(sent) / elapsed, "elapsed": elapsed, "sent": int(sent), "t0": t0,
        "enqueue_s": enqueue_s,
        "worker_cpu": (w1 - w0) / wall, "sim_cpu": (s1 - s0) / wall,
        "pg_other_cpu": (p1 - p0) / wall,
        "machine_busy": (b1 - b0) / max(1, a1 - a0),
        "duplicates": stats.get("duplicates", 0),
        "max_concurrent": stats.get("max_concurrent_requests", 0),
        "wal": wal,
    }


def wal_position(session):
    return int(session.query("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))


def wal_at(run, when):
    """WAL bytes the run had written by time `when` (the last sample before it)."""
    start = run["wal"][0][1]
    written = 0
    for t, position in run["wal"]:
        if t > when:
            break
        written = position - start
    return written


def bench_dispatch():
    psql("CREATE EXTENSION IF NOT EXISTS pg_plivo")
    psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    for latency in LATENCIES:
        CHART[latency] = {}
        for mif in IN_FLIGHT:
            n = DISPATCH_N
            if latency:
                n = min(DISPATCH_N, max(100, int(mif / (latency / 1000.0) * DISPATCH_SECONDS)))
            log("2. dispatch: %d messages, max_in_flight %d, simulator latency %d ms"
                % (n, mif, latency))
            set_in_flight(mif)
            runs = []
            for i in range(RUNS):
                sim_reset(latency)
                psql("SELECT pg_stat_statements_reset()")
                perf_data = None
                if i == RUNS - 1 and mif == max(IN_FLIGHT):
                    perf_data = os.path.join(WORK, "perf_dispatch_%d.data" % latency)
                runs.append(dispatch_run(n, "d%d-%d-%d" % (latency, mif, i), perf_data))
                if perf_data:
                    NOTES["dispatch_perf_%d" % latency] = perf_report(perf_data)
                    NOTES["dispatch_perf_dso_%d" % latency] = perf_dso_report(perf_data)
                    NOTES["dispatch_pgss_%d" % latency] = pgss_top()
            rates = [r["rate"] for r in runs]
            CHART[latency][mif] = summary(rates)
            if latency == 0:
                target, met = "≥ 5,000 msg/s", statistics.median(rates) >= 5000
            else:
                ideal = mif / (latency / 1000.0)
                target = "≈ %s msg/s (mif/0.05 s)" % format(int(ideal), ",")
                met = statistics.median(rates) >= 0.8 * ideal
            add("dispatch", "%d ms, max_in_flight %d (%d msgs)" % (latency, mif, n), rates,
                "msg/s", target, met)
            NOTES["dispatch_%d_%d" % (latency, mif)] = {
                k: statistics.median([r[k] for r in runs])
                for k in ("worker_cpu", "sim_cpu", "pg_other_cpu", "machine_busy", "max_concurrent",
                          "enqueue_s", "elapsed")}
            NOTES["dispatch_%d_%d" % (latency, mif)]["duplicates"] = sum(
                r["duplicates"] for r in runs)


def set_setting(name, value):
    psql("ALTER SYSTEM SET %s = '%s'" % (name, value))
    psql("SELECT pg_reload_conf()")
    time.sleep(0.6)


def bench_media():
    """The media check (plivo.media_preflight): text-only dispatch with it on and off, in
    alternating runs (it must cost text messages nothing), and a campaign of MEDIA_MMS
    MMS with one picture on the simulator, whose HEAD requests the simulator counts."""
    mif = max(IN_FLIGHT)
    set_in_flight(mif)
    set_setting("plivo.media_allow_private_addresses", "on")
    rates = {"on": [], "off": []}
    for i in range(RUNS):
        for setting in ("on", "off"):
            log("media: %d SMS, media check %s, max_in_flight %d (run %d)"
                % (DISPATCH_N, setting, mif, i + 1))
            set_setting("plivo.media_preflight", setting)
            sim_reset(0)
            rates[setting].append(dispatch_run(DISPATCH_N, "m%s-%d" % (setting, i))["rate"])
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    for setting in ("on", "off"):
        add("media", "text-only dispatch, media check %s (%d msgs, max_in_flight %d)"
            % (setting, DISPATCH_N, mif), rates[setting], "msg/s",
            "on ≥ 0.9 × off" if setting == "on" else "", on >= 0.9 * off if setting == "on" else None)

    set_setting("plivo.media_preflight", "on")
    fresh()
    sim_reset(0)
    url = SIM_URL + "/_sim/media/campaign.png?bytes=150000&type=image/png"
    log("media: %d MMS with one picture" % MEDIA_MMS)
    t0 = time.time()
    psql("INSERT INTO plivo.message_logs (recipient, message_text, media_urls) "
         "SELECT '+1415555' || (2000 + n %% 7000), 'campaign-' || n, ARRAY['%s'] "
         "FROM generate_series(1, %d) n" % (url, MEDIA_MMS))
    while psql("SELECT count(*) FROM plivo.message_logs "
               "WHERE status IN ('queued', 'retrying', 'sending')") != "0":
        if time.time() - t0 > 900:
            raise RuntimeError("the MMS campaign did not finish in 900 s")
        time.sleep(0.25)
    sent = int(psql("SELECT count(*) FROM plivo.message_logs WHERE status = 'sent'"))
    heads = sim("/_sim/media_stats").get("/_sim/media/campaign.png", {}).get("HEAD", 0)
    add("media", "HEAD requests for a campaign of %d MMS with one picture (%d sent)"
        % (MEDIA_MMS, sent), [heads], "requests", "1", heads == 1 and sent == MEDIA_MMS)
    set_setting("plivo.media_allow_private_addresses", "off")


def pgss_top(k=6):
    return psql("SELECT calls, round(total_exec_time)::bigint, round(mean_exec_time::numeric, 3), "
                "rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) "
                "FROM pg_stat_statements WHERE query NOT LIKE '%%pg_stat_statements%%' "
                "ORDER BY total_exec_time DESC LIMIT %d" % k)


# ----------------------------------------------------------------------------------------
def bench_wakeup():
    log("3. wake-up latency: commit -> request at the simulator, one message at a time")
    set_in_flight(16)
    p50s, p99s, maxes = [], [], []
    for run in range(RUNS):
        fresh()
        sim_reset(0)
        worker_pid()
        lines = []
        for i in range(WAKEUP_N):
            # clock_timestamp() is read after the insert, just before the implicit COMMIT:
            # the measured latency includes the commit itself (an upper bound).
            lines.append("SELECT plivo.send_sms('+14155552001', 'wake-%d-%d') IS NOT NULL, "
                         "extract(epoch FROM clock_timestamp());" % (run, i))
            lines.append("SELECT pg_sleep(0.02);")   # the previous one is long sent by then
        path = os.path.join(WORK, "wakeup.sql")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        out = subprocess.run(["psql", "-X", "-qAt", "-F", ",", "-v", "ON_ERROR_STOP=1", "-f", path],
                             env=MAIN_ENV, check=True, capture_output=True, text=True).stdout
        committed = [float(l.split(",")[1]) for l in out.splitlines() if l.startswith("t,")]
        time.sleep(0.5)
        msgs = sim("/_sim/messages?limit=%d" % (WAKEUP_N + 10))["messages"]
        arrived = {}
        for m in msgs:
            text = m.get("text") or (m.get("request") or {}).get("text")
            arrived[int(text.rsplit("-", 1)[1])] = m["message_time_us"] / 1e6
        lat = sorted((arrived[i] - committed[i]) * 1000 for i in range(len(committed))
                     if i in arrived)
        if len(lat) != WAKEUP_N:
            raise RuntimeError("wake-up: %d of %d messages arrived" % (len(lat), WAKEUP_N))
        p50s.append(lat[len(lat) // 2])
        p99s.append(lat[min(len(lat) - 1, int(len(lat) * 0.99))])
        maxes.append(lat[-1])
    add("wake-up", "commit → simulator, p50 (%d msgs/run)" % WAKEUP_N, p50s, "ms", "≤ 2 ms",
        statistics.median(p50s) <= 2, digits=2)
    add("wake-up", "commit → simulator, p99", p99s, "ms", "≤ 10 ms",
        statistics.median(p99s) <= 10, digits=2)
    add("wake-up", "commit → simulator, max", maxes, "ms", digits=2)


# ----------------------------------------------------------------------------------------
def memory_contexts(pid):
    """The worker's PostgreSQL memory contexts (pg_log_backend_memory_contexts), from the
    server log: how much of its private memory palloc accounts for."""
    log_path = os.path.join(os.path.dirname(psql("SHOW data_directory")), "server.log")
    size = os.path.getsize(log_path)
    psql("SELECT pg_log_backend_memory_contexts(%d)" % pid)
    time.sleep(1.5)
    with open(log_path) as f:
        f.seek(size)
        text = f.read()
    total = [l.split("LOG:", 1)[-1].strip() for l in text.splitlines() if "Grand total" in l]
    top = [l.split("LOG:", 1)[-1].strip() for l in text.splitlines()
           if "level: 1" in l or "level: 0" in l]
    return "\n".join(total[-1:] + sorted(top, key=lambda l: -int(re.search(
        r"(\d+) total in", l).group(1)) if re.search(r"(\d+) total in", l) else 0)[:8])


def bench_backlog_memory():
    """Backlog: the dispatch rate with BACKLOG_SMALL and with MEMORY_N messages waiting.
    The compared runs are settled (see dispatch_run), so that only the queue's size
    differs; the last large run, and as many small ones, start right after the INSERT
    instead, to show what a bulk INSERT's after-effects cost. Memory: every large run."""
    mif = int(os.environ.get("BENCH_BACKLOG_IN_FLIGHT", "64"))
    set_in_flight(mif)
    log("5. backlog: %d waiting, max_in_flight %d" % (BACKLOG_SMALL, mif))
    small = {True: [], False: []}
    small_wal = []  # kB per message, settled runs
    for settled in (True, False):
        for i in range(RUNS):
            sim_reset(0)
            r = dispatch_run(BACKLOG_SMALL, "bs-%d-%d" % (settled, i), settled=settled)
            small[settled].append(r["rate"])
            if settled:
                small_wal.append(wal_at(r, float("inf")) / 1024.0 / BACKLOG_SMALL)
    log("4/5. memory and large backlog: %d waiting" % MEMORY_N)
    big_first = {True: [], False: []}
    big_all = {True: [], False: []}
    big_first_wal = []  # kB per message over the first BACKLOG_SMALL, settled runs
    rss_before, rss_after, anon_before, anon_after, hwm = ([] for _ in range(5))
    for i in range(BIG_RUNS + 1):
        settled = i < BIG_RUNS
        sim_reset(0)
        fresh()
        wpid = worker_pid()
        st0 = proc_status(wpid)
        r = dispatch_run(MEMORY_N, "bb-%d" % i, timeout=7200, settled=settled)
        st1 = proc_status(wpid)
        # the same number of messages as the small backlog, the first ones out
        first_end = float(psql("SELECT extract(epoch FROM updated_at) FROM plivo.message_logs "
                               "WHERE status = 'sent' ORDER BY updated_at OFFSET %d LIMIT 1"
                               % (BACKLOG_SMALL - 1)))
        big_first[settled].append(BACKLOG_SMALL / (first_end - r["t0"]))
        big_all[settled].append(r["rate"])
        if settled:
            big_first_wal.append(wal_at(r, first_end) / 1024.0 / BACKLOG_SMALL)
        rss_before.append(kb(st0, "VmRSS") / 1024)
        rss_after.append(kb(st1, "VmRSS") / 1024)
        anon_before.append(kb(st0, "RssAnon") / 1024)
        anon_after.append(kb(st1, "RssAnon") / 1024)
        hwm.append(kb(st1, "VmHWM") / 1024)
        NOTES["memory_shmem_after"] = kb(st1, "RssShmem") / 1024
        NOTES["memory_contexts"] = memory_contexts(wpid)
        NOTES["memory_enqueue_s"] = r["enqueue_s"]
    add("memory", "worker RssAnon before (private heap)", anon_before, "MB", digits=1)
    add("memory", "worker RssAnon after %s msgs" % format(MEMORY_N, ","), anon_after, "MB",
        "flat, < 64 MB", max(anon_after) < 64 and max(anon_after) - min(anon_before) < 8, digits=1)
    add("memory", "worker VmRSS before (incl. shared buffers)", rss_before, "MB", digits=1)
    add("memory", "worker VmRSS after", rss_after, "MB", "< 64 MB", max(rss_after) < 64, digits=1)
    add("memory", "worker VmHWM (peak RSS)", hwm, "MB", digits=1)
    small_n, big_n = format(BACKLOG_SMALL, ","), format(MEMORY_N, ",")
    add("backlog", "settled, %s waiting: msg/s" % small_n, small[True], "msg/s")
    add("backlog", "settled, %s waiting: first %s, msg/s" % (big_n, small_n), big_first[True],
        "msg/s", "within 20%",
        abs(statistics.median(big_first[True]) / statistics.median(small[True]) - 1) <= 0.2)
    add("backlog", "settled, %s waiting: all, msg/s" % big_n, big_all[True], "msg/s")
    add("backlog", "  WAL per message, settled, %s waiting" % small_n, small_wal, "kB", digits=1)
    add("backlog", "  WAL per message, settled, first %s of %s" % (small_n, big_n),
        big_first_wal, "kB", digits=1)
    add("backlog", "right after the INSERT, %s waiting: msg/s" % small_n, small[False], "msg/s")
    add("backlog", "right after the INSERT, %s waiting: first %s, msg/s" % (big_n, small_n),
        big_first[False], "msg/s")
    add("backlog", "right after the INSERT, %s waiting: all, msg/s" % big_n, big_all[False],
        "msg/s")


# ----------------------------------------------------------------------------------------
def bench_idle():
    log("7. idle: worker CPU over %d idle seconds" % IDLE_SECONDS)
    fresh()
    sim_reset(0)
    wpid = worker_pid()
    time.sleep(3)
    windows = 3
    per = IDLE_SECONDS / windows
    cpu_ms, wakeups = [], []
    for _ in range(windows):
        c0, v0 = cpu_ticks(wpid), proc_status(wpid)
        time.sleep(per)
        c1, v1 = cpu_ticks(wpid), proc_status(wpid)
        cpu_ms.append((c1 - c0) * 1000 * 60 / per)
        sw = lambda s: int(s["voluntary_ctxt_switches"]) + int(s["nonvoluntary_ctxt_switches"])
        wakeups.append((sw(v1) - sw(v0)) / per)
    add("idle", "worker CPU per idle minute (%d×%ds windows)" % (windows, per), cpu_ms,
        "ms/min", "near zero (< 100 ms/min)", statistics.median(cpu_ms) < 100)
    add("idle", "worker context switches per idle second", wakeups, "/s", digits=1)


# ----------------------------------------------------------------------------------------
def bench_signatures():
    log("6. signatures: C++ (Google Benchmark) and SQL (pgbench)")
    exe = os.path.join(BENCH_DIR, "build", "signature_bench")
    url, nonce, sig, params, token = subprocess.run(
        [exe, "--vector"], check=True, capture_output=True, text=True).stdout.splitlines()
    out = subprocess.run([exe, "--benchmark_format=json", "--benchmark_min_time=0.3",
                          "--benchmark_repetitions=%d" % max(RUNS, 3),
                          "--benchmark_report_aggregates_only=false"],
                         check=True, capture_output=True, text=True).stdout
    by_name = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("run_type") == "iteration":
            by_name.setdefault(b["run_name"], []).append(b["real_time"])
    for name, label in (("BM_VerifyV3", "C++ verify V3 (valid, 15 fields)"),
                        ("BM_VerifyV3Invalid", "C++ verify V3 (invalid)"),
                        ("BM_VerifyV2", "C++ verify V2"),
                        ("BM_HmacSha256Base64", "C++ HMAC-SHA256 + base64 only")):
        add("signature", label, by_name[name], "ns")
    q = lambda s: "'" + s.replace("'", "''") + "'"
    call = ("SELECT plivo.verify_plivo_signature(%s, %s, %s, 'POST', %s::jsonb, 'v3', %s);\n"
            % (q(url), q(nonce), q(sig), q(params), q(token)))
    psql("CREATE EXTENSION IF NOT EXISTS pg_plivo", ENQ_ENV)
    assert psql(call, ENQ_ENV) == "t", "the signature vector does not verify from SQL"
    for clients in (1, 2):
        tps = [pgbench(call, clients, SIG_SECONDS, ENQ_ENV) for _ in range(RUNS)]
        add("signature", "SQL verify_plivo_signature, %d client(s)" % clients, tps, "calls/s")
    tps = [pgbench("SELECT 1;\n", 1, SIG_SECONDS, ENQ_ENV) for _ in range(RUNS)]
    add("signature", "SQL SELECT 1 (round-trip floor), 1 client", tps, "calls/s")


# ----------------------------------------------------------------------------------------
def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    return {
        "cores": os.cpu_count(), "cpu": cpu, "memory_mb": mem,
        "kernel": os.uname().release,
        "postgres": psql("SELECT version()"),
        "pgbench": subprocess.run(["pgbench", "--version"], capture_output=True,
                                  text=True).stdout.strip(),
        "load": open("/proc/loadavg").read().split()[:3],
    }


def chart(path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing: no chart")
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for latency, points in sorted(CHART.items()):
        xs = sorted(points)
        med = [points[x][0] for x in xs]
        err = [[points[x][0] - points[x][1] for x in xs], [points[x][2] - points[x][0] for x in xs]]
        label = "simulator instant" if latency == 0 else "simulator %d ms latency" % latency
        ax.errorbar(xs, med, yerr=err, marker="o", capsize=3, label=label)
        if latency:
            ax.plot(xs, [x / (latency / 1000.0) for x in xs], linestyle=":", color="grey",
                    label="ideal max_in_flight / %.2f s" % (latency / 1000.0))
    ax.axhline(5000, color="red", linewidth=0.8, linestyle="--", label="target 5,000 msg/s")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(IN_FLIGHT)
    ax.set_xticklabels([str(x) for x in IN_FLIGHT])
    ax.set_xlabel("plivo.max_in_flight")
    ax.set_ylabel("messages/s (commit → sent), median [min–max]")
    ax.set_title("pg_plivo dispatch throughput (%d cores)" % os.cpu_count())
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return True


# RESULTS.md, and the chart next to it (a run written elsewhere leaves bench/ as it is).
RESULTS_PATH = os.path.abspath(os.environ.get("BENCH_RESULTS", os.path.join(BENCH_DIR, "RESULTS.md")))
CHART_PATH = os.path.join(os.path.dirname(RESULTS_PATH), "throughput_vs_in_flight.png")
os.makedirs(os.path.dirname(RESULTS_PATH), exist_ok=True)  # BENCH_RESULTS may name a new folder


def write_results(info, started, finished, load_end):
    path = RESULTS_PATH
    L = []
    L.append("# pg_plivo benchmark results\n")
    L.append("Written by `bench/run.sh` (`make -C bench`) on %s (UTC), %s to %s. "
             "Every figure is the median [min–max] of the runs named; nothing here is a "
             "pass/fail test.\n" % (started[:10], started[11:19], finished[11:19]))
    L.append("## Machine\n")
    L.append("| | |\n|---|---|")
    L.append("| cores | %d (%s) |" % (info["cores"], info["cpu"]))
    L.append("| memory | %s MB |" % format(info["memory_mb"], ","))
    L.append("| kernel | %s |" % info["kernel"])
    L.append("| PostgreSQL | %s |" % info["postgres"])
    L.append("| load average (1/5/15 min) at start | %s |" % " / ".join(info["load"]))
    L.append("| load average at end | %s |" % " / ".join(load_end))
    L.append("| shared with | other work on the same 2 cores (builds, test runs): figures are "
             "pessimistic and noisy |")
    L.append("")
    L.append("Clusters: `fsync = off` (as in the tests), otherwise PostgreSQL defaults "
             "(`shared_buffers` 128 MB). Enqueue and SQL signature figures on a cluster "
             "without the worker; the others on one with the worker preloaded, rate limits "
             "lifted (100,000/s), `pg_stat_statements` loaded (`track = all`), pointed at "
             "`build/plivo_simulator` on loopback.\n")
    L.append("Sizes of this run: runs per figure %d; pgbench -T %d s (enqueue), %d s "
             "(signatures); dispatch %s messages per run (50 ms runs capped at "
             "max_in_flight/0.05 s × %d s); wake-up %d messages per run; memory and large "
             "backlog %s messages (%d run); idle %d s. Full issue sizes: "
             "`BENCH_DISPATCH_MESSAGES=50000 BENCH_MEMORY_MESSAGES=1000000 bench/run.sh`.\n"
             % (RUNS, ENQ_SECONDS, SIG_SECONDS, format(DISPATCH_N, ","), DISPATCH_SECONDS,
                WAKEUP_N, format(MEMORY_N, ","), BIG_RUNS, IDLE_SECONDS))
    L.append("## Figures\n")
    L.append("| # | figure | median [min–max] | unit | runs | target | |")
    L.append("|---|---|---|---|---|---|---|")
    for section, figure, values, unit, target, met, note, digits in ROWS:
        status = "" if met is None else ("met" if met else "**missed**")
        L.append("| %s | %s | %s | %s | %d | %s | %s |" % (section, figure, fmt(values, digits),
                                                           unit, len(values), target, status))
    L.append("")
    L.append("![throughput against in-flight requests](throughput_vs_in_flight.png)\n")
    L.append("## Measured context\n")
    L.append("CPU during each dispatch run (median over runs; 1.00 = one full core; machine "
             "busy is the share of both cores, including other work on the machine):\n")
    L.append("| simulator latency | max_in_flight | worker CPU | simulator CPU | other postgres "
             "processes | rest of the machine | machine busy | max concurrent "
             "requests at simulator | enqueue of the batch (s) |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for latency in LATENCIES:
        for mif in IN_FLIGHT:
            d = NOTES.get("dispatch_%d_%d" % (latency, mif))
            if d:
                rest = d["machine_busy"] * (os.cpu_count() or 2) - d["worker_cpu"] - d["sim_cpu"] \
                    - d["pg_other_cpu"]
                L.append("| %d ms | %d | %.2f | %.2f | %.2f | %.2f | %.0f%% | %d | %.1f |" % (
                    latency, mif, d["worker_cpu"], d["sim_cpu"], d["pg_other_cpu"], rest,
                    d["machine_busy"] * 100,
                    d["max_concurrent"], d["enqueue_s"]))
    dup = sum(NOTES[k]["duplicates"] for k in NOTES if k.startswith("dispatch_")
              and isinstance(NOTES[k], dict))
    L.append("\nDuplicates seen by the simulator over all dispatch runs: %d.\n" % dup)
    for latency in LATENCIES:
        if "dispatch_perf_%d" % latency in NOTES:
            L.append("### Worker profile, max_in_flight %d, simulator %d ms (`perf record -g -p "
                     "<worker>`, self time)\n" % (max(IN_FLIGHT), latency))
            L.append("By shared object:\n```\n%s\n```\nTop symbols:\n```\n%s\n```\n" % (
                NOTES["dispatch_perf_dso_%d" % latency], NOTES["dispatch_perf_%d" % latency]))
            L.append("pg_stat_statements over that run (calls, total ms, mean ms, rows, "
                     "query):\n```\n%s\n```\n" % NOTES["dispatch_pgss_%d" % latency])
    if "enqueue_perf" in NOTES:
        L.append("### One backend running send_mms() (`perf record -g -p <backend>`, self time)\n")
        L.append("```\n%s\n```\n" % NOTES["enqueue_perf"])
        L.append("Wait events of 8 pgbench backends (pg_stat_activity sampled every ~10 ms): "
                 "send_mms() (notify_on_enqueue = never, as in the ratio): %s; "
                 "plain INSERT: %s.\n" % (NOTES["enqueue_waits"], NOTES["enqueue_waits_plain"]))
    if "memory_shmem_after" in NOTES:
        L.append("Memory: after the large run the worker's RssShmem (shared buffers it has "
                 "touched, not its own heap) was %.1f MB; enqueueing the %s messages in one "
                 "INSERT took %.1f s.\n" % (NOTES["memory_shmem_after"], format(MEMORY_N, ","),
                                            NOTES["memory_enqueue_s"]))
        L.append("The worker's PostgreSQL memory contexts after it "
                 "(`pg_log_backend_memory_contexts`):\n```\n%s\n```\n"
                 % NOTES.get("memory_contexts", ""))
    analysis = os.path.join(BENCH_DIR, "analysis.md")
    if os.path.exists(analysis):
        L.append(open(analysis).read())
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def main():
    started = datetime.now(timezone.utc).isoformat()
    info = machine()
    print("%-10s %-60s %-30s %-8s %-22s %s" % ("section", "figure", "median [min–max]", "unit",
                                               "target", ""))
    only = os.environ.get("BENCH_ONLY", "enqueue,signatures,dispatch,wakeup,backlog,idle,media")
    only = only.split(",")
    if "enqueue" in only:
        bench_enqueue()
    if "signatures" in only:
        bench_signatures()
    psql("CREATE EXTENSION IF NOT EXISTS pg_plivo")
    psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    if "dispatch" in only:
        bench_dispatch()
    if "wakeup" in only:
        bench_wakeup()
    if "backlog" in only:
        bench_backlog_memory()
    if "idle" in only:
        bench_idle()
    if "media" in only:
        bench_media()
    finished = datetime.now(timezone.utc).isoformat()
    load_end = open("/proc/loadavg").read().split()[:3]
    if CHART:
        chart(CHART_PATH)
    write_results(info, started, finished, load_end)
    log("wrote %s%s" % (RESULTS_PATH, " and " + CHART_PATH if CHART else ""))


if __name__ == "__main__":
    main()
