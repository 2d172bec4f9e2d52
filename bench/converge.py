"""Converge and no-change run of the real-server role against the guide-following baseline
(bench/baseline.yml), sysctl method, on N real servers of one lab (bench-conv, 30 real servers;
smaller N use its first N hosts with --limit). Per repetition and N: reset, A converge, A
no-change, reset, B converge, B no-change, the order of A/B alternating between repetitions."""
import concurrent.futures
import os
import re
import subprocess

import yaml

from common import ROOT, BENCH, LAB, ansible_env, timed, tool, loadavg

SMALL_LAB = os.environ.get('BENCH_CONV_LAB', 'bench-conv')  # N <= 14: a named lab's /27 slot
BIG_LAB = 'lvsdr'  # more than 14 real servers fit only the default lab's slot: used only when free
SLOT_MAX = 14
TARGETS = {'converge': 0.5, 'nochange': 0.4}
FORKS_CAP = 10
PLAYBOOKS = {'role': os.path.join(BENCH, 'role.yml'), 'baseline': os.path.join(BENCH, 'baseline.yml')}


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
           'lab_realservers': max(sizes), 'skipped': skipped, 'reps': reps, 'big_reps': big_reps}
    try:
        for n in sizes:
            s = res['sizes'][str(n)] = {'forks': forks(n), 'role': {'converge': [], 'nochange': []},
                                        'baseline': {'converge': [], 'nochange': []}, 'changed': {}}
            for rep in range(reps if n <= SLOT_MAX else big_reps):
                order = ['role', 'baseline'] if rep % 2 == 0 else ['baseline', 'role']
                for which in order:
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


def analysis(res):
    """What dominates, from the profile run (task wall times over all hosts)."""
    p = res.get('profile')
    if not p:
        return ''
    def active(rows):  # tasks that ran a module (skipped ones cost a small fraction of the largest)
        top = max(s for _, s in rows)
        return [(t, s) for t, s in rows if s >= 0.25 * top]
    ra, ba = active(p['converge']), active(p['baseline']['converge'])
    tot_r = sum(s for _, s in p['converge'])
    tot_b = sum(s for _, s in p['baseline']['converge'])
    setup = sum(s for t, s in p['converge'] if 'Gather the minimal facts' in t)
    residue = sum(s for t, s in p['converge'] if 'former method' in t)
    return (
        '**What dominates**: the number of module invocations per host. Tasks that run a module cost '
        'about the same each (a podman-connection round trip: temporary directory, payload transfer, '
        'AnsiballZ start, pyroute2 import where used, result; see part 2 for the payload alone), '
        'skipped tasks almost nothing. At N=%d the role runs %d module tasks per host (%s; the last is a '
        'loop of two invocations) against the '
        'baseline\'s %d (%s): %.0f s against %.0f s of task time in the converge. No package task runs '
        '(packages are baked into the lab image). Fact gathering (`setup` with `gather_subset: !all`, '
        'only needed for the package tasks\' OS family) is %.0f s of it; the residue removal of the '
        'other methods (arptables, and a loop over two REDIRECT backends) %.0f s, paid again on every '
        'no-change run.\n\n'
        '**Recommendations** (for the role\'s owners; not applied here): (1) skip the `setup` task '
        'when `lvs_dr_realserver_install_packages` is false (only tasks/packages.yml reads '
        '`ansible_facts.os_family`): saves one invocation per host; (2) run the residue clean-up only when the method '
        'changed: have the modules record the method in use (they already keep records under '
        '/etc/lvs-dr and /run/lvs-dr) and expose it, e.g. as a local fact '
        '(`/etc/ansible/facts.d/lvs_dr.fact`) read by the same minimal `setup` that (1) keeps, or make one '
        'module call remove every other method\'s residue (one `lvs_redirect state=absent` over both '
        'backends instead of a loop, and the arptables clean-up in the same call): saves 2-3 invocations '
        'per host; (3) to reach the targets (<= 0.5x / 0.4x of a 3-task baseline) the role must run at '
        'most one module per host per run: an action plugin or a single `lvs_dr_realserver`-style module '
        'that suppresses ARP, holds the VIPs and removes residue in one payload (the modules\' code as '
        'module_utils). Fewer forks do not help on 2 cores; pipelining is not available to the podman '
        'connection used here (its plugin sets `has_pipelining = False`; ssh hosts with pipelining would see a '
        'smaller per-task cost, the ratio by invocation count stays).' % (
            p['n'], len(ra), ', '.join(short(t) for t, _ in ra), len(ba), ', '.join(short(t) for t, _ in ba),
            tot_r, tot_b, setup, residue))


def short(t):
    return '`%s`' % t.split(' : ', 1)[-1]


def growth(res):
    sizes = sorted(res['sizes'], key=int)
    if len(sizes) < 2:
        return ''
    def per_host(which, n):
        v = sorted(res['sizes'][n][which]['converge'])
        return v[len(v) // 2] / int(n)
    return ('**Growth with N** (converge, median wall seconds per host): role %s; baseline %s. The per-host cost '
            'falls while the fixed start-up of the playbook is spread over more hosts, then stays flat: with '
            'forks capped at %d on 2 cores the wall time grows linearly with N, and the role/baseline ratio '
            '(table above) hardly moves with N.' % (
                ', '.join('%.2f (N=%s)' % (per_host('role', n), n) for n in sizes),
                ', '.join('%.2f (N=%s)' % (per_host('baseline', n), n) for n in sizes), res['forks_cap']))


def setup_text(res):
    return (
        'The role (`bench/role.yml`: `lvs.dr.lvs_dr_realserver`, sysctl method, the lab\'s IPv4 VIP on lo, '
        '`lvs_dr_realserver_install_packages: false` as in examples/lab.yml) against the baseline '
        '(`bench/baseline.yml`: the guide\'s steps with built-in modules: two `ansible.posix.sysctl` '
        'tasks writing /etc/sysctl.d/arp.conf, one `ansible.builtin.shell` adding the VIP to lo if '
        'absent; its arptables/iptables steps skipped). The sysctl method is enough for the converge '
        'comparison: for every method the role runs one protection task (or REDIRECT), one VIP task (sysctl, '
        'arptables) and the clean-up of the other methods, so the task count barely changes. Both playbooks: `gather_facts: false`, podman connection, forks = min(N, %d) (2 cores: '
        'more forks only add contention), the same lab (`%s`, %d real servers; smaller N with `--limit` '
        'to its first N; %s repetition(s) for N <= %d, %s above). Each repetition: reset the N real servers (bench/reset.sh: VIP, ARP '
        'settings, files and units of both removed), converge, no-change run; then the same for the '
        'other playbook; the order alternates between repetitions. The baseline does less: it does '
        'not make the VIP persistent and does not clean up other methods\' residue.' % (
            res['forks_cap'], res['lab'], res['lab_realservers'], res['reps'], SLOT_MAX, res['big_reps'])) + (
        ' Not measured: %s.' % '; '.join('N=%s (%s)' % kv for kv in sorted(res['skipped'].items()))
        if res['skipped'] else '')


if __name__ == '__main__':
    from common import dump
    sizes = [int(x) for x in os.environ.get('BENCH_SIZES', '2,10').split(',')]
    print(dump(run(sizes, int(os.environ.get('BENCH_REPS', '1')), keep_lab=True)))
