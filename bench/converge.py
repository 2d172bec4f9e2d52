"""Converge and no-change run of the real-server role against the guide-following baseline
(bench/baseline.yml), sysctl method, on N real servers of one lab (bench-conv, 30 real servers;
smaller N use its first N hosts with --limit). Per repetition and N: reset, A converge, A
no-change, reset, B converge, B no-change, and the floor (bench/floor.yml: one ping per host, the
least a role making one module call can cost), the order rotating between repetitions."""
import concurrent.futures
import os
import re
import subprocess
import time

import yaml

from common import ROOT, BENCH, LAB, ansible_env, timed, tool, loadavg, median

SMALL_LAB = os.environ.get('BENCH_CONV_LAB', 'bench-conv')  # N <= 14: a named lab's /27 slot
BIG_LAB = 'lvsdr'  # more than 14 real servers fit only the default lab's slot: used only when free
SLOT_MAX = 14
TARGETS = {'converge': 0.5, 'nochange': 0.4}
FORKS_CAP = 10
PLAYBOOKS = {'role': os.path.join(BENCH, 'role.yml'), 'baseline': os.path.join(BENCH, 'baseline.yml'),
             'floor': os.path.join(BENCH, 'floor.yml')}


def forks(n):
    return min(n, FORKS_CAP)


def recap(output):
    """{host: {ok, changed, failed, unreachable}} from the PLAY RECAP."""
    out = {}
    for m in re.finditer(r'^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', output, re.M):
        out[m.group(1)] = {'ok': int(m.group(2)), 'changed': int(m.group(3)), 'unreachable': int(m.group(4)),
                           'failed': int(m.group(5))}
    return out


def profile(output):
    rows = []
    for line in output.splitlines():
        m = re.match(r'^(.*?) -+ (\d+\.\d+)s$', line.strip())
        if m:
            rows.append((m.group(1).strip(), float(m.group(2))))
    return rows


class Lab(object):
    def __init__(self, name):
        self.inventory = os.path.join(ROOT, '.cache', 'lab', name, 'inventory.yml')
        with open(self.inventory) as f:
            top = yaml.safe_load(f)['all']
        self.vip = top['vars']['lab_vip4']
        self.hosts = top['children']['lvs_realservers']['hosts']

    def names(self, n):
        return ['rs%d' % i for i in range(1, n + 1)]

    def reset(self, n):
        def one(h):
            return subprocess.run(['podman', 'exec', self.hosts[h]['ansible_host'], 'sh', '-c',
                                   open(os.path.join(BENCH, 'reset.sh')).read(), 'reset', self.vip],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).returncode
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            rcs = list(ex.map(one, self.names(n)))
        if any(rcs):
            raise SystemExit('reset failed on some real servers: %r' % rcs)

    def play(self, which, n, prof=False):
        extra = {'ANSIBLE_CALLBACKS_ENABLED': 'ansible.posix.profile_tasks', 'PROFILE_TASKS_TASK_OUTPUT_LIMIT': 'all',
                 'PROFILE_TASKS_SORT_ORDER': 'none'} if prof else {}
        argv = [tool('ansible-playbook'), '-i', self.inventory, PLAYBOOKS[which], '-f', str(forks(n)),
                '-l', ','.join(self.names(n))]
        la = loadavg()[0]
        secs, proc = timed(argv, cwd=ROOT, env=ansible_env(**extra), timeout=900)
        rc = recap(proc.stdout)
        if proc.returncode or len(rc) != n or any(h['failed'] or h['unreachable'] for h in rc.values()):
            raise SystemExit('%s on %d hosts failed (rc %d):\n%s' % (which, n, proc.returncode, proc.stdout[-4000:]))
        return secs, rc, la, (profile(proc.stdout) if prof else None)


def settle(limit=300):
    """Wait until the lab's start (30 containers booting systemd) no longer loads the machine: the
    1-minute load average below the core count, at most `limit` seconds. Without it the smallest N,
    measured first, ran beside the tail of that start. {'seconds', 'loadavg'} when done."""
    start = time.monotonic()
    while loadavg()[0] >= (os.cpu_count() or 1) and time.monotonic() - start < limit:
        time.sleep(5)
    return {'seconds': round(time.monotonic() - start), 'loadavg': loadavg()[0]}


