#!/usr/bin/env python3
"""HTTP load through an LVS-DR VIP, Python stdlib only, runs on any client host.

    dataplane.py http://198.51.100.100/ --duration 10 --concurrency 8 [--count 100000] [--json]

Every request opens a new TCP connection (no keep-alive: each one is a new flow through the
director's IPVS table and, on a REDIRECT real server, a new conntrack entry), sends GET with
`Connection: close`, reads the whole answer. N worker threads loop until the duration or the
count is reached (whichever first; both are bounded: --duration at most 600 s). Prints requests,
errors, requests/s and latency percentiles (ms), and how many answers each body (the lab's echo
service answers its host name) got, as text or JSON.

The client is the first thing to saturate: each closed connection keeps its local port in
TIME_WAIT for 60 s, and once TIME_WAIT holds about half the ephemeral ports (the half connect()
tries first) every connect() searches the range and each request pays milliseconds that are
not the director's or the real servers'. On Linux the tool reads the client's
net.ipv4.tcp_tw_reuse and warns unless it is 1 (reuse a TIME_WAIT port for a new outgoing
connection), and reports the TIME_WAIT sockets left at the end.
"""
import argparse
import http.client
import json
import sys
import threading
import time
from urllib.parse import urlsplit


def percentile(values, p):
    s = sorted(values)
    if not s:
        return None
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def read(path):
    try:
        with open(path) as f:
            return f.read().split()
    except OSError:  # not Linux, or no such knob
        return None


def client_ports():
    """The client's port-reuse settings and its TIME_WAIT sockets (Linux; None elsewhere)."""
    reuse, ports = read('/proc/sys/net/ipv4/tcp_tw_reuse'), read('/proc/sys/net/ipv4/ip_local_port_range')
    if reuse is None or ports is None:
        return None
    timewait = 0
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(table) as f:
                timewait += sum(1 for line in f if line.split()[3:4] == ['06'])  # st 06: TIME_WAIT
        except OSError:  # no IPv6
            pass
    return {'tcp_tw_reuse': int(reuse[0]), 'ephemeral_ports': int(ports[1]) - int(ports[0]) + 1,
            'timewait': timewait}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('url')
    ap.add_argument('--duration', type=float, default=10.0, help='seconds (max 600; default 10)')
    ap.add_argument('--count', type=int, default=1000000, help='stop after this many requests (default 1e6)')
    ap.add_argument('--concurrency', '-c', type=int, default=8)
    ap.add_argument('--timeout', type=float, default=5.0, help='per request, seconds')
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args(argv)
    duration = min(a.duration, 600.0)
    client = client_ports()
    if client and client['tcp_tw_reuse'] != 1:
        print('warning: net.ipv4.tcp_tw_reuse=%d on this client: closed connections hold their ports in '
              'TIME_WAIT for 60 s; past about %d new connections in a minute connect() slows down and the '
              'figures measure this client, not the data plane. Set net.ipv4.tcp_tw_reuse=1 here.'
              % (client['tcp_tw_reuse'], client['ephemeral_ports'] // 2), file=sys.stderr)
    u = urlsplit(a.url)
    host, port, path = u.hostname, u.port or 80, (u.path or '/') + ('?' + u.query if u.query else '')
    lock = threading.Lock()
    lat, errors, bodies = [], {}, {}
    issued = [0]
    deadline = time.monotonic() + duration

    def worker():
        while True:
            with lock:
                if issued[0] >= a.count or time.monotonic() >= deadline:
                    return
                issued[0] += 1
            t0 = time.perf_counter()
            try:
                c = http.client.HTTPConnection(host, port, timeout=a.timeout)
                c.request('GET', path, headers={'Connection': 'close'})
                r = c.getresponse()
                body = r.read()
                c.close()
                dt = (time.perf_counter() - t0) * 1000.0
                key = body.decode('utf-8', 'replace').strip()[:40] if r.status == 200 else 'HTTP %d' % r.status
                with lock:
                    lat.append(dt)
                    bodies[key] = bodies.get(key, 0) + 1
            except Exception as e:  # every failure is counted, by kind
                with lock:
                    errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + a.timeout + 5)
    wall = time.monotonic() - t0
    res = {'url': a.url, 'concurrency': a.concurrency, 'seconds': round(wall, 3), 'requests': len(lat),
           'errors': sum(errors.values()), 'error_kinds': errors, 'rps': len(lat) / wall if wall else 0.0,
           'p50_ms': percentile(lat, 50), 'p90_ms': percentile(lat, 90), 'p99_ms': percentile(lat, 99),
           'max_ms': max(lat) if lat else None, 'by_server': bodies, 'client': client_ports()}
    if a.json:
        print(json.dumps(res))
    else:
        print('%(requests)d requests, %(errors)d errors in %(seconds).1f s: %(rps).0f req/s' % res)
        if lat:
            print('latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f' % (res['p50_ms'], res['p90_ms'], res['p99_ms'],
                                                                        res['max_ms']))
        for k, v in sorted(bodies.items()):
            print('  %-30s %d' % (k, v))
        for k, v in sorted(errors.items()):
            print('  error %-24s %d' % (k, v))
        if res['client']:
            print('client: tcp_tw_reuse %(tcp_tw_reuse)d, %(ephemeral_ports)d ephemeral ports, '
                  '%(timewait)d sockets in TIME_WAIT at the end' % res['client'])
    return 0 if lat else 1


if __name__ == '__main__':
    sys.exit(main())
