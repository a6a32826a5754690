#!/usr/bin/env bash
# Smoke test of the Plivo simulator, runnable in CI: starts it on a free loopback port
# with a tiny delivery-report receiver beside it, and checks the API's answers, the
# list filters, a few faults, the counters, the delivery reports, and inbound messages
# with Plivo's opt-outs — the V2 and V3 signatures of reports and inbound messages are
# verified by an independent Python implementation of plivo-api.md §3 (itself checked
# against the test vectors there first).
#
# Usage: tests/simulator/smoke_test.sh [path/to/plivo_simulator]
#        (default: $PLIVO_SIMULATOR, else build-sim/plivo_simulator under the repo root)
# Needs bash, curl and python3. Prints "N passed, N failed"; exits 1 when any failed.
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIM=${1:-${PLIVO_SIMULATOR:-$ROOT/build-sim/plivo_simulator}}
if [[ ! -x $SIM ]]; then
    echo "smoke_test: simulator binary not found: $SIM" >&2
    exit 2
fi

WORK=$(mktemp -d)
SIM_PID=""
RECV_PID=""
cleanup() {
    [[ -n $SIM_PID ]] && kill "$SIM_PID" 2>/dev/null
    [[ -n $RECV_PID ]] && kill "$RECV_PID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "ok     $1"; }
not_ok() { FAILED=$((FAILED + 1)); echo "FAILED $1${2:+ — $2}"; }

AUTH_ID=MASIMULATOR000000000
TOKEN=simulator-auth-token

wait_for_file() {  # path, tenths of a second
    local i
    for ((i = 0; i < $2; i++)); do
        [[ -s $1 ]] && return 0
        sleep 0.1
    done
    return 1
}

# ---- the delivery-report receiver: records every request as one JSON line --------------
cat >"$WORK/receiver.py" <<'PY'
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

records_path, port_path = sys.argv[1], sys.argv[2]
lock = threading.Lock()
flaky_seen = set()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        record = {"method": self.command, "path": self.path,
                  "headers": {k: v for k, v in self.headers.items()}, "body": body}
        status = 200
        # /flaky answers 500 to the first attempt of each report (MessageUUID + Sequence),
        # /inbound/flaky to the first of each inbound message; /inbound/down always 503
        if self.path.startswith("/inbound/down"):
            status = 503
        elif self.path.startswith(("/flaky", "/inbound/flaky")):
            from urllib.parse import parse_qs
            fields = parse_qs(body, keep_blank_values=True)
            key = (fields.get("MessageUUID", [""])[0], fields.get("Sequence", [""])[0])
            with lock:
                if key not in flaky_seen:
                    flaky_seen.add(key)
                    status = 500
        record["answered"] = status
        with lock, open(records_path, "a") as out:
            out.write(json.dumps(record) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_GET = do_POST = handle_any
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_path + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os; os.rename(port_path + ".tmp", port_path)
server.serve_forever()
PY

# ---- the signature checker: plivo-api.md §3 in Python, independent of the C++ ----------
cat >"$WORK/signature.py" <<'PY'
import base64, hashlib, hmac
from urllib.parse import urlsplit, parse_qsl

def base(url):
    p = urlsplit(url)
    netloc = p.netloc.rsplit("@", 1)[-1]          # userinfo dropped, port kept as written
    return f"{p.scheme}://{netloc}{p.path}"

def sign(token, message):
    return base64.b64encode(hmac.new(token.encode(), message.encode(), hashlib.sha256).digest()).decode()

def v2(url, nonce, token):
    return sign(token, base(url) + nonce)

def v3_string(url, method, params):
    q = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    sorted_query = lambda m: "&".join(f"{k}={v}" for k, v in sorted(m))
    sorted_concat = lambda m: "".join(k + v for k, v in sorted(m))
    if method == "GET":
        m = q + list(params)
        return base(url) + ("?" + sorted_query(m) if m else "")
    if not params:
        return base(url) + ("?" + sorted_query(q) if q else "")
    return base(url) + "?" + (sorted_query(q) + "." if q else "") + sorted_concat(params)

def v3(url, nonce, method, params, token):
    return sign(token, v3_string(url, method, params) + "." + nonce)

def valid(header, expected):
    return any(hmac.compare_digest(s.strip(), expected) for s in header.split(","))

DR14 = [("From", "14155550100"), ("To", "14155550111"),
        ("MessageUUID", "db3ce55a-7f1d-11e1-8ea7-1231380bc196"), ("Status", "delivered"),
        ("ErrorCode", "000"), ("Units", "1"), ("TotalRate", "0.0050"), ("TotalAmount", "0.0050"),
        ("MessageTime", "2024-05-01 12:00:00"),
        ("ParentMessageUUID", "db3ce55a-7f1d-11e1-8ea7-1231380bc196"), ("PartInfo", "1 of 1"),
        ("PowerpackUUID", ""), ("Sequence", "1"), ("Type", "sms")]

def self_test():
    assert v2("https://answer.url", "12345", "my_auth_token") == \
        "ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc="                      # vector A
    assert v2("https://example.com:8443/cb/?a=1#frag", "1234567890", "MY_AUTH_TOKEN_123") == \
        "v45rVZcxJisQbtJl5BfEal+M4WkkPm1AhaDWxW5TN8Q="                      # vector B
    assert v3("https://hooks.example.com/plivo/status", "43597245624586714324", "POST", DR14,
              "MY_AUTH_TOKEN_123") == "T7tXYKm92Jqi2aclv7V3Syd4SGDFrS9FYMeyi/cU/Ss="  # E
    assert v3("https://hooks.example.com/plivo/status?tenant=42&b=x%20y", "43597245624586714324",
              "POST", [("Status", "sent"), ("MessageUUID", "abc")], "MY_AUTH_TOKEN_123") == \
        "iy6y2PykZNKe74c4Wloas9WlogyInL09qf88PNRzFok="                      # vector F
PY

# ---- start both --------------------------------------------------------------------
python3 "$WORK/receiver.py" "$WORK/reports.jsonl" "$WORK/recv.port" &
RECV_PID=$!
"$SIM" --port 0 --port-file "$WORK/sim.port" --seed 42 --quiet \
    --report-delay-ms 30 --report-retry-delays-ms 100,200 --timeout-ms 300 \
    --powerpack pack-a=+14155550601,+14155550602 --no-mms-destination +14155550677 \
    >"$WORK/sim.out" 2>"$WORK/sim.err" &
SIM_PID=$!
if ! wait_for_file "$WORK/sim.port" 100 || ! wait_for_file "$WORK/recv.port" 100; then
    echo "smoke_test: the simulator or the receiver did not start" >&2
    cat "$WORK/sim.out" "$WORK/sim.err" >&2
    exit 1
fi
PORT=$(cat "$WORK/sim.port")
RPORT=$(cat "$WORK/recv.port")
SIM_URL=http://127.0.0.1:$PORT
API=$SIM_URL/v1/Account/$AUTH_ID/Message/
RECV=http://127.0.0.1:$RPORT

# request METHOD URL [curl args...]: sets CODE, BODY and HEADERS
request() {
    local method=$1 url=$2
    shift 2
    CODE=$(curl -s -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' -X "$method" \
        --max-time 10 "$@" "$url")
    BODY=$(cat "$WORK/body")
    HEADERS=$(cat "$WORK/headers")
}
send() {  # JSON body [extra curl args]: POST a message with the right credentials
    local body=$1
    shift
    request POST "$API" -u "$AUTH_ID:$TOKEN" -H 'Content-Type: application/json' -d "$body" "$@"
}
# expect NAME PY_EXPRESSION: d = JSON of $BODY, code = $CODE, headers = $HEADERS (lower-case)
expect() {
    local name=$1 expression=$2 out
    if out=$(python3 - "$CODE" "$BODY" "$HEADERS" "$expression" 2>&1 <<'PY'
import json, re, sys
code, body, headers, expression = int(sys.argv[1]), sys.argv[2], sys.argv[3].lower(), sys.argv[4]
try:
    d = json.loads(body)
except ValueError:
    d = None
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
is_uuid = lambda s: isinstance(s, str) and bool(UUID.match(s))
plivo_error = lambda: isinstance(d, dict) and set(d) >= {"api_id", "error"} and is_uuid(d["api_id"])
sys.exit(0 if eval(expression) else 1)
PY
    ); then
        ok "$name"
    else
        not_ok "$name" "HTTP $CODE: ${BODY:0:300} $out"
    fi
}
stats() { request GET "$SIM_URL/_sim/stats"; }
set_config() { request POST "$SIM_URL/_sim/config" -d "$1"; }

echo "simulator on $SIM_URL, receiver on $RECV"
expect_startup=$(head -1 "$WORK/sim.out")
[[ $expect_startup == "plivo_simulator listening on $SIM_URL"* ]] &&
    ok "one-line start-up message names the address" || not_ok "start-up message" "$expect_startup"

# ---- sending ---------------------------------------------------------------------------
send '{"src":"+1 (415) 555-0100","dst":"14155550111","text":"hello"}'
expect "202 with Plivo's answer shape" \
    'code == 202 and set(d) == {"api_id","message","message_uuid"} and is_uuid(d["api_id"]) and d["message"] == "message(s) queued" and len(d["message_uuid"]) == 1 and is_uuid(d["message_uuid"][0])'
FIRST_UUID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["message_uuid"][0])' "$BODY")

send '{"src":"14155550100","dst":"14155550121<12<+1 415 555 0122","text":"two of three"}'
expect "several dst: one uuid each, invalid ones in invalid_number" \
    'code == 202 and len(d["message_uuid"]) == 2 and d["invalid_number"] == ["12"]'

request POST "$API" -u "$AUTH_ID:wrong-token" -d '{"src":"14155550100","dst":"14155550111","text":"x"}'
expect "401 for a wrong auth token, Plivo-shaped" 'code == 401 and plivo_error()'
request POST "$API" -d '{"src":"14155550100","dst":"14155550111","text":"x"}'
expect "401 without credentials" 'code == 401 and plivo_error()'
request POST "$SIM_URL/v1/Account/MAOTHERACCOUNT000000/Message/" -u "$AUTH_ID:$TOKEN" \
    -d '{"src":"14155550100","dst":"14155550111","text":"x"}'
expect "401 when the path's auth id is not the caller's" 'code == 401 and plivo_error()'

MEDIA=$(python3 -c 'import json; print(json.dumps(["https://example.com/%d.jpg" % i for i in range(11)]))')
send "{\"src\":\"14155550100\",\"dst\":\"14155550111\",\"type\":\"mms\",\"media_urls\":$MEDIA}"
expect "400 for 11 media" 'code == 400 and plivo_error() and "10" in d["error"]'
send '{"src":"14155550100","dst":"14155550111","type":"mms","media_urls":["https://example.com/1.jpg"],"media_ids":["m1","m2","m3","m4","m5","m6","m7","m8","m9"]}'
expect "202 for 10 media (urls + ids)" 'code == 202'
send '{"src":"14155550100","dst":"14155550111"}'
expect "400 for an SMS without text" 'code == 400 and plivo_error()'
send '{"src":"14155550100","dst":"1415","text":"x"}'
expect "400 when no dst is valid (8-15 digits)" 'code == 400 and d["invalid_number"] == ["1415"]'
send '{"src":"14155550100","dst":"14155550111","text":"x"'
expect "400 for a body that is not JSON" 'code == 400 and plivo_error()'
request GET "$SIM_URL/v1/Account/$AUTH_ID/Nothing/" -u "$AUTH_ID:$TOKEN"
expect "404 for an unknown path" 'code == 404 and plivo_error()'
request DELETE "$API" -u "$AUTH_ID:$TOKEN"
expect "405 for a wrong method" 'code == 405 and plivo_error()'

# ---- listing -----------------------------------------------------------------------------
send '{"src":"14155550100","dst":"14155550131","text":"older"}'
OLDER=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["message_uuid"][0])' "$BODY")
send '{"src":"14155550100","dst":"14155550131","text":"newer"}'
NEWER=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["message_uuid"][0])' "$BODY")
request GET "$API" -u "$AUTH_ID:$TOKEN" -G --data-urlencode 'to_number=+1 415 555 0131'
expect "list filters by to_number, newest first, Plivo's shape (no total_count by default)" \
    "code == 200 and set(d) == {'api_id','meta','objects'} and set(d['meta']) == {'limit','next','offset','previous'} and d['meta']['next'] is None and [o['message_uuid'] for o in d['objects']] == ['$NEWER', '$OLDER'] and all(o['to_number'] == '14155550131' for o in d['objects'])"
