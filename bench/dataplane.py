#!/usr/bin/env python3
"""HTTP load through an LVS-DR VIP, Python stdlib only, runs on any client host.

    dataplane.py http://198.51.100.100/ --duration 10 --concurrency 8 [--count 100000] [--json]

Every request opens a new TCP connection (no keep-alive: each one is a new flow through the
director's IPVS table and, on a REDIRECT real server, a new conntrack entry), sends GET with
`Connection: close`, reads the whole answer. N worker threads loop until the duration or the
count is reached (whichever first; both are bounded: --duration at most 600 s). Prints requests,
errors, requests/s and latency percentiles (ms), and how many answers each body (the lab's echo
service answers its host name) got, as text or JSON.
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
           'max_ms': max(lat) if lat else None, 'by_server': bodies}
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
    return 0 if lat else 1


if __name__ == '__main__':
    sys.exit(main())
