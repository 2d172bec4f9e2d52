"""The data plane per method on a lab of its own (bench-dp: 1 UML director, 2 real servers, a
client): converge the cluster with examples/site.yml, then for each method reconverge the real
servers (-e lvs_dr_realserver_method=X) and run bench/dataplane.py on the client against the VIP.
Two passes, forward then reverse (A B C D D C B A), so drift affects every method alike."""
import json
import os
import subprocess

import yaml

from common import ROOT, BENCH, LAB, ansible_env, tool, loadavg

LAB_NAME = os.environ.get('BENCH_DP_LAB', 'bench-dp')
METHODS = ['sysctl', 'arptables', 'iptables', 'firewalld']


def sh(argv, **kw):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if p.returncode:
        raise SystemExit('%s failed (rc %d):\n%s' % (' '.join(argv[:4]), p.returncode, p.stdout[-4000:]))
    return p.stdout


def run(duration=10, concurrency=8, keep_lab=False):
    sh([LAB, '--name', LAB_NAME, 'up', '--realservers', '2', '--directors', '1'])
    inv = os.path.join(ROOT, '.cache', 'lab', LAB_NAME, 'inventory.yml')
    with open(inv) as f:
        top = yaml.safe_load(f)['all']
    vip = top['vars']['lab_vip4']
    client = top['children']['lvs_clients']['hosts']['client']['ansible_host']
    rss = [h['ansible_host'] for h in top['children']['lvs_realservers']['hosts'].values()]
    env = ansible_env()
    site = [tool('ansible-playbook'), '-i', inv, os.path.join(ROOT, 'examples', 'site.yml'),
            '-e', '@' + os.path.join(ROOT, 'examples', 'lab.yml')]
    res = {'lab': LAB_NAME, 'duration_s': duration, 'concurrency': concurrency, 'runs': [], 'order': METHODS,
           'methods': {}}
    try:
        sh(site + ['-e', 'lvs_dr_realserver_method=sysctl'], cwd=ROOT, env=env)
        sh(['podman', 'cp', os.path.join(BENCH, 'dataplane.py'), client + ':/root/dataplane.py'])
        # Without it the client runs out of free ports after about 14,000 connections in a minute and
        # its connect() then costs ~8 ms (bench/dataplane.py's docstring): a load generator's setting.
        sh(['podman', 'exec', client, 'sysctl', '-qw', 'net.ipv4.tcp_tw_reuse=1'])
        current = 'sysctl'
        for method in METHODS + METHODS[::-1]:
            if current == 'firewalld' and method != 'firewalld':
                for c in rss:  # firewalld stays running after the role moves on: its rules would stay in the path
                    sh(['podman', 'exec', c, 'systemctl', 'disable', '--now', 'firewalld'])
            sh(site + ['-l', 'lvs_realservers', '-e', 'lvs_dr_realserver_method=' + method], cwd=ROOT, env=env)
            current = method
            sh(['podman', 'exec', client, 'python3', '/root/dataplane.py', 'http://%s/' % vip, '--duration', '2',
                '-c', '2', '--json'])  # warm-up (neighbour entries, IPVS, conntrack)
            la = loadavg()[0]
            out = json.loads(sh(['podman', 'exec', client, 'python3', '/root/dataplane.py', 'http://%s/' % vip,
                                 '--duration', str(duration), '-c', str(concurrency), '--json']).strip().splitlines()[-1])
            out.update(method=method, loadavg1=la)
            res['runs'].append(out)
        for m in METHODS:
            runs = [r for r in res['runs'] if r['method'] == m]
            lat_w = sum(r['requests'] for r in runs) or 1
            agg = {'requests': sum(r['requests'] for r in runs), 'errors': sum(r['errors'] for r in runs),
                   'rps': sum(r['requests'] for r in runs) / sum(r['seconds'] for r in runs),
                   'rps_each': [round(r['rps'], 1) for r in runs], 'by_server': {}}
            for k in ('p50_ms', 'p90_ms', 'p99_ms'):  # request-weighted mean of the passes' percentiles
                agg[k] = sum((r[k] or 0) * r['requests'] for r in runs) / lat_w
                agg[k + '_each'] = [round(r[k] or 0, 2) for r in runs]
            for r in runs:
                for srv, cnt in r['by_server'].items():
                    agg['by_server'][srv] = agg['by_server'].get(srv, 0) + cnt
            res['methods'][m] = agg
        res['ipvs_stats'] = sh([LAB, '--name', LAB_NAME, 'exec', 'dir1', '--', 'ipvsadm', '-L', '-n', '--stats'])
    finally:
        if not keep_lab:
            subprocess.run([LAB, '--name', LAB_NAME, 'down'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    res['setup'] = (
        'Lab `%s`: one UML director (keepalived, IPVS DR, rr), 2 real servers (the echo service of the image '
        'on port 80), a client container, converged with examples/site.yml -e @examples/lab.yml; before each '
        'measurement the real servers are reconverged with `-e lvs_dr_realserver_method=X` (and firewalld '
        'stopped when leaving the firewalld method: the role leaves it running). Load: bench/dataplane.py '
        'on the client, %d threads, a new TCP connection per HTTP request (no keep-alive), %d s per '
        'measurement after a 2 s warm-up, two passes (forward, then reverse method order), '
        '`net.ipv4.tcp_tw_reuse=1` on the client (below); requests/s over '
        'both passes, percentiles the request-weighted mean of the percentiles of both passes '
        '(each pass in the raw results).' % (LAB_NAME, concurrency, duration))
    res['analysis'] = analysis(res)
    return res


def analysis(res):
    m = res['methods']
    rps = {k: v['rps'] for k, v in m.items()}
    lo, hi = min(rps.values()), max(rps.values())
    runs = res['runs']
    clients = [r['client'] for r in runs if r.get('client')]
    ports = ''
    if clients:  # connect() slows down once TIME_WAIT holds half the ports, unless they are reused
        tw, total = max(c['timewait'] for c in clients), min(c['ephemeral_ports'] for c in clients)
        free = all(c['tcp_tw_reuse'] == 1 for c in clients) or tw < total // 2
        ports = ' The client\'s ports %s: `tcp_tw_reuse` %s, at most %d sockets in TIME_WAIT at the end of a ' \
                'measurement, %s half of its %d ephemeral ports.' % (
                    'were not the limit' if free else '**may have been the limit**',
                    '/'.join(sorted({str(c['tcp_tw_reuse']) for c in clients})), tw,
                    'below' if tw < total // 2 else 'not below', total)
    return (
        'Spread between methods: %.0f-%.0f requests/s (%.0f%%); between the two passes of the same method up '
        'to %.0f%%. Most likely (an inference: nothing here measures CPU per component) the bottleneck '
        'on this lab is not the real servers\' ARP or NAT handling but the shared 2 CPUs: the UML director (every packet from the client crosses a UML guest, whose '
        'syscalls and page faults are slow) and the Python client itself. The per-packet cost the guide '
        'names for the REDIRECT methods (NAT + conntrack on the real server) is therefore below what this '
        'lab resolves; a difference smaller than the pass-to-pass spread is not a finding. Failed requests '
        'over all runs: %d; real servers answering: %s.' % (
            lo, hi, 100.0 * (hi - lo) / hi,
            max(100.0 * abs(a['rps'] - b['rps']) / max(a['rps'], b['rps'])
                for a in runs for b in runs if a['method'] == b['method'] and a is not b) if len(runs) > 4 else 0,
            sum(r['errors'] for r in runs), ', '.join(sorted({s for r in runs for s in r['by_server']})))) + ports


if __name__ == '__main__':
    from common import dump
    print(dump(run(duration=int(os.environ.get('BENCH_DURATION', '10')), keep_lab=bool(os.environ.get('BENCH_KEEP_LAB')))))