expect "list objects: Plivo's fields, message_time 'YYYY-mm-dd HH:MM:SS+00:00'" \
    "all(set(o) == {'error_code','from_number','log','message_direction','message_expiry','message_state','message_text','message_time','message_type','message_uuid','powerpack_id','resource_uri','to_number','total_amount','total_rate','units'} and re.match(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00$', o['message_time']) and o['message_direction'] == 'outbound' for o in d['objects'])"
request GET "$API" -u "$AUTH_ID:$TOKEN" -G --data-urlencode 'to_number=14155550131' --data-urlencode 'limit=1'
expect "list pages with limit and meta.next" \
    "code == 200 and len(d['objects']) == 1 and d['meta']['next'].endswith('offset=1&to_number=14155550131') and d['meta']['previous'] is None"
request GET "$API" -u "$AUTH_ID:$TOKEN" -G --data-urlencode 'to_number=14155550131' --data-urlencode 'limit=1' --data-urlencode 'offset=1'
expect "the last page: meta.next null, meta.previous set" \
    "code == 200 and [o['message_uuid'] for o in d['objects']] == ['$OLDER'] and d['meta']['next'] is None and d['meta']['previous'].endswith('offset=0&to_number=14155550131')"
request GET "$API" -u "$AUTH_ID:$TOKEN" -G --data-urlencode 'message_time__gte=2000-01-01 00:00' --data-urlencode 'message_time__lte=2000-01-02 00:00'
expect "list filters by message_time" "code == 200 and d['objects'] == [] and d['meta']['next'] is None and 'total_count' not in d['meta']"
# the two messages' times, to the microsecond, as the filters write them
request GET "$SIM_URL/_sim/messages" -G --data-urlencode 'to_number=14155550131'
read -r OLDER_S OLDER_US NEWER_US NEWER_NEXT_S < <(python3 -c '
import json, sys, datetime
m = {x["text"]: x["message_time_us"] for x in json.loads(sys.argv[1])["messages"]}
t = lambda us: datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=us)
print(t(m["older"]).strftime("%Y-%m-%d_%H:%M:%S"), t(m["older"]).strftime("%Y-%m-%d_%H:%M:%S.%f"),
      t(m["newer"]).strftime("%Y-%m-%d_%H:%M:%S.%f"),
      (t(m["newer"]) + datetime.timedelta(seconds=1)).strftime("%Y-%m-%d_%H:%M:%S"))' "$BODY")
list_between() {  # GTE LTE ('_' for the space): the uuids listed for 14155550131
    request GET "$API" -u "$AUTH_ID:$TOKEN" -G --data-urlencode 'to_number=14155550131' \
        --data-urlencode "message_time__gte=${1/_/ }" --data-urlencode "message_time__lte=${2/_/ }"
}
list_between "$OLDER_S" "$NEWER_NEXT_S"
expect "message_time__gte / __lte 'YYYY-MM-DD HH:MM:SS' take whole seconds (both, newest first)" \
    "code == 200 and [o['message_uuid'] for o in d['objects']] == ['$NEWER', '$OLDER']"
list_between "$OLDER_US" "$OLDER_US"
expect "message_time__gte = __lte = one message's time with .ffffff: that message only" \
    "code == 200 and [o['message_uuid'] for o in d['objects']] == ['$OLDER']"
list_between "$NEWER_US" "$NEWER_NEXT_S"
expect "message_time__gte with .ffffff excludes the message a microsecond before" \
    "code == 200 and [o['message_uuid'] for o in d['objects']] == ['$NEWER']"
request GET "$API" -u "$AUTH_ID:$TOKEN" -G --data-urlencode 'limit=21'
expect "list refuses limit > 20" 'code == 400 and plivo_error()'
request GET "$API$FIRST_UUID/" -u "$AUTH_ID:$TOKEN"
expect "GET one message" "code == 200 and d['message_uuid'] == '$FIRST_UUID' and is_uuid(d['api_id'])"
request GET "${API}00000000-0000-4000-8000-000000000000/" -u "$AUTH_ID:$TOKEN"
expect "GET an unknown message: 404" 'code == 404 and plivo_error()'

# ---- list API limits: 20 requests per 60 s, pages of 20, follow meta.next ---------------
request POST "$SIM_URL/_sim/reset"  # empties the rate-limit windows; the defaults stay
request GET "$SIM_URL/_sim/config"
expect "defaults: list limit 20 per 60000 ms, no total_count" \
    'd["list_rate_limit_count"] == 20 and d["list_rate_limit_window_ms"] == 60000 and d["list_total_count"] is False and d["rate_limit"] is True'
send '{"src":"14155550100","dst":"14155550181","text":"limits"}'
LIMIT_UUID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["message_uuid"][0])' "$BODY")
LIST_CODES=""
for ((i = 1; i <= 20; i++)); do  # with and without filters: all count
    if ((i % 2)); then
        LIST_CODES+=$(curl -s -o /dev/null -w ' %{http_code}' -u "$AUTH_ID:$TOKEN" "$API")
    else
        LIST_CODES+=$(curl -s -o /dev/null -w ' %{http_code}' -u "$AUTH_ID:$TOKEN" "$API?to_number=14155550181&limit=5")
    fi
done
[[ $LIST_CODES == "$(printf ' 200%.0s' {1..20})" ]] &&
    ok "20 list requests within a minute pass" || not_ok "20 list requests within a minute pass" "$LIST_CODES"
request GET "$API" -u "$AUTH_ID:$TOKEN" -G --data-urlencode 'to_number=14155550181'
expect "the 21st list request within a minute: 429, Plivo-shaped" \
    'code == 429 and plivo_error() and d["error"] == "too many requests" and "retry-after" not in headers'
request GET "$API$LIMIT_UUID/" -u "$AUTH_ID:$TOKEN"
expect "GET .../Message/{uuid}/ still works after the list limit is hit" \
    "code == 200 and d['message_uuid'] == '$LIMIT_UUID'"
stats
expect "stats: list_requests 20, list_rate_limited 1, get_message_requests 1" \
    'd["list_requests"] == 20 and d["list_rate_limited"] == 1 and d["rate_limited"] == 1 and d["get_message_requests"] == 1 and d["status_codes"]["429"] == 1'
# a refused list request uses up nothing: not the list window, not the account's
request POST "$SIM_URL/_sim/reset"
set_config '{"list_rate_limit_count":2,"list_rate_limit_window_ms":1000,"rate_limit_count":4,"rate_limit_window_ms":60000}'
LIST_CODES=""
for step in 1 2 sleep 3 4 sleep 5; do
    if [[ $step == sleep ]]; then sleep 0.6; continue; fi
    LIST_CODES+=$(curl -s -o /dev/null -w ' %{http_code}' -u "$AUTH_ID:$TOKEN" "$API")
done
[[ $LIST_CODES == " 200 200 429 429 200" ]] &&
    ok "refused list requests do not count in the list window (sliding: the 5th passes once the first 2 left it)" ||
    not_ok "refused list requests do not count in the list window" "$LIST_CODES"
