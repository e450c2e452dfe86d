#!/usr/bin/env python3
"""Per-request cost probe (issue #7, PROFILING.md): service CPU (utime+stime of the service process only) and PostgreSQL statements
(pg_stat_statements) per filing and per status lookup, on a scratch cluster (fsync on).

usage: probe.py BUILD_DIR LABEL [--filings N] [--warm N] [--lookups N] [--clients C] [--env K=V ...]
BUILD_DIR holds CompensationLedger.dll (a Release build; copy bin/Release/net10.0 aside to compare commits).
Prints per filing and per lookup: service CPU, statements (all and top-level), PostgreSQL execution time, commits,
WAL records/bytes/syncs; the top statements by calls; the service's RSS by mapping. Run as root (initdb as postgres).
Example: python3 tests/CompensationLedger.Benchmarks/tools/probe.py src/CompensationLedger/bin/Release/net10.0 now
"""
import http.client, json, os, subprocess, sys, threading, time, uuid, datetime, argparse, shutil

WORK = os.environ.get("PROBE_DIR", "/tmp/ledger-probe")  # the scratch cluster and the service logs
PG = WORK + "/pg"
PORT = int(os.environ.get("PROBE_PORT", "55441"))
SOCK = WORK
KEY = "benchmark-signing-key-0123456789abcdefghij"
ISSUER = "compensation-ledger-bench"


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, capture_output=True, text=True, **kw).stdout


def ensure_cluster():
    if not os.path.exists(PG + "/PG_VERSION"):
        os.makedirs(PG, exist_ok=True)  # as root: the cluster runs as postgres
        shutil.chown(PG, "postgres", "postgres")
        shutil.chown(SOCK, "postgres", "postgres")
        sh(f"runuser -u postgres -- initdb -D {PG} -A trust -U postgres")
        with open(PG + "/postgresql.conf", "a") as f:
            f.write(f"\nport={PORT}\nlisten_addresses='127.0.0.1'\nunix_socket_directories='{SOCK}'\n"
                    "shared_preload_libraries='pg_stat_statements'\npg_stat_statements.track='all'\n"
                    "pg_stat_statements.max=5000\nmax_connections=200\nfsync=on\nsynchronous_commit=on\n")
    r = subprocess.run(f"runuser -u postgres -- pg_ctl -D {PG} status", shell=True, capture_output=True)
    if r.returncode != 0:
        sh(f"runuser -u postgres -- pg_ctl -D {PG} -l {PG}/log -w start")


def psql(sql, db="postgres"):
    return sh(f"psql -h 127.0.0.1 -p {PORT} -U postgres -d {db} -At -F '|' -c \"{sql}\"")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM") or line.startswith("VmRSS"):
                yield line.strip()


def run_parallel(n, clients, fn):
    counter = iter(range(n))
    lock = threading.Lock()
    errors = []
    lat = []

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            t = time.perf_counter()
            try:
                fn(conn, i)
            except Exception as e:  # noqa
                errors.append(repr(e))
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            lat.append(time.perf_counter() - t)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads: t.start()
    for t in threads: t.join()
    wall = time.perf_counter() - t0
    if errors:
        print("errors:", len(errors), errors[:3])
    lat.sort()
    return wall, lat


