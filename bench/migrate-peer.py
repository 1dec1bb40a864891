# The TCP peer of bench/migrate.sh and crates/ward/tests/migrate.rs:
# a numbered line every 50 ms on one connection, the echoes read back; at
# the end, the longest gap between two echoes and whether any was lost.
import json, os, socket, sys, threading, time
addr, port, stop, report = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.create_connection((addr, port), timeout=30)
s.settimeout(None)
got, times, err = [], [], []
def reader():
    buf = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                err.append("closed by the other end"); return
            buf += d
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                got.append(int(line)); times.append(time.monotonic())
    except Exception as e:
        err.append(repr(e))
t = threading.Thread(target=reader, daemon=True); t.start()
n = 0
open(report + ".up", "w").close()
try:
    while not os.path.exists(stop):
        n += 1
        s.sendall(b"%d\n" % n)
        time.sleep(0.05)
except Exception as e:
    err.append("send: " + repr(e))
deadline = time.monotonic() + 60
while len(got) < n and not err and time.monotonic() < deadline:
    time.sleep(0.05)
gaps = [b - a for a, b in zip(times, times[1:])]
json.dump({"sent": n, "got": got == list(range(1, len(got) + 1)) and len(got), "max_gap_ms": int(max(gaps, default=0) * 1000), "errors": err}, open(report, "w"))