send '{"src":"14155550100","dst":"14155550182","text":"account window"}'
expect "... nor in the account's window (limit 4: after 3 admitted lists a send passes)" 'code == 202'
send '{"src":"14155550100","dst":"14155550182","text":"account window"}'
expect "... and the account limit still counts the admitted ones" 'code == 429'
stats
expect "... stats: list_requests 3, list_rate_limited 2" 'd["list_requests"] == 3 and d["list_rate_limited"] == 2 and d["rate_limited"] == 3'
request POST "$SIM_URL/_sim/reset?config=1"
set_config '{"list_rate_limit_count":0}'
LIST_CODES=""
for ((i = 1; i <= 25; i++)); do
    LIST_CODES+=$(curl -s -o /dev/null -w ' %{http_code}' -u "$AUTH_ID:$TOKEN" "$API?limit=1")
done
stats
[[ $LIST_CODES == "$(printf ' 200%.0s' {1..25})" ]] && python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["list_requests"] == 25 and d["list_rate_limited"] == 0 else 1)' "$BODY" &&
    ok "list_rate_limit_count 0: no list limit (25 list requests pass)" ||
    not_ok "list_rate_limit_count 0: no list limit" "$LIST_CODES $BODY"

# paging: 45 messages come as 20 + 20 + 5 by following meta.next, newest first
request POST "$SIM_URL/_sim/reset?config=1"  # the list limit on again
for ((i = 1; i <= 45; i++)); do
    curl -s -o /dev/null -u "$AUTH_ID:$TOKEN" -d "{\"src\":\"14155550100\",\"dst\":\"1415555019$((i % 2))\",\"text\":\"page $i\"}" "$API"
done
: >"$WORK/pages.jsonl"
NEXT_PATH=/v1/Account/$AUTH_ID/Message/
for ((page = 0; page < 10 && ${#NEXT_PATH} > 0; page++)); do
    request GET "$SIM_URL$NEXT_PATH" -u "$AUTH_ID:$TOKEN"
    printf '%s\n' "$BODY" >>"$WORK/pages.jsonl"
    NEXT_PATH=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["meta"]["next"] or "")' "$BODY" 2>/dev/null)
done
request GET "$SIM_URL/_sim/messages" -G --data-urlencode 'limit=100'
printf '%s\n' "$BODY" >"$WORK/all.json"
BODY=$(python3 -c '
import json, sys
pages = [json.loads(line) for line in open(sys.argv[1])]
stored = [m["message_uuid"] for m in json.load(open(sys.argv[2]))["messages"]]  # oldest first
listed = [o["message_uuid"] for p in pages for o in p["objects"]]
print(json.dumps({"sizes": [len(p["objects"]) for p in pages], "distinct": len(set(listed)),
                  "newest_first": listed == stored[::-1], "last_next": pages[-1]["meta"]["next"],
                  "total_count_seen": any("total_count" in p["meta"] for p in pages),
                  "previous": [p["meta"]["previous"] for p in pages]}))' "$WORK/pages.jsonl" "$WORK/all.json")
expect "following meta.next through 45 messages: 20 + 20 + 5, 45 distinct uuids, newest first, last next null" \
    'd["sizes"] == [20, 20, 5] and d["distinct"] == 45 and d["newest_first"] and d["last_next"] is None and not d["total_count_seen"]'
expect "... meta.previous: null on the first page, then the page before" \
    'd["previous"][0] is None and d["previous"][1].endswith("limit=20&offset=0") and d["previous"][2].endswith("limit=20&offset=20")'
request GET "$API" -u "$AUTH_ID:$TOKEN" -G --data-urlencode 'offset=25' --data-urlencode 'limit=20'
expect "a page ending exactly at the last object: next null" \
    "code == 200 and len(d['objects']) == 20 and d['meta']['next'] is None"
set_config '{"list_total_count":true}'
expect "list_total_count is a setting" 'code == 200 and d["list_total_count"] is True'
request GET "$API" -u "$AUTH_ID:$TOKEN"
expect "list_total_count true: meta.total_count is back (45), next as before" \
    "code == 200 and d['meta']['total_count'] == 45 and len(d['objects']) == 20 and d['meta']['next'].endswith('limit=20&offset=20')"
request GET "$API" -u "$AUTH_ID:$TOKEN" -G --data-urlencode 'to_number=14155550191' --data-urlencode 'offset=20'
expect "... counting the filter's matches (23 to one number), past the page too" \
    "code == 200 and d['meta']['total_count'] == 23 and len(d['objects']) == 3 and d['meta']['next'] is None"
set_config '{"list_total_count":false}'
request GET "$API" -u "$AUTH_ID:$TOKEN" -G --data-urlencode 'limit=1'
expect "list_total_count false: gone again" "code == 200 and 'total_count' not in d['meta']"
stats
expect "stats: 7 list requests admitted here, none refused" 'd["list_requests"] == 7 and d["list_rate_limited"] == 0'
request POST "$SIM_URL/_sim/reset?config=1"

# ---- faults ------------------------------------------------------------------------------
set_config '{"fail_next":[{"kind":"error_503","count":1},{"kind":"error_500_after_store","count":1},{"kind":"error_429_retry_after","count":1}],"retry_after_s":7}'
expect "POST /_sim/config takes fail_next" 'code == 200 and len(d["fail_next"]) == 3 and d["retry_after_s"] == 7'
send '{"src":"14155550100","dst":"14155550141","text":"503"}'
expect "fault error_503: 503, Plivo-shaped" 'code == 503 and plivo_error()'
send '{"src":"14155550100","dst":"14155550142","text":"500 after store"}'
expect "fault error_500_after_store: 500" 'code == 500 and plivo_error()'
send '{"src":"14155550100","dst":"14155550143","text":"429"}'
expect "fault error_429_retry_after: 429 with Retry-After" 'code == 429 and "retry-after: 7" in headers'
send '{"src":"14155550100","dst":"14155550141","text":"after the faults"}'
expect "the request after the queued faults is accepted" 'code == 202'
request GET "$SIM_URL/_sim/messages" -G --data-urlencode 'to_number=14155550141'
expect "error_503 stored nothing" 'code == 200 and d["total_count"] == 1 and d["messages"][0]["text"] == "after the faults"'
request GET "$SIM_URL/_sim/messages" -G --data-urlencode 'to_number=14155550142'
expect "error_500_after_store stored the message (with its request body)" \
    'd["total_count"] == 1 and d["messages"][0]["fault"] == "error_500_after_store" and d["messages"][0]["request"]["text"] == "500 after store"'
set_config '{"fail_next":"accept_then_reset,reset_before_body"}'
send '{"src":"14155550100","dst":"14155550144","text":"reset"}'
expect "fault accept_then_reset: no answer (curl sees the reset)" 'code == 0'
send '{"src":"14155550100","dst":"14155550144","text":"reset"}'
expect "fault reset_before_body: no answer" 'code == 0'
request GET "$SIM_URL/_sim/messages" -G --data-urlencode 'to_number=14155550144'
expect "accept_then_reset stored, reset_before_body did not" 'd["total_count"] == 1'
set_config '{"fail_next":"accept_then_timeout"}'
START=$(date +%s%N)
send '{"src":"14155550100","dst":"14155550145","text":"timeout"}'
ELAPSED_MS=$((($(date +%s%N) - START) / 1000000))
expect "fault accept_then_timeout: no answer, held ~timeout_ms ($ELAPSED_MS ms)" "code == 0 and $ELAPSED_MS >= 250"
set_config '{"error_503_rate":2}'
expect "/_sim/config rejects a rate above 1" 'code == 400 and "error_503_rate" in d["error"]'
request POST "$SIM_URL/_sim/reset"  # also empties the rate limiter's window
set_config '{"rate_limit_count":2,"rate_limit_window_ms":60000}'
send '{"src":"14155550100","dst":"14155550146","text":"1"}'
send '{"src":"14155550100","dst":"14155550146","text":"2"}'
expect "account rate limit: requests within the count pass" 'code == 202'
send '{"src":"14155550100","dst":"14155550146","text":"3"}'
expect "account rate limit: 429 beyond the count" 'code == 429 and d["error"] == "too many requests"'
set_config '{"rate_limit":0}'
expect "booleans in /_sim/config also take 0 / 1" 'code == 200 and d["rate_limit"] is False'

# ---- counters ----------------------------------------------------------------------------
request POST "$SIM_URL/_sim/reset"
expect "POST /_sim/reset" 'code == 200'
stats
expect "reset cleared the counters" 'd["accepted_messages"] == 0 and d["requests_total"] == 0'
send '{"src":"14155550100","dst":"14155550151","text":"same","type":"mms","media_urls":["https://example.com/a.jpg"]}'
send '{"src":"14155550100","dst":"14155550151","text":"same","type":"mms","media_urls":["https://example.com/a.jpg"]}'
send '{"src":"14155550100","dst":"14155550151","text":"same","type":"mms","media_urls":["https://example.com/b.jpg"]}'
stats
expect "duplicates counts a repeated (src, dst, text, media_urls)" \
    'd["accepted_messages"] == 3 and d["duplicates"] == 1 and d["distinct_accepted"] == 2 and d["status_codes"]["202"] == 3'

set_config '{"latency_ms":400}'
PARALLEL=()
for n in 1 2 3; do
    curl -s -o /dev/null -u "$AUTH_ID:$TOKEN" -d "{\"src\":\"14155550100\",\"dst\":\"1415555017$n\",\"text\":\"parallel\"}" "$API" &
    PARALLEL+=($!)
done
wait "${PARALLEL[@]}"
set_config '{"latency_ms":0}'
stats
expect "max_concurrent_requests sees 3 parallel sends (latency_ms 400)" 'd["max_concurrent_requests"] == 3 and d["concurrent_requests"] == 0'

# ---- delivery reports --------------------------------------------------------------------
set_config '{"delivered_rate":1,"undelivered_rate":0,"failed_rate":0}'
send "{\"src\":\"14155550100\",\"dst\":\"14155550161\",\"text\":\"report me\",\"url\":\"$RECV/status?tenant=42&b=x%20y\"}"
POST_UUID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["message_uuid"][0])' "$BODY")
send "{\"src\":\"14155550100\",\"dst\":\"14155550162\",\"text\":\"by GET\",\"url\":\"$RECV/status-get?tenant=7\",\"method\":\"GET\"}"
GET_UUID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["message_uuid"][0])' "$BODY")
set_config '{"delivered_rate":0,"undelivered_rate":1,"undelivered_error_codes":[30]}'
send "{\"src\":\"14155550100\",\"dst\":\"14155550163\",\"text\":\"undelivered\",\"url\":\"$RECV/flaky\"}"
BAD_UUID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["message_uuid"][0])' "$BODY")

