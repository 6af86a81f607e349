"""Usage: python3 scripts/hostile-memory.py ws://127.0.0.1:8080/ws SERVER_PID SESSIONS

Issue 14 item 3 attack against a running chat server: N sessions each try to hold
~72 MiB (1,000 subscriptions with ~14 KiB of id, destination and headers, then one
transaction of 1,000 x 60 KiB SEND frames). Prints VmRSS of the server (pid given)
before, once every session was refused (or holds everything), and after they left, with
the peak (VmHWM). Needs python's websocket-client. Every wait is bounded."""
import sys, threading, time
import websocket

url, pid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def rss(field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) // 1024
    return -1

def frame(cmd, headers, body=b""):
    head = cmd + "\n" + "".join(f"{k}:{v}\n" for k, v in headers) + "\n"
    return head.encode() + body + b"\0"

def answer(ws):
    while True:
        data = ws.recv()
        if isinstance(data, str):
            data = data.encode()
        if data.strip(b"\n") == b"":
            continue
        return data

results = {}
sockets = []
def attack(i):
    ws = websocket.create_connection(url, timeout=30)
    sockets.append(ws)
    ws.send_binary(frame("CONNECT", [("accept-version", "1.2"), ("login", f"attacker{i}"), ("heart-beat", "0,0")]))
    answer(ws)
    subs = frames = 0
    for k in range(1000):
        ws.send_binary(frame("SUBSCRIBE", [("id", f"{k:06}" + "x" * 7994), ("destination", f"/topic/a{i}/{k:06}" + "d" * 990), ("x-pad", "p" * 5000), ("receipt", "r")]))
        a = answer(ws)
        if not a.startswith(b"RECEIPT"):
            results[i] = (subs, frames, a.split(b"\n")[1].decode())
            return
        subs += 1
    ws.send_binary(frame("BEGIN", [("transaction", "t"), ("receipt", "b")]))
    answer(ws)
    body = b"z" * (60 * 1024)
    for k in range(1000):
        ws.send_binary(frame("SEND", [("destination", f"/queue/hold{i}"), ("transaction", "t"), ("receipt", "f")], body))
        a = answer(ws)
        if not a.startswith(b"RECEIPT"):
            results[i] = (subs, frames, a.split(b"\n")[1].decode())
            return
        frames += 1
    results[i] = (subs, frames, "held, no refusal")

print(f"RSS before: {rss()} MiB")
threads = [threading.Thread(target=attack, args=(i,)) for i in range(n)]
for t in threads: t.start()
for t in threads: t.join(300)
time.sleep(1)
print(f"RSS while held/after refusal: {rss()} MiB")
for i in sorted(results): print(f"attacker {i}: subscriptions {results[i][0]}, transaction frames {results[i][1]}, {results[i][2]}")
for ws in sockets:
    try: ws.close()
    except Exception: pass
time.sleep(3)
print(f"RSS 3 s after they left: {rss()} MiB (peak VmHWM {rss('VmHWM')} MiB)")
