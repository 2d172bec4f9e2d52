"""Module cost on the target: each module's AnsiballZ payload run directly inside a lab
container N times, interleaved with the equivalent ip/sysctl/iptables/arptables command, plus
`python3 -X importtime` on each payload. The rows: four single-module calls, and the one
lvs_realserver call the real-server role makes (sysctl method) against the guide's steps for that
method in one shell. Uses a lab of its own (bench-mod, 1 real server)."""
import json
import os
import re
import subprocess

from common import ROOT, BENCH, LAB, ansible_env, tool, median, percentile, loadavg

LAB_NAME = os.environ.get('BENCH_MOD_LAB', 'bench-mod')
# The tasks of bench/module_cost.yml in their order there (the order of their payloads).
TASKS = ['lvs_realserver sysctl', 'lvs_arp_suppress sysctl', 'lvs_vip', 'lvs_redirect iptables',
         'lvs_arp_suppress arptables']
# The rows of the results, in this order; the role's call after the four single modules, timed
# after them (it removes their arptables and REDIRECT rules: the whole set of a sysctl host).
ROWS = TASKS[1:] + TASKS[:1]
LATE = ('lvs_realserver sysctl',)
ARGS = {'lvs_realserver sysctl': 'sysctl, vip [<vip>] (the role\'s call, bench/role.yml)',
        'lvs_vip': '(vip on lo)'}


def sh(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=True, **kw).stdout