set_config '{"delivered_rate":1,"undelivered_rate":0,"report_duplicate_rate":1,"report_out_of_order_rate":1}'
send "{\"src\":\"14155550100\",\"dst\":\"14155550164\",\"text\":\"twice, out of order\",\"url\":\"$RECV/odd\"}"
ODD_UUID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["message_uuid"][0])' "$BODY")
set_config '{"report_duplicate_rate":0,"report_out_of_order_rate":0}'

# wait for 15 answered-200 reports (3 per message, 6 for /odd; /flaky's first attempts answer 500)
for ((i = 0; i < 100; i++)); do
    [[ -f $WORK/reports.jsonl ]] && (($(grep -c '"answered": 200' "$WORK/reports.jsonl") >= 15)) && break
    sleep 0.1
done
if python3 - "$WORK/reports.jsonl" "$TOKEN" "$RECV" "$POST_UUID" "$GET_UUID" "$BAD_UUID" "$WORK" "$ODD_UUID" >"$WORK/report_check.out" 2>&1 <<'PY'
import json, sys
sys.path.insert(0, sys.argv[7])
import signature as sig
path, token, recv, post_uuid, get_uuid, bad_uuid = sys.argv[1:7]
sig.self_test()   # the checker reproduces plivo-api.md's vectors A, B, E and F
from urllib.parse import urlsplit, parse_qsl
records = [json.loads(line) for line in open(path)]
failures = []
def fail(msg): failures.append(msg)
FIELDS = {"MessageUUID", "To", "From", "Type", "Status", "Units", "TotalRate", "TotalAmount", "MCC",
          "MNC", "Sequence", "MessageTime", "QueuedTime", "SentTime", "DeliveryReportTime",
          "ParentMessageUUID", "PartInfo", "PowerpackUUID"}
by_message = {}
for r in records:
    h = {k.lower(): v for k, v in r["headers"].items()}
    if r["method"] == "POST":
        url = recv + r["path"]                       # the url given with the message
        params = parse_qsl(r["body"], keep_blank_values=True)
        if h.get("content-type") != "application/x-www-form-urlencoded":
            fail("POST report not form-encoded: %r" % h.get("content-type"))
        fields = dict(params)
        v3 = sig.v3(url, h["x-plivo-signature-v3-nonce"], "POST", params, token)
    else:
        url = recv + r["path"]                       # query = the url's own query + fields
        fields = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        v3 = sig.v3(url, h["x-plivo-signature-v3-nonce"], "GET", [], token)
    v2 = sig.v2(url, h["x-plivo-signature-v2-nonce"], token)
    for name, expected in (("x-plivo-signature-v3", v3), ("x-plivo-signature-ma-v3", v3),
                           ("x-plivo-signature-v2", v2), ("x-plivo-signature-ma-v2", v2)):
        if not sig.valid(h.get(name, ""), expected):
            fail("%s invalid on %s %s" % (name, r["method"], r["path"][:60]))
    for name in ("x-plivo-signature-v2-nonce", "x-plivo-signature-v3-nonce"):
        if len(h.get(name, "")) != 20 or not h[name].isdigit():
            fail("%s is not 20 digits: %r" % (name, h.get(name)))
    missing = FIELDS - set(fields)
    if missing:
        fail("report misses %s" % sorted(missing))
    if r["answered"] == 200:
        by_message.setdefault(fields.get("MessageUUID"), []).append(fields)

def statuses(uuid):
    return [(f["Sequence"], f["Status"], f.get("ErrorCode")) for f in by_message.get(uuid, [])]
want = [("1", "queued", None), ("2", "sent", None), ("3", "delivered", None)]
if sorted(statuses(post_uuid)) != want: fail("POST reports: %s" % statuses(post_uuid))
if sorted(statuses(get_uuid)) != want: fail("GET reports: %s" % statuses(get_uuid))
want_bad = [("1", "queued", None), ("2", "sent", None), ("3", "undelivered", "30")]
if sorted(statuses(bad_uuid)) != want_bad: fail("undelivered reports: %s" % statuses(bad_uuid))
tenant = [f for f in by_message.get(post_uuid, [])]
if any(f["To"] != "14155550161" or f["From"] != "14155550100" or f["Type"] != "sms" for f in tenant):
    fail("POST report fields wrong: %s" % tenant[:1])
odd = [f["Sequence"] for f in by_message.get(sys.argv[8], [])]
first_seen = list(dict.fromkeys(odd))
if sorted(odd) != ["1", "1", "2", "2", "3", "3"] or first_seen != ["1", "3", "2"]:
    fail("duplicated, out-of-order reports: Sequence arrival %s" % odd)
retried = [r for r in records if r["path"].startswith("/flaky") and r["answered"] == 500]
if len(retried) != 3: fail("expected 3 first attempts answered 500 on /flaky, saw %d" % len(retried))
print("%d reports checked" % len(records))
if failures:
    print("\n".join(failures))
    sys.exit(1)
PY
then
    ok "delivery reports: lifecycle, all fields, V2+V3 signatures, duplicates, out of order ($(tail -1 "$WORK/report_check.out"))"
else
    not_ok "delivery reports" "$(cat "$WORK/report_check.out")"
fi
stats
expect "report counters: 15 delivered, 3 failed attempts retried, 3 duplicated, 1 out of order" \
    'd["reports"]["sent"] == 15 and d["reports"]["attempts_failed"] == 3 and d["reports"]["retried"] == 3 and d["reports"]["duplicated"] == 3 and d["reports"]["out_of_order"] == 1'
request GET "$API$BAD_UUID/" -u "$AUTH_ID:$TOKEN"
expect "the message object follows the lifecycle (undelivered, error_code 30)" \
    'd["message_state"] == "undelivered" and d["error_code"] == "30"'

# ---- inbound messages and opt-outs -------------------------------------------------------
request POST "$SIM_URL/_sim/reset"
mkdir -p "$WORK/inbound"
# inbound NAME JSON: POST /_sim/inbound; a 202 answer is kept as $WORK/inbound/NAME.json
# for the check of what arrived
inbound() {
    request POST "$SIM_URL/_sim/inbound" -H 'Content-Type: application/json' -d "$2"
    [[ $CODE == 202 ]] && printf '%s' "$BODY" >"$WORK/inbound/$1.json"
}
# a text message from THEIR number to OUR number, delivered to the receiver's /inbound/kw
inbound_text() {  # NAME THEIR OUR TEXT [extra JSON members]
    inbound "$1" "{\"from\":\"$2\",\"to\":\"$3\",\"text\":\"$4\",\"url\":\"$RECV/inbound/kw\"${5:+,$5}}"
}
# wait_final UUID: until the message has left queued/sent (a few report_delay_ms)
wait_final() {
    local i
    for ((i = 0; i < 50; i++)); do
        request GET "$API$1/" -u "$AUTH_ID:$TOKEN"
        [[ $BODY == *'"message_state":"failed"'* || $BODY == *'"message_state":"delivered"'* ]] && return
        sleep 0.1
    done
}
send_to() {  # SRC DST [url]: a send; sets SENT_UUID
    send "{\"src\":\"$1\",\"dst\":\"$2\",\"text\":\"after the keyword\"${3:+,\"url\":\"$3\"}}"
    SENT_UUID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["message_uuid"][0])' "$BODY")
}
opt_outs() { request GET "$SIM_URL/_sim/opt_outs"; }

inbound sms "{\"from\":\"+14155550123\",\"to\":\"+1 415 555 0100\",\"text\":\"Hello there\",\"url\":\"$RECV/inbound/sms?tenant=9&b=x%20y\"}"
expect "inbound SMS: 202 with a fresh uuid, intent \"\", 1 delivery" \
    'code == 202 and is_uuid(d["message_uuid"]) and d["intent"] == "" and d["deliveries"] == 1 and d["method"] == "POST" and d["fields"]["From"] == "14155550123" and d["fields"]["To"] == "14155550100"'
inbound mms0 "{\"from\":\"+14155550123\",\"to\":\"+14155550100\",\"text\":\"two pictures\",\"media\":[\"https://example.com/a.jpg\",\"https://example.com/b.png\"],\"media_start\":0,\"url\":\"$RECV/inbound/mms0\"}"
expect "inbound MMS: media make it mms, Media0.. with media_start 0" \
    'code == 202 and d["fields"]["Type"] == "mms" and d["fields"]["Media0"] == "https://example.com/a.jpg" and d["fields"]["Media1"] == "https://example.com/b.png" and "Media2" not in d["fields"]'
inbound mms1 "{\"from\":\"14155550124\",\"to\":\"14155550100\",\"type\":\"mms\",\"media\":[\"https://example.com/c.gif\"],\"url\":\"$RECV/inbound/mms1?x=1\",\"method\":\"get\"}"
expect "inbound MMS by GET: Media1 by default (media_start 1)" \
    'code == 202 and d["method"] == "GET" and d["fields"]["Media1"] == "https://example.com/c.gif" and "Media0" not in d["fields"]'
LONG_TEXT=$(printf 'a%.0s' {1..161})
inbound long "{\"from\":\"14155550123\",\"to\":\"14155550100\",\"text\":\"$LONG_TEXT\",\"url\":\"$RECV/inbound/long\"}"
expect "inbound SMS of 161 characters: Units 2" 'code == 202 and d["fields"]["Units"] == "2" and d["fields"]["TotalAmount"] == "0.01000"'
inbound repeat "{\"from\":\"14155550125\",\"to\":\"14155550100\",\"text\":\"again\",\"message_uuid\":\"inbound-repeat-0001\",\"repeat\":3,\"url\":\"$RECV/inbound/repeat\"}"
expect "inbound repeat 3 with a given message_uuid: 3 deliveries" \
    'code == 202 and d["message_uuid"] == "inbound-repeat-0001" and d["deliveries"] == 3'