def post(conn, path, body, token=None, key=None):
    headers = {"Content-Type": "application/json"}
    if token: headers["Authorization"] = "Bearer " + token
    if key: headers["Idempotency-Key"] = key
    conn.request("POST", path, json.dumps(body), headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, data


ap = argparse.ArgumentParser()
ap.add_argument("build")
ap.add_argument("label")
ap.add_argument("--filings", type=int, default=1000)
ap.add_argument("--warm", type=int, default=600)
ap.add_argument("--lookups", type=int, default=2000)
ap.add_argument("--clients", type=int, default=8)
ap.add_argument("--env", action="append", default=[])
ap.add_argument("--top", type=int, default=25)
ap.add_argument("--cs", default="")
a = ap.parse_args()
a.build = os.path.abspath(a.build)

ensure_cluster()
db = "probe_" + a.label.replace("-", "_")
psql(f"drop database if exists {db}")
psql(f"create database {db}")
psql("create extension if not exists pg_stat_statements")
conn_str = f"Host=127.0.0.1;Port={PORT};Username=postgres;Database={db};Maximum Pool Size=100" + a.cs
port = 5600 + (os.getpid() % 300)
env = dict(os.environ, ASPNETCORE_ENVIRONMENT="Testing", ASPNETCORE_URLS=f"http://127.0.0.1:{port}",
           ConnectionStrings__Ledger=conn_str, Auth__SigningKey=KEY, Auth__Issuer=ISSUER, Ledger__SeedDemo="false",
           Ledger__StatusLookup__PerClientPerMinute="100000000", Logging__LogLevel__Default="Warning")
for kv in a.env:
    k, v = kv.split("=", 1)
    env[k] = v
dll = os.path.join(a.build, "CompensationLedger.dll")


def token(name, role):
    out = subprocess.run(["dotnet", dll, "mint-token", "--name", name, "--role", role], env=env, capture_output=True, text=True, cwd=a.build)
    return out.stdout.strip().splitlines()[-1]


inv, hana = token("ivy", "investigator"), token("hana", "claims-handler")
log = open(f"{WORK}/{a.label}.service.log", "w")
svc = subprocess.Popen(["dotnet", dll], env=env, cwd=a.build, stdout=log, stderr=subprocess.STDOUT)
try:
    for _ in range(120):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2); c.request("GET", "/health/ready")
            if c.getresponse().status == 200: break
        except Exception:
            pass
        time.sleep(0.5)
    print(f"[{a.label}] started; cpu after start {cpu_seconds(svc.pid):.2f}s", *vm_hwm(svc.pid))
    today = datetime.date.today()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    st, data = post(c, "/api/cases", {"title": "Probe ring", "platforms": ["Alibaba.com"],
                                      "activeFrom": str(today - datetime.timedelta(days=300)), "activeTo": str(today),
                                      "estimatedLoss": {"amount": 10000000, "currency": "USD"}}, inv, str(uuid.uuid4()))
    case_id = json.loads(data)["id"]
    st, data = post(c, f"/api/cases/{case_id}/supplier-accounts",
                    {"accounts": [{"platform": "Alibaba.com", "accountId": "cnbench", "displayName": "Bench"}]}, inv, str(uuid.uuid4()))
    creds = {}

    def file(conn, n):
        body = {"caseId": case_id, "buyer": {"name": f"Buyer {n}", "country": "US", "email": f"buyer{n}@example.com"},
                "platform": "Alibaba.com", "supplierAccount": "cnbench", "orderReference": f"ORD-{n}",
                "orderDate": str(today - datetime.timedelta(days=12)), "paymentDate": str(today - datetime.timedelta(days=10)),
                "amountPaid": {"amount": 1000 + n % 900, "currency": "USD"}, "paymentReference": f"TT-BENCH-{n}",
                "goodsDescription": "Laptops"}
        st, data = post(conn, "/api/claims", body, hana, f"file-{n}")
        if st != 201: raise Exception(f"{st} {data[:300]}")
        j = json.loads(data)
        creds[n] = (j["reference"], j["accessCode"])

    def measure(what, n, fn, offset):
        psql("select pg_stat_statements_reset()")
        wal0 = [float(x) for x in psql("select wal_records, wal_bytes, wal_sync from pg_stat_wal").strip().split("|")]
        x0 = int(psql(f"select xact_commit from pg_stat_database where datname='{db}'").strip())
        cpu0 = cpu_seconds(svc.pid)
        wall, lat = run_parallel(n, a.clients, lambda conn, i: fn(conn, offset + i))
        cpu = cpu_seconds(svc.pid) - cpu0
        time.sleep(0.6)
        wal1 = [float(x) for x in psql("select wal_records, wal_bytes, wal_sync from pg_stat_wal").strip().split("|")]
        x1 = int(psql(f"select xact_commit from pg_stat_database where datname='{db}'").strip())
        top = psql(f"select coalesce(sum(calls),0) from pg_stat_statements where toplevel and dbid=(select oid from pg_database where datname='{db}')").strip()
        rows = psql("select calls, round(total_exec_time::numeric,1), rows, regexp_replace(substr(query,1,150),'\\s+',' ','g') from pg_stat_statements "
                    f"where dbid=(select oid from pg_database where datname='{db}') order by calls desc")
        rows = [r.split("|", 3) for r in rows.strip().splitlines()]
        calls = sum(int(r[0]) for r in rows)
        exec_ms = sum(float(r[1]) for r in rows)
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
        print(f"[{a.label}] {what}: n={n} clients={a.clients} wall={wall:.1f}s rate={n / wall:.0f}/s p50={p(.5):.1f} p99={p(.99):.1f} ms "
              f"service CPU/op={cpu / n * 1000:.2f} ms statements/op={calls / n:.2f} (top-level {float(top) / n:.2f}) pg exec/op={exec_ms / n:.3f} ms "
              f"commits/op={(x1 - x0) / n:.2f} wal records/op={(wal1[0] - wal0[0]) / n:.1f} wal KB/op={(wal1[1] - wal0[1]) / n / 1024:.1f} wal syncs/op={(wal1[2] - wal0[2]) / n:.2f}")
        for r in rows[:a.top]:
            print(f"   {int(r[0]) / n:6.2f}/op {float(r[1]) / n:7.3f} ms/op  {r[3]}")
        return cpu / n

    run_parallel(a.warm, a.clients, lambda conn, i: file(conn, i))
    measure("filing", a.filings, file, a.warm)

    keys = list(creds.values())

    def lookup(conn, i):
        ref, code = keys[i % len(keys)]
        st, data = post(conn, "/api/status-lookups", {"reference": ref, "accessCode": code})
        if st != 200: raise Exception(f"{st} {data[:200]}")

    if a.lookups:
        run_parallel(min(500, a.lookups), a.clients, lookup)
        measure("lookup", a.lookups, lookup, 0)
    try:
        cur, sizes = None, {}
        for line in open(f"/proc/{svc.pid}/smaps"):
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5:
                cur = parts[5] if len(parts) > 5 else "[anon]"
                cur = os.path.basename(cur) if cur.startswith("/") else cur
            elif parts[0] == "Rss:":
                sizes[cur] = sizes.get(cur, 0) + int(parts[1])
        print(f"[{a.label}] RSS by mapping (MB):", ", ".join(f"{k} {v / 1024:.0f}" for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])[:12]))
    except Exception as e:
        print("smaps:", e)
    print(f"[{a.label}] end: service CPU total {cpu_seconds(svc.pid):.1f}s", *vm_hwm(svc.pid))
finally:
    svc.terminate()
    svc.wait()