def importtime(container, payload):
    """[(top-level module, cumulative us)] largest first, the total, and the import tree down to
    the grandchildren of the top level: [name, self us, cumulative us, depth, parent] (children
    are printed before their parent, so a line is the parent of the deeper lines before it)."""
    p = subprocess.run(['podman', 'exec', container, 'python3', '-X', 'importtime', payload],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    top, total, tree, pending = [], 0, [], []
    for line in p.stderr.splitlines():
        m = re.match(r'import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)', line)
        if not m:
            continue
        own, cum, indent, name = int(m.group(1)), int(m.group(2)), len(m.group(3)), m.group(4)
        depth = (indent - 1) // 2
        entry = [name, own, cum, depth, None]
        while pending and pending[-1][3] > depth:
            pending.pop()[4] = name
        pending.append(entry)
        if depth <= 2 and cum >= 1000:
            tree.append(entry)
        if indent <= 1:  # top level: one space after the bar
            total += cum
        # the top-level imports and their children (the AnsiballZ loader imports the module,
        # which imports ansible.module_utils.basic, pyroute2, ...); the loader itself left out
        if indent <= 3 and not name.endswith('_ansiballz._loader'):
            top.append((name, cum))
    top.sort(key=lambda x: -x[1])
    return top, total, tree


def timer(container, n, jobs, floor=True):
    return json.loads(sh(['podman', 'exec', container, 'python3', '/root/module_timer.py', str(n), json.dumps(jobs)]
                         + ([] if floor else ['--no-floor'])))


def run(n=20, keep_lab=False):
    env = ansible_env(ANSIBLE_KEEP_REMOTE_FILES=1)
    sh([LAB, '--name', LAB_NAME, 'up', '--realservers', '1', '--directors', '0', '--no-client'])
    try:
        inv = os.path.join(ROOT, '.cache', 'lab', LAB_NAME, 'inventory.yml')
        import yaml
        with open(inv) as f:
            top = yaml.safe_load(f)['all']
        rs1 = top['children']['lvs_realservers']['hosts']['rs1']
        vip, container = top['vars']['lab_vip4'], rs1['ansible_host']
        sh(['podman', 'exec', container, 'sh', '-c', 'rm -rf /root/.ansible/tmp/ansible-tmp-*'])
        out = subprocess.run([tool('ansible-playbook'), '-i', inv, os.path.join(BENCH, 'module_cost.yml'),
                              '-e', 'bench_host=rs1'], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        if out.returncode:
            raise SystemExit('module_cost.yml failed:\n' + out.stdout[-3000:])
        payloads = sorted(sh(['podman', 'exec', container, 'sh', '-c',
                              'ls -d /root/.ansible/tmp/ansible-tmp-*/AnsiballZ_*.py']).split(),
                          key=lambda p: float(p.split('ansible-tmp-')[1].split('-')[0]))
        assert len(payloads) == len(TASKS), payloads
        payload = dict(zip(TASKS, payloads))
        for t in TASKS:  # the payload is the task's module
            assert payload[t].endswith('/AnsiballZ_%s.py' % t.split()[0]), (t, payload[t])
        # the equivalent commands: what one run of the guide's step costs (idempotent forms)
        sh(['podman', 'exec', container, 'iptables', '-w', '-t', 'nat', '-A', 'PREROUTING', '-d', vip + '/32', '-p',
            'tcp', '-m', 'tcp', '--dport', '80', '-m', 'comment', '--comment', 'bench', '-j', 'REDIRECT'])
        sysctl = ['sysctl', '-q', '-w', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2']
        vip_add = ['ip', 'addr', 'replace', vip + '/32', 'dev', 'lo']
        commands = {
            'lvs_arp_suppress sysctl': sysctl,
            'lvs_vip': vip_add,
            'lvs_redirect iptables': ['iptables', '-w', '-t', 'nat', '-C', 'PREROUTING', '-d', vip + '/32', '-p', 'tcp',
                                      '-m', 'tcp', '--dport', '80', '-m', 'comment', '--comment', 'bench',
                                      '-j', 'REDIRECT'],
            'lvs_arp_suppress arptables': ['arptables', '-L', 'INPUT', '-n'],
            # the guide's steps of the sysctl method in one shell
            'lvs_realserver sysctl': ['sh', '-c', ' '.join(sysctl) + ' && ' + ' '.join(vip_add)],
        }
        sh(['podman', 'cp', os.path.join(BENCH, 'module_timer.py'), container + ':/root/module_timer.py'])
        la = loadavg()[0]
        raw = timer(container, n, [[t, payload[t], commands[t]] for t in ROWS if t not in LATE], floor=False)
        # one untimed call of the role's module: the host as the role leaves it (no arptables or
        # REDIRECT rules of the collection), so that every timed call is a no-change one
        warm = subprocess.run(['podman', 'exec', container, 'python3', payload[LATE[0]]],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            warm_result = json.loads(warm.stdout[warm.stdout.index('{'):])
        except ValueError:
            warm_result = {'failed': True}
        if warm.returncode or warm_result.get('failed'):
            raise SystemExit('the untimed lvs_realserver call failed:\n' + warm.stdout[-3000:])
        late = timer(container, n, [[t, payload[t], commands[t]] for t in LATE])
        raw['rows'].update(late['rows'])
        rows = []
        for t in ROWS:
            r = raw['rows'][t]
            rows.append({'module': t.split()[0], 'args': ARGS.get(t, ' '.join(t.split()[1:])),
                         'command': ' '.join(commands[t]).replace(vip, '<vip>'),
                         'module_ms': {'median': median(r['module']), 'p90': percentile(r['module'], 90)},
                         'command_ms': {'median': median(r['command']), 'p90': percentile(r['command'], 90)},
                         'module_changed_runs': r['module_changed'], 'module_rcs': sorted(set(r['module_rc'])),
                         'command_rcs': sorted(set(r['command_rc'])), 'raw_module_ms': r['module'],
                         'raw_command_ms': r['command']})
        rows[-1]['untimed_call_before'] = {'changed': bool(warm_result.get('changed')),
                                           'actions': warm_result.get('actions', [])}
        imports = []
        for t in ROWS:
            top_, total, tree = importtime(container, payload[t])
            imports.append({'module': t, 'total_us': total, 'top': top_[:10], 'tree': tree})
        fl = late['floor']
        version = subprocess.run(['podman', 'exec', container, 'python3', '-c',
                                  'import importlib.metadata as m; print(m.version("pyroute2"))'],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
        res = {'container': container, 'n': n, 'rows': rows, 'importtime': imports, 'loadavg1': la,
               'pyroute2_version': version or None,
               'baseline': {'python_ms': median(fl['python']), 'python_S_ms': median(fl['python_S']),
                            'import_pyroute2_ms': median(fl['pyroute2'])}}
        if fl.get('firewall_cmd_state'):
            res['baseline']['firewall_cmd_state_ms'] = median(fl['firewall_cmd_state'])
        res['analysis'] = analysis(res)
        return res
    finally:
        if not keep_lab:
            subprocess.run([LAB, '--name', LAB_NAME, 'down'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def imported(res, task, name):
    """Cumulative import time (ms) of `name` in a payload's profile, or None."""
    for imp in res.get('importtime', []):
        if imp['module'] == task:
            for n, us in imp['top']:
                if n == name:
                    return us / 1000.0
    return None


def children(res, task, parent, k=4):
    """The largest imports directly under `parent` in a payload's import tree: [(name, ms)]."""
    for imp in res.get('importtime', []):
        if imp['module'] == task and imp.get('tree'):
            kids = [(n, cum / 1000.0) for n, own, cum, depth, par in imp['tree'] if par == parent]
            return sorted(kids, key=lambda x: -x[1])[:k]
    return []


def analysis(res):
    b = res['baseline']
    rows = res['rows']
    med = [r['module_ms']['median'] for r in rows]
    cmd = [r['command_ms']['median'] for r in rows]
    tasks = [imp['module'] for imp in res.get('importtime', [])]
    out = ['**What dominates**: a module call costs %.0f-%.0f ms against %.0f-%.0f ms for the command; the '
           'interpreter alone (`python3 -c pass`) is %.0f ms in the same container, so what a call does on the '
           'system, what the command does, is a small part of it.' % (
               min(med), max(med), min(cmd), max(cmd), b['python_ms'])]
    shares = []
    for imp in res.get('importtime', []):
        ms = imported(res, imp['module'], 'ansible.module_utils.basic')
        if ms is not None and imp['total_us']:
            shares.append((ms, 100.0 * ms * 1000.0 / imp['total_us']))
    if shares:
        out.append('The imports are the largest part: `ansible.module_utils.basic`, which every module needs, '
                   'takes %.0f-%.0f ms in the import profiles above, %.0f-%.0f%% of each payload\'s import '
                   'time.' % (min(s[0] for s in shares), max(s[0] for s in shares),
                              min(s[1] for s in shares), max(s[1] for s in shares)))
    with_pr = [(t, imported(res, t, 'pyroute2')) for t in tasks]
    with_pr = [(t, ms) for t, ms in with_pr if ms is not None]
    if with_pr:
        first = with_pr[0][0]
        kids = children(res, first, 'pyroute2')
        meta = imported(res, first, 'importlib.metadata')
        under = any(n == 'importlib.metadata' for n, _ in children(res, first, 'pyroute2', k=100))
        elsewhere = any(imported(res, t, 'importlib.metadata') is not None for t in tasks
                        if t not in dict(with_pr))
        out.append(
            'pyroute2, imported where VIPs are held, adds %s after what `ansible.module_utils.basic` already '
            'loaded; `python3 -c "import pyroute2"` takes %.0f ms. Its package `__init__`%s looks up its entry '
            'points through `importlib.metadata` and loads every one of them (IPRoute, but also NDB, IPDB, '
            'nftables, the netns helpers and more), where the modules use IPRoute alone%s%s.' % (
                ' and '.join('%.0f ms (`%s`)' % (ms, t) for t, ms in with_pr), b['import_pyroute2_ms'],
                ' (pyroute2 %s in the lab image)' % res['pyroute2_version'] if res.get('pyroute2_version') else '',
                '; `importlib.metadata` %.0f ms of it in `%s`%s' % (
                    meta, first, ', imported by pyroute2' if under else
                    ' (among no other payload\'s largest imports)' if not elsewhere else '')
                if meta is not None else '',
                '; the largest imports directly under pyroute2 there: %s' % ', '.join(
                    '`%s` %.0f ms' % kv for kv in kids) if kids else ''))
    out.append('Per converge these costs are paid once per module call per host; what Ansible adds around '
               'each call (connection, payload transfer, result handling: see part 1) is larger still.')
    rs = [r for r in rows if r['module'] == 'lvs_realserver']
    parts = []
    if rs:
        r = rs[0]
        single = [x for x in rows if (x['module'], x['args']) in (('lvs_arp_suppress', 'sysctl'),
                                                                   ('lvs_vip', '(vip on lo)'))]
        parts.append(
            'The `lvs_realserver` row is the call the role makes once per host and run: %.0f ms (median)%s, '
            'with the residue checks of the other methods (arptables rules, REDIRECT rules of both backends) '
            'and the VIPs\' boot unit included, and the imports paid once. %s of its %d timed calls changed '
            'anything%s.' % (
                r['module_ms']['median'],
                ', against %s = %.0f ms for the sysctl values and the VIP as two calls of the single modules' % (
                    ' + '.join('%.0f' % x['module_ms']['median'] for x in single),
                    sum(x['module_ms']['median'] for x in single)) if len(single) == 2 else '',
                'None' if not r['module_changed_runs'] else '%d' % r['module_changed_runs'], res['n'],
                ' (an untimed call before them removed the arptables and REDIRECT rules the rows above had '
                'added)' if r.get('untimed_call_before', {}).get('changed') else ''))
    fw = b.get('firewall_cmd_state_ms')
    parts.append(
        '**What the collection did about it**: the number of calls went down, and a call that changes no '
        'address no longer loads pyroute2. The real-server role makes one module call per host and run where it '
        'made six (facts, ARP protection, VIPs, and three clean-ups of former methods: arptables and a loop over '
        'the two REDIRECT backends); see part 1. `lvs_vip` and `lvs_realserver` read the addresses with one '
        'netlink `RTM_GETADDR` dump on a plain socket and import pyroute2 only to add or remove one: in the run '
        'before that change (bench/results/20261126T052518Z.json) pyroute2\'s import was 93 ms of a 310 ms '
        '`lvs_vip` call and 91 ms of a 348 ms `lvs_realserver` call, no-change calls both (its package '
        '`__init__` loads every entry point it registers, NDB, IPDB, nftables and more, where the modules use '
        'IPRoute alone, and its configuration forks `uname -p` and `file`). The steps of one call read each '
        'table listing (`arptables -L`, `iptables -S`, firewall-cmd\'s) once until a command changes it, where '
        'the same call listed arptables three times and the nat table of each family twice. And '
        '`lvs_redirect state=absent` for the firewalld backend, which an `lvs_realserver` call of any other '
        'method runs to remove that method\'s rules, asks firewall-cmd only where a firewalld rule of its own '
        'can exist (its comment in the nat PREROUTING listing, or in direct.xml). firewall-cmd is a Python '
        'program%s; on a host with firewalld installed but stopped the former path ran it and '
        'firewall-offline-cmd (the permanent rules\' listing) in every call.' % (
            ' (`firewall-cmd --state` alone %.0f ms here)' % fw if fw else ''))
    return ' '.join(out) + '\n\n' + '\n\n'.join(parts)


if __name__ == '__main__':
    from common import dump
    print(dump(run(n=int(os.environ.get('BENCH_N', '20')), keep_lab=bool(os.environ.get('BENCH_KEEP_LAB')))))