inbound flaky "{\"from\":\"14155550125\",\"to\":\"14155550100\",\"text\":\"retry me\",\"url\":\"$RECV/inbound/flaky\"}"
expect "inbound to a receiver that answers 500 first: 202" 'code == 202'
inbound down "{\"from\":\"14155550125\",\"to\":\"14155550100\",\"text\":\"nobody home\",\"url\":\"$RECV/inbound/down\"}"
expect "inbound to a receiver that always answers 503: 202" 'code == 202'
set_config "{\"inbound_url\":\"$RECV/inbound/default\",\"inbound_method\":\"GET\"}"
expect "inbound_url and inbound_method are settings" "code == 200 and d['inbound_url'] == '$RECV/inbound/default'"
inbound default '{"from":"14155550126","to":"14155550100","text":"to the configured url"}'
expect "inbound without url or method: inbound_url, inbound_method" \
    "code == 202 and d['url'] == '$RECV/inbound/default' and d['method'] == 'GET'"
set_config '{"inbound_method":"PUT"}'
expect "inbound_method must be POST or GET" 'code == 400 and "inbound_method" in d["error"]'
set_config '{"inbound_url":"","inbound_method":"POST"}'

# Plivo's keywords: the whole text, trimmed, any case; each from a number of its own
# (+14155550201, +14155550202, ...): " Stop " comes from +14155550203, "Revoke" from
# +14155550216
n=0
their_number() { printf '+141555502%02d' "$1"; }
for text in STOP stop " Stop " STOPALL "stop all" END Quit cancel UNSUB unsubscribe; do
    n=$((n + 1))
    inbound_text "kw$n" "$(their_number $n)" "+14155550100" "$text"
    expect "\"$text\" gets MessageIntent optout" 'code == 202 and d["intent"] == "optout" and d["fields"]["MessageIntent"] == "optout"'
done
for text in START unstop; do
    n=$((n + 1))
    inbound_text "kw$n" "$(their_number $n)" "+14155550100" "$text"
    expect "\"$text\" gets MessageIntent optin" 'code == 202 and d["intent"] == "optin"'
done
for text in HELP " info"; do
    n=$((n + 1))
    inbound_text "kw$n" "$(their_number $n)" "+14155550100" "$text"
    expect "\"$text\" gets MessageIntent help" 'code == 202 and d["intent"] == "help"'
done
for text in "STOP!" Revoke "opt out" "Stop please" "STOP  ALL"; do
    n=$((n + 1))
    inbound_text "kw$n" "$(their_number $n)" "+14155550100" "$text"
    expect "\"$text\" is no Plivo keyword: MessageIntent \"\"" 'code == 202 and d["intent"] == "" and d["fields"]["MessageIntent"] == ""'
done
inbound mms_stop "{\"from\":\"14155550399\",\"to\":\"14155550100\",\"text\":\"STOP\",\"media\":[\"https://example.com/d.jpg\"],\"url\":\"$RECV/inbound/kw\"}"
expect "an MMS gets no intent (Plivo reports it for SMS)" 'code == 202 and d["intent"] == ""'

# opt-outs: per (our number, their number)
inbound_text stop1 "+14155550401" "+14155550100" "STOP"
opt_outs
expect "GET /_sim/opt_outs lists the pair STOP blocked" \
    'code == 200 and {"our_number": "14155550100", "their_number": "14155550401"} in [{k: o[k] for k in ("our_number", "their_number")} for o in d["opt_outs"]] and all(re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$", o["since"]) for o in d["opt_outs"])'
send_to 14155550100 14155550401 "$RECV/optout-report"
expect "a send to an opted-out number is accepted (202)" 'code == 202'
BLOCKED_UUID=$SENT_UUID
wait_final "$BLOCKED_UUID"
expect "... and ends failed with error_code 200" 'd["message_state"] == "failed" and d["error_code"] == "200"'
request GET "$API" -u "$AUTH_ID:$TOKEN" -G --data-urlencode 'to_number=14155550401'
expect "... listed as failed, 200" "[(o['message_uuid'], o['message_state'], o['error_code']) for o in d['objects']] == [('$BLOCKED_UUID', 'failed', '200')]"
for ((i = 0; i < 50; i++)); do
    (($(grep -c '"path": "/optout-report' "$WORK/reports.jsonl") >= 2)) && break
    sleep 0.1