def default_lab_in_use():
    names = subprocess.run(['podman', 'ps', '-a', '--format', '{{.Names}}'], stdout=subprocess.PIPE, text=True).stdout
    return any(n.startswith(BIG_LAB + '-') for n in names.split()) or os.path.exists(
        os.path.join(ROOT, '.cache', 'lab', BIG_LAB, 'lab.json'))


def run(sizes=(2, 10, 30), reps=2, big_reps=1, keep_lab=False):
    skipped = {}
    if max(sizes) > SLOT_MAX and default_lab_in_use():
        skipped = {str(n): 'the default lab (the only slot for more than %d real servers) was in use' % SLOT_MAX
                   for n in sizes if n > SLOT_MAX}
        sizes = [n for n in sizes if n <= SLOT_MAX]
    lab_name = BIG_LAB if max(sizes) > SLOT_MAX else SMALL_LAB
    subprocess.run([LAB, '--name', lab_name, 'up', '--realservers', str(max(sizes)), '--directors', '0',
                    '--no-client'], check=True, stdout=subprocess.DEVNULL)
    lab = Lab(lab_name)
    res = {'targets': TARGETS, 'sizes': {}, 'loadavg': [], 'forks_cap': FORKS_CAP, 'lab': lab_name,
           'nproc': os.cpu_count(), 'settle': settle(),
           'lab_realservers': max(sizes), 'skipped': skipped, 'reps': reps, 'big_reps': big_reps}
    try:
        for n in sizes:
            s = res['sizes'][str(n)] = {'forks': forks(n), 'role': {'converge': [], 'nochange': []},
                                        'baseline': {'converge': [], 'nochange': []}, 'floor': [],
                                        'changed': {}}
            for rep in range(reps if n <= SLOT_MAX else big_reps):
                # The floor's place rotates too: first, between the two, last.
                order = [['floor', 'role', 'baseline'], ['baseline', 'floor', 'role'],
                         ['role', 'baseline', 'floor']][rep % 3]
                for which in order:
                    if which == 'floor':
                        secs, rc, la, prof = lab.play('floor', n, prof=True)
                        s['floor'].append(round(secs, 2))
                        res['loadavg'].append(la)
                        continue
                    lab.reset(n)
                    for kind in ('converge', 'nochange'):
                        secs, rc, la, prof = lab.play(which, n, prof=True)
                        s.setdefault('profiles', {}).setdefault(which, {})[kind] = prof
                        s[which][kind].append(round(secs, 2))
                        s['changed'].setdefault('%s %s' % (which, kind), []).append(
                            sum(1 for h in rc.values() if h['changed']))
                        res['loadavg'].append(la)
        # the profile of the largest N (profile_tasks ran in every timed run; its cost is negligible)
        big = str(max(sizes))
        p = res['sizes'][big].pop('profiles')
        res['profile'] = {'n': int(big), 'converge': p['role']['converge'], 'nochange': p['role']['nochange'],
                          'baseline': p['baseline']}
        for n in sizes:
            res['sizes'][str(n)].pop('profiles', None)
        lab.reset(max(sizes))
    finally:
        if not keep_lab:
            subprocess.run([LAB, '--name', lab_name, 'down'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    res['setup'] = setup_text(res)
    res['analysis'] = growth(res) + '\n\n' + analysis(res)
    return res


# What the role's tasks are, for the texts (matched on the task name as profile_tasks prints it).
ROLE_TASKS = (
    ('Validating arguments against arg spec', 'the argument-spec check, an action on the controller'),
    ('Install the method\'s packages', 'the include of tasks/prepare.yml, skipped (no packages to install, '
                                       'not the firewalld method)'),
    ('Converge the real server', 'the one `lvs.dr.lvs_realserver` call'),
)


def describe(task):
    for key, text in ROLE_TASKS:
        if key in task:
            return text
    return None


def active(rows):
    """The tasks that ran a module: a skipped task or a controller-side action costs a small
    fraction of the largest task (profile_tasks wall time over all hosts)."""
    if not rows:
        return []
    top = max(s for _, s in rows)
    return [(t, s) for t, s in rows if s >= 0.25 * top]


def marginal(res):
    """The marginal cost per host: the straight line through the median wall times at the smallest
    and the largest N, per playbook and kind of run. {kind: {'lo', 'hi', 'role': {'slope',
    'intercept'}, 'baseline': {...}, 'ratio': role slope / baseline slope}}; None with fewer than
    two sizes."""
    sizes = sorted(res.get('sizes', {}), key=int)
    if len(sizes) < 2:
        return None
    lo, hi = sizes[0], sizes[-1]
    out = {}
    for kind in ('converge', 'nochange'):
        d = {'lo': int(lo), 'hi': int(hi)}
        for which in ('role', 'baseline'):
            a, b = median(res['sizes'][lo][which][kind]), median(res['sizes'][hi][which][kind])
            slope = (b - a) / float(int(hi) - int(lo))
            d[which] = {'slope': slope, 'intercept': a - slope * int(lo)}
        d['ratio'] = d['role']['slope'] / d['baseline']['slope'] if d['baseline']['slope'] > 0 else None
        out[kind] = d
    return out


def ratios(res):
    """[(n, kind, role/baseline of the medians, target)] for every measured N."""
    out = []
    for n in sorted(res['sizes'], key=int):
        s = res['sizes'][n]
        for kind in ('converge', 'nochange'):
            out.append((int(n), kind, median(s['role'][kind]) / median(s['baseline'][kind]), res['targets'][kind]))
    return out


def label(kind):
    return 'no-change run' if kind == 'nochange' else kind


def verdicts(res):
    """Which target is met at which N, and by the marginal cost per host."""
    met, missed = [], []
    for n, kind, r, t in ratios(res):
        (met if r <= t else missed).append('%s at N=%d (%.2fx, target %.1fx)' % (label(kind), n, r, t))
    out = 'per run, met: %s; missed: %s.' % ('; '.join(met) or 'none', '; '.join(missed) or 'none')
    m = marginal(res)
    if m:
        parts = []
        for kind in ('converge', 'nochange'):
            r, t = m[kind]['ratio'], res['targets'][kind]
            parts.append('%s %s (target %.1fx: %s)' % (
                label(kind), '%.2fx' % r if r is not None else 'n/a', t,
                'met' if r is not None and r <= t else 'missed'))
        out += ' Marginal cost per host (N=%d to N=%d): %s.' % (m['converge']['lo'], m['converge']['hi'],
                                                                '; '.join(parts))
    return out


def analysis(res):
    """What dominates, from the profile run (task wall times over all hosts); which target is met
    at which N; and, where a target is missed at some N only, why, from the per-N medians."""
    out = [dominates(res), '**Targets**: ' + verdicts(res) if res.get('sizes') else '', why_missed(res),
           floor_text(res)]
    return '\n\n'.join(x for x in out if x)


def floors(res):
    """[(n, floor median, floor / baseline no-change, role no-change / floor, baseline no-change median)]
    where the floor was measured (results files before it have none)."""
    out = []
    for n in sorted(res.get('sizes', {}), key=int):
        s = res['sizes'][n]
        if s.get('floor'):
            fl, base = median(s['floor']), median(s['baseline']['nochange'])
            out.append((int(n), fl, fl / base, median(s['role']['nochange']) / fl, base))
    return out


def floor_text(res):
    """The no-change target against the floor: a ratio the cheapest one-module-task play cannot reach
    is out of reach of any role that calls a module on each host."""
    rows = floors(res)
    if not rows:
        return ''
    t = res['targets']['nochange']
    above = ['N=%d (%.2fx)' % (n, r) for n, _, r, _, _ in rows if r > t]
    # Where the floor meets the target and the role does not: the room the target leaves over the floor.
    room = ['at N=%d the target leaves the role %.2f s over the floor; it takes %.2f s more' % (
        n, t * base - fl, (rf - 1) * fl) for n, fl, r, rf, base in rows if r <= t < rf * r]
    return (
        '**The floor**: `bench/floor.yml`, one `ansible.builtin.ping` per host (the cheapest module task: no '
        'arguments, no work on the host), ran in every repetition beside the two playbooks, with the same '
        'callback. A role that makes '
        'one module call per host cannot take less. Its median wall time against the baseline\'s no-change '
        'run: %s. %s The role\'s no-change run against the floor: %s.' % (
            ', '.join('%.2fx at N=%d (%.1f s)' % (r, n, fl) for n, fl, r, _, _ in rows),
            'Above the no-change target of %.1fx at %s: there even a role whose one call cost no more than a '
            'ping would miss it; what the role adds over the floor is its argument check, the skipped include '
            'and a larger module.' % (t, ', '.join(above)) if above else
            'At or below the no-change target of %.1fx at every N%s.' % (
                t, ': ' + '; '.join(room) + ' (its argument check, the skipped include and a larger '
                'module that reads more of the host)' if room else ''),
            ', '.join('%.2fx at N=%d' % (rf, n) for n, _, _, rf, _ in rows)))


def dominates(res):
    p = res.get('profile')
    if not p:
        return ''
    ra, ba = active(p['converge']), active(p['baseline']['converge'])
    if not ra or not ba:
        return ''
    rest = [(t, s) for t, s in p['converge'] if (t, s) not in ra]
    tot_r = sum(s for _, s in p['converge'])
    tot_b = sum(s for _, s in p['baseline']['converge'])
    act_r, act_b = sum(s for _, s in ra), sum(s for _, s in ba)
    nc = dict(p['nochange'])
    nc_r = sum(nc.get(t, 0.0) for t, _ in ra)
    facts = [t for t, _ in ra if 'facts' in t.lower()]

    def named(rows):
        return '; '.join('%s, %s: %.1f s' % (short(t), describe(t), s) if describe(t) and len(t) < 80
                         else '%s: %.1f s' % (describe(t), s) if describe(t) else '%s: %.1f s' % (short(t), s)
                         for t, s in rows)

    def plural(n, word):
        return '%d %s%s' % (n, word, '' if n == 1 else 's')

    same = abs(nc_r - act_r) <= 0.05 * act_r
    return (
        '**What dominates**: the number of module invocations per host. A task that runs a module costs a '
        'podman-connection round trip (temporary directory, payload transfer, AnsiballZ start, the imports '
        'of part 2, result); a skipped task or a controller-side action costs a small fraction of that. At '
        'N=%d the role runs %s per host (%s) and %s (%s), %.1f s of task time in the converge; the baseline '
        'runs %s per host (%s), %.1f s with its skipped tasks. One module task of the role takes %.2fx one '
        'of the baseline\'s (%.1f s against %.1f s on average, task wall time for the %d hosts), and there '
        'are %d against %d: %.2fx the baseline\'s module task time. In the no-change run the role\'s module '
        'task time is %.1f s%s. No package task runs (packages are baked into the lab image)%s. Pipelining is '
        'not available to the podman connection used here (its plugin sets `has_pipelining = False`); ssh '
        'hosts with pipelining would see a smaller cost per task, the count of module tasks per host '
        'stays.' % (
            p['n'], plural(len(ra), 'module task'), named(ra), plural(len(rest), 'other task'), named(rest),
            tot_r, plural(len(ba), 'module task'), ', '.join(short(t) for t, _ in ba), tot_b,
            (act_r / len(ra)) / (act_b / len(ba)), act_r / len(ra), act_b / len(ba), p['n'], len(ra), len(ba),
            act_r / act_b, nc_r,
            ': a call costs about the same whether it changes anything or not' if same else
            ' (%.2fx the converge\'s): a call that changes no address reads them without loading pyroute2, '
            'which a converge call imports to add the VIP (part 2)' % (nc_r / act_r) if nc_r < act_r else '',
            '; fact gathering is one of the module tasks' if facts else ', and no facts are gathered'))


def why_missed(res):
    """For a kind of run that misses its target at the smallest N but not per host: the fixed part
    of a run against the per-host part, from the line through the smallest and largest N."""
    m = marginal(res)
    if not m:
        return ''
    lo, hi = m['converge']['lo'], m['converge']['hi']
    s = res['sizes'][str(lo)]
    parts, cross, per_host_missed = [], [], []
    for n, kind, r, t in ratios(res):
        if n != lo or r <= t:
            continue
        d = m[kind]
        if d['ratio'] is None or d['ratio'] > t:
            per_host_missed.append('%s (the marginal cost per host misses too: %s)' % (
                label(kind), '%.2fx' % d['ratio'] if d['ratio'] is not None else 'no ratio'))
            continue
        role_lo = median(s['role'][kind])
        ir, ib = d['role']['intercept'], d['baseline']['intercept']
        if ib <= 0 or ir <= 0:
            per_host_missed.append('%s (the line\'s intercepts, %.1f s and %.1f s, are too noisy to split the '
                                   'run)' % (label(kind), ir, ib))
            continue
        parts.append(
            '%s at N=%d: %.2fx. Intercepts: role %.1f s, baseline %.1f s (%s), the role\'s being %.0f%% of its '
            '%.1f s; slopes: %.2f s and %.2f s per host (%.2fx)' % (
                label(kind).capitalize(), lo, r, ir, ib, '%.2fx' % (ir / ib),
                100.0 * ir / role_lo, role_lo, d['role']['slope'], d['baseline']['slope'], d['ratio']))
        den = t * d['baseline']['slope'] - d['role']['slope']
        n_star = (ir - t * ib) / den if den > 0 else None
        if n_star is not None and lo < n_star <= hi:
            cross.append('the %s from N of about %.0f' % (label(kind), n_star))
    out = []
    if parts:
        spread = max(max(v) - min(v) for w in ('role', 'baseline') for v in s[w].values())
        la = res.get('loadavg') or [0.0]
        out.append(
            '**Why N=%d misses**: a run\'s wall time is a fixed part (ansible-playbook start-up, inventory and '
            'playbook parsing, the play\'s set-up: the same kind of work for both playbooks) plus a part per '
            'host. On the straight line through the medians at N=%d and N=%d the intercept (wall time at N=0) '
            'estimates the first, the slope the second. %s. The fixed parts are not in the per-host proportion '
            '(their ratio is above the per-host one), and while few hosts share them they pull the run ratio '
            'towards theirs: at N=%d the run ratio stays above the per-host one and approaches it as N '
            'grows%s. The repetitions at N=%d differ by up to '
            '%.1f s (load average %.1f-%.1f during the runs), so the intercepts are rough; the slopes, that '
            'difference spread over %d hosts, less so.' % (
                lo, lo, hi, '. '.join(parts), lo,
                ' (on that line the target is reached by %s; interpolated, not measured)' % ' and '.join(cross)
                if cross else '', lo, spread, min(la), max(la), hi - lo))
    if per_host_missed:
        out.append('Not explained by the fixed part of a run at N=%d: %s.' % (lo, '; '.join(per_host_missed)))
    between = []
    for n, kind, r, t in ratios(res):
        d = m[kind]
        if not lo < n < hi or r <= t or d['ratio'] is None or d['ratio'] > t:
            continue
        sn = res['sizes'][str(n)]
        line = ((d['role']['intercept'] + d['role']['slope'] * n)
                / (d['baseline']['intercept'] + d['baseline']['slope'] * n))
        role, base = sn['role'][kind], sn['baseline'][kind]
        between.append('the %s at N=%d measured %.2fx where the line gives %.2fx; its repetitions: role %s s, '
                       'baseline %s s, the role\'s spread alone %.2fx of the baseline\'s median' % (
                           label(kind), n, r, line, ' / '.join('%.1f' % x for x in role),
                           ' / '.join('%.1f' % x for x in base), (max(role) - min(role)) / median(base)))
    if between:
        out.append('**Between the ends**: %s. The fixed part still weighs there, less than at N=%d; a miss by '
                   'less than the spread of the repetitions is within this machine\'s noise, not a margin.'
                   % ('; '.join(between), lo))
    return '\n\n'.join(out)


def short(t):
    return '`%s`' % t.split(' : ', 1)[-1]


def growth(res):
    sizes = sorted(res['sizes'], key=int)
    if len(sizes) < 2:
        return ''
    m = marginal(res)

    def per_host(which, n, kind='converge'):
        return median(res['sizes'][n][which][kind]) / int(n)

    def slope(kind):
        d = m[kind]
        return '%s %.2f s per host for the role against %.2f s for the baseline, %s' % (
            label(kind), d['role']['slope'], d['baseline']['slope'],
            '%.2fx' % d['ratio'] if d['ratio'] is not None else 'no ratio (baseline slope not positive)')
    return ('**Growth with N** (converge, median wall seconds per host): role %s; baseline %s. The per-host '
            'figure includes a share of the fixed part of a run, which shrinks as N grows. The marginal cost '
            'of one more host (slope of the median wall time between N=%d and N=%d; forks capped at %d on %s) is the '
            'figure that compares the per-host work: %s; %s.' % (
                ', '.join('%.2f (N=%s)' % (per_host('role', n), n) for n in sizes),
                ', '.join('%.2f (N=%s)' % (per_host('baseline', n), n) for n in sizes),
                m['converge']['lo'], m['converge']['hi'], res['forks_cap'],
                cores(res),
                slope('converge'), slope('nochange')))


def setup_text(res):
    return (
        'The role (`bench/role.yml`: `lvs.dr.lvs_dr_realserver`, sysctl method, the lab\'s IPv4 VIP on lo, '
        '`lvs_dr_realserver_install_packages: false` as in examples/lab.yml) against the baseline '
        '(`bench/baseline.yml`: the guide\'s steps with built-in modules: two `ansible.posix.sysctl` '
        'tasks writing /etc/sysctl.d/arp.conf, one `ansible.builtin.shell` adding the VIP to lo if '
        'absent; its arptables/iptables steps skipped). The role checks its arguments, includes '
        'tasks/prepare.yml only where packages are to be installed or for the firewalld method, and '
        'makes one `lvs.dr.lvs_realserver` call per host: ARP protection, the VIPs and the removal of '
        'what another method left, in one process. The sysctl method is enough for the converge '
        'comparison: every method is the same one call; only the firewalld method adds the included '
        'tasks (start firewalld, open the zone\'s ports). Both playbooks: `gather_facts: false`, podman '
        'connection, forks = min(N, %d) (%s: more forks only add contention), the same lab (`%s`, %d '
        'real servers; smaller N with `--limit` to its first N; %s repetition(s) for N <= %d, %s above). '
        'Each repetition: reset the N real servers (bench/reset.sh: VIP, ARP settings, files and units of '
        'both removed), converge, no-change run; then the same for the other playbook; the order '
        'rotates between repetitions.%s%s%s The baseline does less: it does not make the VIP persistent, '
        'does not validate its input and does not clean up other methods\' residue.' % (
            res['forks_cap'], cores(res), res['lab'], res['lab_realservers'], res['reps'], SLOT_MAX,
            res['big_reps'],
            ' Before the first run the harness waited %d s after the lab\'s start for the 1-minute load '
            'average to fall below the core count: %.1f%s.' % (
                res['settle']['seconds'], res['settle']['loadavg'],
                '' if res['settle']['loadavg'] < res['nproc'] else ', still above it at the wait\'s limit')
            if res.get('settle') else '',
            ' The floor (`bench/floor.yml`, below) runs once per repetition, first, between the two playbooks or '
            'last, in turn.'
            if any(s.get('floor') for s in res['sizes'].values()) else '', changed_text(res))) + (
        ' Not measured: %s.' % '; '.join('N=%s (%s)' % kv for kv in sorted(res['skipped'].items()))
        if res['skipped'] else '')


def cores(res):
    return '%s cores' % res['nproc'] if res.get('nproc') else 'the machine\'s cores'


def changed_text(res):
    """Whether every converge changed every host and no no-change run changed any (PLAY RECAP)."""
    ok = True
    for n, s in res['sizes'].items():
        for key, counts in s.get('changed', {}).items():
            want = int(n) if key.endswith('converge') else 0
            ok = ok and all(c == want for c in counts)
    if not any(s.get('changed') for s in res['sizes'].values()):
        return ''
    return (' In every run the PLAY RECAP showed the expected result: each converge changed every host, '
            'each no-change run none.' if ok else
            ' Not every converge changed every host or some no-change run changed a host: see `changed` in '
            'the results file.')


if __name__ == '__main__':
    from common import dump
    sizes = [int(x) for x in os.environ.get('BENCH_SIZES', '2,10').split(',')]
    print(dump(run(sizes, int(os.environ.get('BENCH_REPS', '1')), keep_lab=True)))