done
OPTOUT_REPORTS=$(python3 -c '
import json, sys
from urllib.parse import parse_qsl
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["path"] == "/optout-report":
        f = dict(parse_qsl(r["body"], keep_blank_values=True))
        print(f["MessageUUID"], f["Sequence"], f["Status"], f.get("ErrorCode", "-"))
' "$WORK/reports.jsonl" | sort -k2 | tr '\n' ' ')
[[ $OPTOUT_REPORTS == "$BLOCKED_UUID 1 queued - $BLOCKED_UUID 2 failed 200 " ]] &&
    ok "... its delivery reports: queued, then failed with ErrorCode 200" ||
    not_ok "delivery reports of an opted-out send" "$OPTOUT_REPORTS"
send_to 14155550199 14155550401
wait_final "$SENT_UUID"
expect "the block is per pair: another of our numbers still reaches them" 'd["message_state"] == "delivered"'
send_to 14155550100 14155550203  # " Stop " blocked this one
wait_final "$SENT_UUID"
expect "\" Stop \" blocked its pair too" 'd["message_state"] == "failed" and d["error_code"] == "200"'
inbound_text start1 "+14155550401" "+14155550100" "start"
expect "START: intent optin" 'code == 202 and d["intent"] == "optin"'
opt_outs
expect "START unblocked the pair" 'not any(o["their_number"] == "14155550401" for o in d["opt_outs"])'
send_to 14155550100 14155550401
wait_final "$SENT_UUID"
expect "after START a send is delivered" 'd["message_state"] == "delivered"'
send_to 14155550100 14155550216  # "Revoke": not Plivo's, so not blocked
wait_final "$SENT_UUID"
expect "after \"Revoke\" a send is delivered (Plivo does not know the word)" 'd["message_state"] == "delivered"'
inbound_text override "+14155550402" "+14155550100" "please leave me alone" '"intent":"optout"'
opt_outs
expect "intent given as optout: sent and acted on as such" \
    'any(o["their_number"] == "14155550402" for o in d["opt_outs"])'
set_config '{"opt_out_enabled":false}'
inbound_text disabled "+14155550403" "+14155550100" "STOP"
expect "opt_out_enabled false: still intent optout" 'code == 202 and d["intent"] == "optout"'
opt_outs
expect "opt_out_enabled false: nothing blocked" 'not any(o["their_number"] == "14155550403" for o in d["opt_outs"])'
send_to 14155550100 14155550401
send_to 14155550100 14155550402  # blocked before, not enforced now
wait_final "$SENT_UUID"
expect "opt_out_enabled false: a listed pair is not enforced" 'd["message_state"] == "delivered"'
set_config '{"opt_out_enabled":true}'
stats
expect "stats: opt_outs (pairs) and opted_out_sends" 'd["opt_outs"] >= 11 and d["opted_out_sends"] == 2'

# bad input: 400 with an error naming the problem
bad_inbound() {  # JSON WORDS-IN-THE-ERROR
    request POST "$SIM_URL/_sim/inbound" -d "$1"
    expect "inbound 400: ${1:0:60}" "code == 400 and '$2' in d['error']"
}
bad_inbound '{}' 'from is required'
bad_inbound '{"from":"+14155550123"}' 'to is required'
bad_inbound '{"from":"call me","to":"14155550100","url":"http://127.0.0.1:1/"}' 'invalid from'
bad_inbound '{"from":"14155550123","to":"14155550100","text":"x"}' 'no url'
bad_inbound '{"from":"14155550123","to":"14155550100","url":"http://127.0.0.1:1/","type":"whatsapp"}' 'invalid type'
bad_inbound '{"from":"14155550123","to":"14155550100","url":"http://127.0.0.1:1/","type":"sms","media":["https://example.com/a.jpg"]}' 'sms has no media'
bad_inbound "{\"from\":\"14155550123\",\"to\":\"14155550100\",\"url\":\"http://127.0.0.1:1/\",\"media\":$MEDIA}" 'too many media'
bad_inbound '{"from":"14155550123","to":"14155550100","url":"http://127.0.0.1:1/","media":["ftp://example.com/a.jpg"]}' 'http(s) URLs'
bad_inbound '{"from":"14155550123","to":"14155550100","url":"http://127.0.0.1:1/","media_start":2}' 'media_start'
bad_inbound '{"from":"14155550123","to":"14155550100","url":"http://127.0.0.1:1/","repeat":0}' 'repeat'
bad_inbound '{"from":"14155550123","to":"14155550100","url":"/relative"}' 'invalid url'
bad_inbound '{"from":"14155550123","to":"14155550100","url":"http://127.0.0.1:1/","method":"PUT"}' 'invalid method'
bad_inbound '{"from":"14155550123","to":"14155550100","url":"http://127.0.0.1:1/","intent":"stop"}' 'intent'
bad_inbound '{"from":"14155550123","to":"14155550100","url":"http://127.0.0.1:1/","text":5}' 'text must be a string'
bad_inbound '{"from":"14155550123","to":"14155550100","url":"http://127.0.0.1:1/","message_uuid":""}' 'message_uuid'
bad_inbound '{"from":"14155550123","to":"14155550100","url":"http://127.0.0.1:1/","media_urls":[]}' 'unknown key'
bad_inbound '{"from":' 'JSON object'

# what arrived: every delivery of every inbound message above, signatures verified
INBOUND_COUNT=$(ls "$WORK/inbound" | wc -l)
# 2 + 1 per message, +2 for repeat 3, +1 for /flaky's retry, +2 for /down's retries
EXPECTED=$((INBOUND_COUNT + 5))
for ((i = 0; i < 100; i++)); do
    (($(grep -c '"path": "/inbound/' "$WORK/reports.jsonl") >= EXPECTED)) && break
    sleep 0.1
done
sleep 0.2  # nothing more may come
stats
printf '%s' "$BODY" >"$WORK/inbound_stats.json"
python3 - "$WORK" "$TOKEN" "$RECV" >"$WORK/inbound_check.out" 2>&1 <<'PY'
import glob, json, os, sys
sys.path.insert(0, sys.argv[1])
import signature as sig
work, token, recv = sys.argv[1:4]
from urllib.parse import urlsplit, parse_qsl
answers = {os.path.basename(p)[:-5]: json.load(open(p)) for p in glob.glob(work + "/inbound/*.json")}
records = [json.loads(line) for line in open(work + "/reports.jsonl")]
records = [r for r in records if r["path"].startswith("/inbound/")]
stats = json.load(open(work + "/inbound_stats.json"))["inbound"]
results = []
def check(name, problems):
    results.append((name, problems))

by_uuid = {}
problems = []
for r in records:
    h = {k.lower(): v for k, v in r["headers"].items()}
    url = recv + r["path"]
    if r["method"] == "POST":
        params = parse_qsl(r["body"], keep_blank_values=True)
        if h.get("content-type") != "application/x-www-form-urlencoded":
            problems.append("POST not form-encoded: %r" % h.get("content-type"))
        v3 = sig.v3(url, h.get("x-plivo-signature-v3-nonce", ""), "POST", params, token)
    else:
        params = parse_qsl(urlsplit(url).query, keep_blank_values=True)
        v3 = sig.v3(url, h.get("x-plivo-signature-v3-nonce", ""), "GET", [], token)
    v2 = sig.v2(url, h.get("x-plivo-signature-v2-nonce", ""), token)
    for name, expected in (("x-plivo-signature-v3", v3), ("x-plivo-signature-ma-v3", v3),
                           ("x-plivo-signature-v2", v2), ("x-plivo-signature-ma-v2", v2)):
        if not sig.valid(h.get(name, ""), expected):
            problems.append("%s invalid on %s %s" % (name, r["method"], r["path"][:60]))
    for name in ("x-plivo-signature-v2-nonce", "x-plivo-signature-v3-nonce"):
        if len(h.get(name, "")) != 20 or not h[name].isdigit():
            problems.append("%s is not 20 digits: %r" % (name, h.get(name)))
    fields = dict(params)
    by_uuid.setdefault(fields.get("MessageUUID"), []).append((r, fields, h))
check("inbound: every delivery signed, V2 + V3 (and Ma-) verified (%d requests)" % len(records),
      problems)

problems = []
SMS = {"From", "To", "Type", "MessageUUID", "Text", "Units", "TotalRate", "TotalAmount",
       "MessageIntent", "PowerpackUUID"}
for name, a in sorted(answers.items()):
    got = by_uuid.get(a["message_uuid"], [])
    want = a["deliveries"] + {"flaky": 1, "down": 2}.get(name, 0)
    if len(got) != want:
        problems.append("%s: %d requests, expected %d" % (name, len(got), want))
    for r, fields, _ in got:
        own_query = {k for k, _ in parse_qsl(urlsplit(a["url"]).query, keep_blank_values=True)}
        sent = {k: v for k, v in fields.items() if k not in own_query}
        if sent != a["fields"]:
            problems.append("%s: fields %s differ from the 202 answer's %s" % (name, sent, a["fields"]))
        if r["method"] != a["method"] or recv + r["path"].split("?")[0] != a["url"].split("?")[0]:
            problems.append("%s: arrived as %s %s" % (name, r["method"], r["path"]))
        keys = set(sent)
        if sent.get("Type") == "sms":
            if keys != SMS:
                problems.append("%s: SMS fields %s" % (name, sorted(keys)))
        else:
            n, start = int(sent.get("MediaCount", "-1")), 0 if name == "mms0" else 1
            media = {"Media%d" % i for i in range(start, start + n)}
            if keys != (SMS - {"Text"}) | {"Body", "MediaCount"} | media:
                problems.append("%s: MMS fields %s" % (name, sorted(keys)))
        if sent.get("MessageIntent") != a["intent"]:
            problems.append("%s: MessageIntent %r, answer said %r" % (name, sent.get("MessageIntent"), a["intent"]))
check("inbound: each message's fields arrive as answered, Plivo's names only", problems)

def first(name):
    got = by_uuid.get(answers.get(name, {}).get("message_uuid"), [])
    return got[0][1] if got else {}
problems = []
s = first("sms")
if (s.get("From"), s.get("To"), s.get("Type"), s.get("Text"), s.get("Units"), s.get("TotalRate"),
        s.get("TotalAmount"), s.get("MessageIntent"), s.get("PowerpackUUID"), s.get("tenant")) != \
        ("14155550123", "14155550100", "sms", "Hello there", "1", "0.00500", "0.00500", "", "", None):
    problems.append("SMS: %s" % s)
m = first("mms0")
if (m.get("Type"), m.get("Body"), m.get("MediaCount"), m.get("Media0"), m.get("Media1"), m.get("Units"),
        m.get("TotalRate")) != ("mms", "two pictures", "2", "https://example.com/a.jpg",
                                "https://example.com/b.png", "1", "0.02000"):
    problems.append("MMS from 0: %s" % m)
m = first("mms1")
if (m.get("Body"), m.get("MediaCount"), m.get("Media1"), m.get("x")) != ("", "1", "https://example.com/c.gif", "1"):
    problems.append("MMS from 1, by GET: %s" % m)
check("inbound: SMS, MMS from Media0 and from Media1 (GET) carry the right values", problems)

problems = []
rep = by_uuid.get("inbound-repeat-0001", [])
nonces = {h["x-plivo-signature-v3-nonce"] for _, _, h in rep}
if len(rep) != 3 or len(nonces) != 3:
    problems.append("%d requests, %d distinct V3 nonces" % (len(rep), len(nonces)))
check("inbound repeat 3: three requests, one MessageUUID, a fresh nonce each", problems)

problems = []
flaky = [r["answered"] for r, _, _ in by_uuid.get(answers["flaky"]["message_uuid"], [])]
down = [r["answered"] for r, _, _ in by_uuid.get(answers["down"]["message_uuid"], [])]
if flaky != [500, 200]: problems.append("/inbound/flaky answered %s" % flaky)
if down != [503, 503, 503]: problems.append("/inbound/down answered %s" % down)
check("inbound: a non-2xx answer is retried (report_retry_delays_ms), then given up", problems)

answered_ok = sum(1 for r in records if r["answered"] == 200)
answered_bad = len(records) - answered_ok
want = {"messages": len(answers), "requested": sum(a["deliveries"] for a in answers.values()),
        "delivered": answered_ok, "attempts_failed": answered_bad, "retried": 3, "gave_up": 1}
check("inbound counters in /_sim/stats: %s" % want,
      [] if stats == want else ["stats say %s" % stats])
for name, problems in results:
    print(("PASS\t%s" % name) if not problems else ("FAIL\t%s\t%s" % (name, "; ".join(problems[:5]))))
PY
while IFS=$'\t' read -r verdict name detail; do
    case $verdict in
        PASS) ok "$name" ;;
        FAIL) not_ok "$name" "$detail" ;;
        *) not_ok "inbound check" "$verdict $name $detail" ;;
    esac
done <"$WORK/inbound_check.out"
request POST "$SIM_URL/_sim/reset"
opt_outs
expect "POST /_sim/reset clears the opt-outs" 'code == 200 and d["opt_outs"] == []'

# ---- send options (issue 17): powerpacks, message_expiry, log, costs, MMS fallbacks ------
request POST "$SIM_URL/_sim/reset"
# uuid_of: the first message_uuid of the last answer
uuid_of() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["message_uuid"][0])' "$BODY"; }
record() { request GET "$API$1/" -u "$AUTH_ID:$TOKEN"; }  # the message object
# wait_terminal UUID [tenths]: until delivered, undelivered or failed
wait_terminal() {
    local i
    for ((i = 0; i < ${2:-50}; i++)); do
        record "$1"
        [[ $BODY =~ \"message_state\":\"(delivered|undelivered|failed)\" ]] && return
        sleep 0.1
    done
}
# reports PATH [count]: BODY = JSON list of the fields of the reports answered 200 on
# $RECV/opts/PATH, oldest first (waits until there are count of them)
reports() {
    local i
    for ((i = 0; i < 50; i++)); do
        (($(grep -c "\"path\": \"/opts/$1\"" "$WORK/reports.jsonl") >= ${2:-1})) && break
        sleep 0.1
    done
    CODE=200
    BODY=$(python3 - "$WORK/reports.jsonl" "/opts/$1" <<'PY'
import json, sys
from urllib.parse import parse_qsl
out = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["path"] == sys.argv[2] and r["answered"] == 200:
        out.append(dict(parse_qsl(r["body"], keep_blank_values=True)))
print(json.dumps(out))
PY
)
}

# powerpack_uuid: exactly one of src / powerpack_uuid, a known pack
send '{"src":"14155550100","powerpack_uuid":"pack-a","dst":"14155550611","text":"both"}'
expect "src and powerpack_uuid together: 400, Plivo-shaped" 'code == 400 and plivo_error() and "powerpack_uuid" in d["error"]'
send '{"dst":"14155550611","text":"neither"}'
expect "neither src nor powerpack_uuid: 400" 'code == 400 and plivo_error() and "src" in d["error"]'
send '{"powerpack_uuid":"no-such-pack","dst":"14155550611","text":"unknown pack"}'
expect "an unknown powerpack_uuid: 400 powerpack not found" 'code == 400 and plivo_error() and "powerpack not found" in d["error"]'
send '{"powerpack_uuid":"","dst":"14155550611","text":"empty pack"}'
expect "an empty powerpack_uuid: 400" 'code == 400 and plivo_error()'
request GET "$SIM_URL/_sim/config"
expect "--powerpack UUID=N,N configures a pack (digits)" \
    'd["powerpacks"] == {"pack-a": ["14155550601", "14155550602"]} and d["no_mms_destinations"] == ["14155550677"]'
send "{\"powerpack_uuid\":\"pack-a\",\"dst\":\"14155550611<14155550612\",\"text\":\"from the pack\",\"url\":\"$RECV/opts/pack\"}"
expect "a send with powerpack_uuid: 202, one uuid per destination" 'code == 202 and len(d["message_uuid"]) == 2'
PACK_1=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["message_uuid"][0])' "$BODY")
PACK_2=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["message_uuid"][1])' "$BODY")
send "{\"powerpack_uuid\":\"pack-a\",\"dst\":\"14155550611\",\"text\":\"again\",\"url\":\"$RECV/opts/pack\"}"
PACK_3=$(uuid_of)
wait_terminal "$PACK_3"
request GET "$SIM_URL/_sim/messages"
printf '%s' "$BODY" >"$WORK/pack_messages.json"
FROM_1=$(python3 -c 'import json,sys; m={x["message_uuid"]:x for x in json.load(open(sys.argv[1]))["messages"]}; print(m[sys.argv[2]]["from_number"])' "$WORK/pack_messages.json" "$PACK_1")
expect "pack sends: from_number a pack number, powerpack_id the pack, sticky per destination, the next number for a new one" \
    "(lambda m: m['$PACK_1']['from_number'] in ('14155550601','14155550602') and m['$PACK_3']['from_number'] == m['$PACK_1']['from_number'] and {m['$PACK_1']['from_number'], m['$PACK_2']['from_number']} == {'14155550601','14155550602'} and all(m[u]['powerpack_id'] == 'pack-a' and m[u]['powerpack_uuid'] == 'pack-a' for u in ('$PACK_1','$PACK_2','$PACK_3')))({x['message_uuid']: x for x in d['messages']})"
record "$PACK_1"
expect "GET one message: from_number is the chosen number, powerpack_id the pack" \
    "d['from_number'] == '$FROM_1' and d['powerpack_id'] == 'pack-a'"
request GET "$API" -u "$AUTH_ID:$TOKEN" -G --data-urlencode "from_number=+$FROM_1" --data-urlencode 'to_number=14155550611'
expect "the list's from_number filter matches the chosen number" \
    "code == 200 and sorted(o['message_uuid'] for o in d['objects']) == sorted(['$PACK_1', '$PACK_3'])"
record "$PACK_2"
FROM_2=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["from_number"])' "$BODY")
request GET "$API" -u "$AUTH_ID:$TOKEN" -G --data-urlencode "from_number=$FROM_2" --data-urlencode 'to_number=14155550611'
expect "... and not the other pack number" "code == 200 and d['objects'] == []"
reports pack 9
expect "pack reports: From is the chosen number, PowerpackUUID the pack (9 reports)" \
    "len(d) == 9 and all(f['From'] == ('$FROM_2' if f['MessageUUID'] == '$PACK_2' else '$FROM_1') and f['PowerpackUUID'] == 'pack-a' for f in d)"
send '{"src":"14155550100","dst":"14155550613","text":"src"}'
record "$(uuid_of)"
expect "a send with src: powerpack_id null" 'd["powerpack_id"] is None and d["from_number"] == "14155550100"'
set_config '{"powerpacks":{"pack-b":["+1 415 555 0603"]}}'
expect "POST /_sim/config replaces the powerpacks" 'code == 200 and d["powerpacks"] == {"pack-b": ["14155550603"]}'
send '{"powerpack_uuid":"pack-a","dst":"14155550611","text":"gone"}'
expect "a pack no longer configured: 400" 'code == 400 and "powerpack not found" in d["error"]'
send '{"powerpack_uuid":"pack-b","dst":"14155550611","text":"pack b"}'
record "$(uuid_of)"
expect "the other pack's number" 'd["from_number"] == "14155550603" and d["powerpack_id"] == "pack-b"'
set_config '{"powerpacks":{"pack-c":["bogus"]}}'
expect "/_sim/config refuses a pack number that is not a number" 'code == 400 and "powerpacks" in d["error"]'

# message_expiry: an integer 5..10799
for expiry in 4 10800 '"60"' 5.5 0 -1; do
    send "{\"src\":\"14155550100\",\"dst\":\"14155550621\",\"text\":\"x\",\"message_expiry\":$expiry}"
    expect "message_expiry $expiry: 400" 'code == 400 and plivo_error() and "message_expiry" in d["error"]'
done
for expiry in 5 10799; do
    send "{\"src\":\"14155550100\",\"dst\":\"14155550621\",\"text\":\"x\",\"message_expiry\":$expiry}"
    [[ $CODE == 202 ]] && record "$(uuid_of)"
    expect "message_expiry $expiry: accepted, kept in the record" "code == 200 and d['message_expiry'] == $expiry"
done
send '{"src":"14155550100","dst":"14155550621","text":"x"}'
record "$(uuid_of)"
expect "no message_expiry: the record shows Plivo's default 10800" 'd["message_expiry"] == 10800'

# held in Plivo's queue (queue_delay_ms) beyond message_expiry: failed 420, not charged
set_config '{"queue_delay_ms":8000}'
send "{\"src\":\"14155550100\",\"dst\":\"14155550631\",\"text\":\"expires\",\"message_expiry\":5,\"url\":\"$RECV/opts/expired\"}"
EXPIRED=$(uuid_of)
send "{\"src\":\"14155550100\",\"dst\":\"14155550632\",\"text\":\"outlasts the queue\",\"message_expiry\":10,\"url\":\"$RECV/opts/queued\"}"
LATE=$(uuid_of)
set_config '{"queue_delay_ms":0}'
wait_terminal "$EXPIRED" 100
expect "queue_delay_ms 8000 > message_expiry 5 s: failed, error_code 420, total_amount 0" \
    'd["message_state"] == "failed" and d["error_code"] == "420" and float(d["total_amount"]) == 0 and d["total_amount"] == "0.00000" and d["total_rate"] == "0.00500"'
wait_terminal "$LATE" 120
expect "queue_delay_ms 8000 < message_expiry 10 s: delivered once out of the queue (charged)" \
    'd["message_state"] == "delivered" and d["total_amount"] == "0.00500"'
# when the steps happened, from /_sim/messages (times in UTC, to the microsecond)
request GET "$SIM_URL/_sim/messages" -G --data-urlencode 'to_number=14155550631'
EXPIRED_AFTER=$(python3 -c 'import json,sys,datetime; m=json.loads(sys.argv[1])["messages"][0]; t=datetime.datetime.strptime(m["final_time"],"%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc).timestamp(); print(round(t - m["message_time_us"]/1e6, 2), m["sent_time"] or "-")' "$BODY")
request GET "$SIM_URL/_sim/messages" -G --data-urlencode 'to_number=14155550632'
LATE_AFTER=$(python3 -c 'import json,sys,datetime; m=json.loads(sys.argv[1])["messages"][0]; t=datetime.datetime.strptime(m["sent_time"],"%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc).timestamp(); print(round(t - m["message_time_us"]/1e6, 2))' "$BODY")
CODE=200 BODY="[]"
expect "the expired one failed at its expiry, never sent ($EXPIRED_AFTER s after accept)" \
    "'$EXPIRED_AFTER'.split()[1] == '-' and 5 <= float('$EXPIRED_AFTER'.split()[0]) < 7"
expect "the other one went out after the queue delay ($LATE_AFTER s after accept)" \
    "8 <= float('$LATE_AFTER') < 10"
reports expired 2
expect "expired: reports queued, then failed with ErrorCode 420 and TotalAmount 0" \
    "[(f['Status'], f.get('ErrorCode'), f['TotalAmount']) for f in sorted(d, key=lambda f: f['Sequence'])] == [('queued', None, '0.00500'), ('failed', '420', '0.00000')]"

# log: the strings "true", "false", "number_only", "content_only"
for log in true false number_only content_only; do
    send "{\"src\":\"14155550100\",\"dst\":\"14155550641\",\"text\":\"secret $log\",\"log\":\"$log\"}"
    [[ $CODE == 202 ]] && record "$(uuid_of)"
    case $log in
        true | content_only) want="secret $log" ;;
        *) want="" ;;
    esac
    expect "log \"$log\": kept in the record, message_text '$want'" "code == 200 and d['log'] == '$log' and d['message_text'] == '$want'"
done
send '{"src":"14155550100","dst":"14155550641","text":"default log"}'
record "$(uuid_of)"
expect "no log: \"true\", the text kept" 'd["log"] == "true" and d["message_text"] == "default log"'
for log in true false '"yes"' 1 '"True"'; do
    send "{\"src\":\"14155550100\",\"dst\":\"14155550641\",\"text\":\"x\",\"log\":$log}"
    expect "log $log (not one of Plivo's strings): 400" 'code == 400 and plivo_error() and "log" in d["error"]'
done

# costs: Units, TotalRate, TotalAmount = rate x units, the rates configurable
set_config '{"sms_rate":0.0075,"mms_rate":0.025}'
LONG_SMS=$(printf 'b%.0s' {1..161})
send "{\"src\":\"14155550100\",\"dst\":\"14155550651\",\"text\":\"$LONG_SMS\",\"url\":\"$RECV/opts/cost-sms\"}"
COST_SMS=$(uuid_of)
send "{\"src\":\"14155550100\",\"dst\":\"14155550652\",\"type\":\"mms\",\"media_urls\":[\"https://example.com/a.png\",\"https://example.com/b.png\"],\"url\":\"$RECV/opts/cost-mms\"}"
COST_MMS=$(uuid_of)
set_config '{"sms_rate":0.005,"mms_rate":0.02}'
wait_terminal "$COST_SMS"
expect "SMS of 161 characters at sms_rate 0.0075: units 2, total_rate 0.00750, total_amount 0.01500" \
    'd["units"] == 2 and d["total_rate"] == "0.00750" and d["total_amount"] == "0.01500"'
wait_terminal "$COST_MMS"
expect "MMS with 2 media at mms_rate 0.025: units 1, total_rate 0.02500, total_amount 0.02500" \
    'd["units"] == 1 and d["total_rate"] == "0.02500" and d["total_amount"] == "0.02500"'
reports cost-sms 3
expect "SMS reports: Units 2, TotalRate 0.00750, TotalAmount 0.01500 in each" \
    'len(d) == 3 and all((f["Units"], f["TotalRate"], f["TotalAmount"]) == ("2", "0.00750", "0.01500") for f in d)'
reports cost-mms 3
expect "MMS reports: Units 1, TotalRate 0.02500, TotalAmount 0.02500 in each" \
    'len(d) == 3 and all((f["Units"], f["TotalRate"], f["TotalAmount"]) == ("1", "0.02500", "0.02500") for f in d)'
send '{"src":"14155550100","dst":"14155550653","text":"default rate"}'
record "$(uuid_of)"
expect "after the rates are set back: total_rate 0.00500" 'd["total_rate"] == "0.00500" and d["total_amount"] == "0.00500"'
set_config '{"sms_rate":-1}'
expect "/_sim/config refuses a negative rate" 'code == 400 and "sms_rate" in d["error"]'

# destinations that cannot take MMS: error 50 for MMS, SMS delivered
send "{\"src\":\"14155550100\",\"dst\":\"+1 415 555 0677\",\"type\":\"mms\",\"media_urls\":[\"https://example.com/a.png\"],\"url\":\"$RECV/opts/no-mms\"}"
expect "MMS to a --no-mms-destination: 202" 'code == 202'
NO_MMS=$(uuid_of)
send '{"src":"14155550100","dst":"14155550677","text":"an SMS is fine"}'
SMS_OK=$(uuid_of)
wait_terminal "$NO_MMS"
expect "... ends undelivered with error_code 50" 'd["message_state"] == "undelivered" and d["error_code"] == "50"'
reports no-mms 3
expect "... its reports: queued, sent, undelivered with ErrorCode 50" \
    "[(f['Status'], f.get('ErrorCode')) for f in sorted(d, key=lambda f: f['Sequence'])] == [('queued', None), ('sent', None), ('undelivered', '50')]"
wait_terminal "$SMS_OK"
expect "an SMS to it is delivered" 'd["message_state"] == "delivered"'
set_config '{"no_mms_destinations":["1415555068*"]}'
send '{"src":"14155550100","dst":"14155550689","type":"mms","media_urls":["https://example.com/a.png"]}'
PREFIX_MMS=$(uuid_of)
send '{"src":"14155550100","dst":"14155550677","type":"mms","media_urls":["https://example.com/a.png"]}'
OTHER_MMS=$(uuid_of)
wait_terminal "$PREFIX_MMS"
expect "no_mms_destinations takes a prefix ending in *" 'd["message_state"] == "undelivered" and d["error_code"] == "50"'
wait_terminal "$OTHER_MMS"
expect "... and replaces the list: the former number takes MMS again" 'd["message_state"] == "delivered"'
send "{\"src\":\"14155550100\",\"dst\":\"14155550691\",\"type\":\"mms\",\"media_urls\":[\"$SIM_URL/_sim/media/big1.png?bytes=3000000\",\"$SIM_URL/_sim/media/big2.png?bytes=2300000\"]}"
BIG=$(uuid_of)
send "{\"src\":\"14155550100\",\"dst\":\"14155550692\",\"type\":\"mms\",\"media_urls\":[\"$SIM_URL/_sim/media/big1.png?bytes=3000000\",\"$SIM_URL/_sim/media/big2.png?bytes=2000000\"]}"
SMALL=$(uuid_of)
wait_terminal "$BIG"
expect "MMS whose simulator media add up to more than 5 MB: failed, error_code 120" 'd["message_state"] == "failed" and d["error_code"] == "120"'
wait_terminal "$SMALL"
expect "... under 5 MB: delivered" 'd["message_state"] == "delivered"'

# inspection: /_sim/messages names the keys each send had
send '{"powerpack_uuid":"pack-b","dst":"14155550699","type":"mms","media_urls":["https://example.com/a.png"],"log":"false","message_expiry":60}'
request GET "$SIM_URL/_sim/messages" -G --data-urlencode 'to_number=14155550699'
expect "/_sim/messages: request_keys, log, message_expiry, powerpack_uuid of the send" \
    'd["total_count"] == 1 and d["messages"][0]["request_keys"] == ["dst", "log", "media_urls", "message_expiry", "powerpack_uuid", "type"] and d["messages"][0]["log"] == "false" and d["messages"][0]["message_expiry"] == 60 and d["messages"][0]["powerpack_uuid"] == "pack-b" and d["messages"][0]["request"]["media_urls"] == ["https://example.com/a.png"]'

# ---- the media server (for pre-flight checks) -------------------------------------------
MEDIA_URL=$SIM_URL/_sim/media
request DELETE "$SIM_URL/_sim/media_stats"
expect "DELETE /_sim/media_stats" 'code == 200 and d == {"reset": True}'
request HEAD "$MEDIA_URL/pic.png?bytes=1234" -I
expect "HEAD: 200, Content-Type by extension, Content-Length = bytes" \
    'code == 200 and "content-type: image/png" in headers and "content-length: 1234" in headers'
request GET "$MEDIA_URL/pic.png?bytes=1234&type=image/jpeg"
SIZE=$(stat -c %s "$WORK/body")
MAGIC=$(head -c 3 "$WORK/body" | od -An -tx1 | tr -d ' ')
expect "GET: 1234 bytes of the type given (a JPEG's first bytes)" \
    "code == 200 and $SIZE == 1234 and '$MAGIC' == 'ffd8ff' and 'content-type: image/jpeg' in headers and 'content-length: 1234' in headers"
request GET "$MEDIA_URL/pic.png?bytes=1234" -H 'Range: bytes=0-0'
SIZE=$(stat -c %s "$WORK/body")
expect "Range: bytes=0-0 -> 206, Content-Range bytes 0-0/1234, one byte" \
    "code == 206 and $SIZE == 1 and 'content-range: bytes 0-0/1234' in headers"
request HEAD "$MEDIA_URL/nohead.gif?no_head=1" -I
expect "no_head=1: HEAD answers 405" 'code == 405 and "allow: get" in headers'
request GET "$MEDIA_URL/nohead.gif?no_head=1&bytes=10"
SIZE=$(stat -c %s "$WORK/body")
expect "no_head=1: GET still 200" "code == 200 and $SIZE == 10 and 'content-type: image/gif' in headers"
request GET "$MEDIA_URL/nolength.png?no_length=1&bytes=500"
SIZE=$(stat -c %s "$WORK/body")
expect "no_length=1: no Content-Length, the bytes still come" "code == 200 and $SIZE == 500 and 'content-length' not in headers"
request HEAD "$MEDIA_URL/nolength.png?no_length=1&bytes=500" -I
expect "no_length=1: HEAD without Content-Length" "code == 200 and 'content-length' not in headers and 'content-type: image/png' in headers"
request GET "$MEDIA_URL/missing.png?status=404"
expect "status=404: answers 404" 'code == 404'
request HEAD "$MEDIA_URL/missing.png?status=404" -I
expect "status=404: HEAD too" 'code == 404'
request GET "$MEDIA_URL/moved.png?redirect=2&bytes=7"
expect "redirect=2: 302 to the same URL with redirect=1" \
    "code == 302 and 'location: $MEDIA_URL/moved.png?bytes=7&redirect=1' in headers.replace(chr(13), '')"
request GET "$MEDIA_URL/moved.png?redirect=2&bytes=7" -L
SIZE=$(stat -c %s "$WORK/body")
expect "redirect=2 followed: 200 after two hops" "code == 200 and $SIZE == 7 and headers.count('302 found') == 2"
START=$(date +%s%N)
request HEAD "$MEDIA_URL/slow.png?delay_ms=300" -I
ELAPSED_MS=$((($(date +%s%N) - START) / 1000000))
expect "delay_ms=300: answered after >= 300 ms ($ELAPSED_MS ms)" "code == 200 and $ELAPSED_MS >= 300"
request GET "$MEDIA_URL/bad.png?bytes=abc"
expect "bytes not an integer: 400" 'code == 400'
request GET "$SIM_URL/_sim/media_stats"
expect "GET /_sim/media_stats counts per path and method" \
    'code == 200 and d == {"/_sim/media/pic.png": {"GET": 2, "HEAD": 1}, "/_sim/media/nohead.gif": {"GET": 1, "HEAD": 1}, "/_sim/media/nolength.png": {"GET": 1, "HEAD": 1}, "/_sim/media/missing.png": {"GET": 1, "HEAD": 1}, "/_sim/media/moved.png": {"GET": 4, "HEAD": 0}, "/_sim/media/slow.png": {"GET": 0, "HEAD": 1}, "/_sim/media/bad.png": {"GET": 1, "HEAD": 0}}'
request DELETE "$SIM_URL/_sim/media_stats"
request GET "$SIM_URL/_sim/media_stats"
expect "DELETE /_sim/media_stats clears the counts" 'code == 200 and d == {}'
request HEAD "$MEDIA_URL/again.png" -I
request POST "$SIM_URL/_sim/reset"
request GET "$SIM_URL/_sim/media_stats"
expect "POST /_sim/reset clears them too" 'code == 200 and d == {}'
request GET "$SIM_URL/_sim/media_stats"

# ---- shutdown ---------------------------------------------------------------------------
kill -TERM "$SIM_PID"
for ((i = 0; i < 50; i++)); do
    kill -0 "$SIM_PID" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$SIM_PID" 2>/dev/null; then
    not_ok "SIGTERM stops the simulator within 5 s"
else
    wait "$SIM_PID"
    RC=$?
    SIM_PID=""
    ((RC == 0)) && ok "SIGTERM stops the simulator cleanly (exit 0)" || not_ok "SIGTERM exit status" "$RC"
fi

echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
