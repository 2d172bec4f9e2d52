"""docs/performance.md from one results file of bench/run."""
import os

from common import ROOT, median
import converge as converge_texts

DOC = os.path.join(ROOT, 'docs', 'performance.md')


def f(x, nd=2):
    return ('%.' + str(nd) + 'f') % x if isinstance(x, (int, float)) else str(x)


def yes(b):
    return 'met' if b else '**missed**'


def table(head, rows):
    out = ['| ' + ' | '.join(head) + ' |', '| ' + ' | '.join('---' for _ in head) + ' |']
    out += ['| ' + ' | '.join(str(c) for c in r) + ' |' for r in rows]
    return '\n'.join(out)


def short_task(name):
    return name.split(' : ', 1)[-1]


def section_config(c):
    out = ['## 4. Director configuration scale', '',
           'keepalived.conf for %d virtual servers x %d real servers (%d `real_server` blocks, %d lines, '
           '%.1f MB) rendered and validated through the role on localhost (`bench/config_scale.yml`: '
           'packages and service not managed, file in a temporary directory, `keepalived -t` as the '
           "template's `validate`). The variables come from a %.0f kB YAML file passed with `-e @`. "
           'Target: ansible-playbook wall time under %.0f s.' % (
               c['virtual_servers'], c['real_servers_each'], c['real_server_blocks'], c['config_lines'],
               c['config_bytes'] / 1e6, c['vars_file_bytes'] / 1e3, c['target_seconds']), '']
    rows = [[r['kind'], f(r['seconds'], 1), f(r['loadavg1'], 1), yes(r['seconds'] < c['target_seconds'])]
            for r in c['runs']]
    out += [table(['run', 'wall time (s)', 'load avg (1 min)', 'target < %.0f s' % c['target_seconds']], rows), '']
    out += ['Where the time goes (`ansible.posix.profile_tasks`, tasks over 0.1 s):', '']
    names = []
    for r in c['runs']:
        for t, _ in r['tasks']:
            if t not in names:
                names.append(t)
    rows = []
    for t in names:
        vals = [dict(r['tasks']).get(t, 0.0) for r in c['runs']]
        if max(vals) >= 0.1:
            rows.append([short_task(t)] + [f(v, 1) for v in vals])
    out += [table(['task'] + ['%s (s)' % r['kind'] for r in c['runs']], rows), '']
    out += ['Outside the tasks: `keepalived -t -f` on the rendered file alone takes %s s; parsing the '
            'vars file with libyaml alone %s s; ansible-playbook start-up about %s s.' % (
                f(c['keepalived_t_seconds']), f(c['vars_yaml_parse_seconds']), f(c['ansible_startup_seconds'])), '']
    if c.get('analysis'):
        out += [c['analysis'], '']
    return out


def section_modules(m):
    out = ['## 2. Module cost on the target', '',
           'Each module\'s AnsiballZ payload (kept with `ANSIBLE_KEEP_REMOTE_FILES=1`, args JSON as '
           'Ansible passed them) run directly with `python3 <payload>` inside lab container `%s`, '
           '%d times, interleaved with the equivalent command (A B A B ...). Both are no-change calls '
           'on a converged host unless the row says otherwise. Milliseconds per invocation.' % (
               m['container'], m['n']), '']
    rows = []
    for r in m['rows']:
        rows.append(['`%s` %s' % (r['module'], r['args']), f(r['module_ms']['median'], 0), f(r['module_ms']['p90'], 0),
                     '`%s`' % r['command'], f(r['command_ms']['median'], 0), f(r['command_ms']['p90'], 0),
                     f(r['module_ms']['median'] / max(r['command_ms']['median'], 0.01), 1) + 'x'])
    out += [table(['module call', 'median ms', 'p90 ms', 'equivalent command', 'median ms', 'p90 ms',
                   'module / command'], rows), '']
    if m.get('baseline'):
        b = m['baseline']
        out += ['Floor: `python3 -c pass` %s ms; `python3 -S -c pass` %s ms%s (same container, same run).' % (
            f(b['python_ms'], 0), f(b['python_S_ms'], 0),
            '; `firewall-cmd --state` %s ms' % f(b['firewall_cmd_state_ms'], 0) if b.get('firewall_cmd_state_ms')
            else ''), '']
    if m.get('importtime'):
        out += ['What dominates (`python3 -X importtime` on the extracted module, cumulative '
                'time of the top-level imports and of their children, largest first; the AnsiballZ loader, '
                'which imports the module and so everything below, left out):', '']
        for imp in m['importtime']:
            out += ['- `%s` (total import %s ms): %s' % (
                imp['module'], f(imp['total_us'] / 1000.0, 0),
                ', '.join('`%s` %s ms' % (n, f(us / 1000.0, 0)) for n, us in imp['top'][:6]))]
        out += ['']
    if m.get('analysis'):
        out += [m['analysis'], '']
    return out


def section_converge(c):
    out = ['## 1. Converge and no-change run of the real-server role', '',
           c['setup'], '']
    rows = []
    for n in sorted(c['sizes'], key=int):
        s = c['sizes'][n]
        for kind, target in (('converge', c['targets']['converge']), ('nochange', c['targets']['nochange'])):
            role, base = median(s['role'][kind]), median(s['baseline'][kind])
            ratio = role / base
            rows.append([n, kind.replace('nochange', 'no-change'), s['forks'],
                         ' / '.join(f(x, 1) for x in s['role'][kind]), ' / '.join(f(x, 1) for x in s['baseline'][kind]),
                         f(role / int(n), 2), f(base / int(n), 2), f(ratio, 2), '%s (<= %.1fx)' % (yes(ratio <= target), target)])
    out += [table(['N', 'run', 'forks', 'role wall s (each rep)', 'baseline wall s (each rep)',
                   'role s/host', 'baseline s/host', 'role / baseline (medians)', 'target'], rows), '']
    fl = converge_texts.floors(c)
    if fl:
        out += ['The floor (`bench/floor.yml`: one `ansible.builtin.ping` per host), in the same repetitions:', '',
                table(['N', 'floor wall s (each rep)', 'floor / baseline no-change (medians)',
                       'role no-change / floor (medians)'],
                      [[str(n), ' / '.join(f(x, 1) for x in c['sizes'][str(n)]['floor']), f(r, 2), f(rf, 2)]
                       for n, _, r, rf, _ in fl]), '']
    if c.get('loadavg'):
        out += ['Load average (1 min) at the start of each timed run: %s.' % ', '.join(f(x, 1) for x in c['loadavg']), '']
    if c.get('profile'):
        out += ['Where the role\'s time goes (`ansible.posix.profile_tasks`, N=%s, one converge and one '
                'no-change run of the last repetition, wall seconds per task over all hosts):' % c['profile']['n'], '']
        names = []
        for k in ('converge', 'nochange'):
            for t, _ in c['profile'][k]:
                if t not in names:
                    names.append(t)
        rows = [[short_task(t), f(dict(c['profile']['converge']).get(t, 0.0), 2),
                 f(dict(c['profile']['nochange']).get(t, 0.0), 2)] for t in names]
        out += [table(['task', 'converge s', 'no-change s'], rows), '']
        if c['profile'].get('baseline'):
            out += ['The baseline, same N:', '']
            rows = [[short_task(t), f(dict(c['profile']['baseline']['converge']).get(t, 0.0), 2),
                     f(dict(c['profile']['baseline']['nochange']).get(t, 0.0), 2)]
                    for t, _ in c['profile']['baseline']['converge']]
            out += [table(['task', 'converge s', 'no-change s'], rows), '']
    if c.get('analysis'):
        out += [c['analysis'], '']
    return out


def section_dataplane(d):
    out = ['## 3. Data plane per method', '', d['setup'], '']
    rows = []
    for m in d['order']:
        r = d['methods'][m]
        rows.append([m, r['requests'], r['errors'], f(r['rps'], 0), f(r['p50_ms'], 2), f(r['p90_ms'], 2),
                     f(r['p99_ms'], 2), ', '.join('%s %d' % kv for kv in sorted(r.get('by_server', {}).items()))])
    out += [table(['method', 'requests', 'errors', 'requests/s', 'p50 ms', 'p90 ms', 'p99 ms', 'answered by'], rows), '']
    out += ['A user-mode-linux director on a 2-core VM (shared with the client, the real servers and '
            'whatever else runs) caps the throughput: these figures compare the methods on the same '
            'lab in the same run, they are not the capacity of LVS-DR or of any method.', '']
    if d.get('analysis'):
        out += [d['analysis'], '']
    return out


def provenance(res):
    """A line naming the parts an earlier run measured (bench/run --merge kept them), or none."""
    titles = {'config': 'director configuration scale', 'modules': 'module cost', 'converge': 'converge',
              'dataplane': 'data plane'}
    older = ['%s (%s, commit %s)' % (titles[p], res[p]['measured']['date'], res[p]['measured']['commit'])
             for p in ('config', 'modules', 'converge', 'dataplane')
             if p in res and res[p].get('measured', {}).get('date', res['date']) != res['date']]
    if not older:
        return []
    return ['Parts measured by an earlier run and kept in this results file (`bench/run --merge`), on the same '
            'machine: %s. The machine line above is this run\'s.' % '; '.join(older), '']


def write(res, results_rel):
    m = res['machine']
    out = ['# Performance', '',
           '<!-- Generated by bench/run from %s; edit bench/report.py, not this file. -->' % results_rel, '',
           'Figures of one `bench/run` (%s), raw results in [%s](../%s). Every comparison runs the subject and '
           'its baseline in the same run, interleaved (A B A B ...), so ratios hold on a busy machine; '
           'absolute times do not.' % (res['date'], results_rel, results_rel), '',
           '**Machine:** %s CPUs (`nproc`), %s, kernel %s, director: %s; %s; Python %s; commit %s. '
           'Load average (1/5/15 min) at the start %s, at the end %s (other jobs shared the machine).' % (
               m['nproc'], m['cpu_model'], m['kernel'], m['director'], m['ansible'], m['python'], m['git'],
               '/'.join(f(x, 2) for x in m['loadavg_start']), '/'.join(f(x, 2) for x in m.get('loadavg_end', []))), '',
           ] + provenance(res) + [
           'Run it (after `scripts/bootstrap`, whose venv it uses): `bench/run` (all, about 25 minutes) or `bench/run config|modules|converge|dataplane`; '
           '`bench/dataplane.py --help` for the load generator alone (any client host).', '']
    summary, notes = [], []
    if 'config' in res:
        c = res['config']
        summary.append(['director config 1,000 x 20 end to end', '< %.0f s' % c['target_seconds'],
                        ' / '.join(f(r['seconds'], 1) + ' s' for r in c['runs']), yes(c['met'])])
    if 'converge' in res:
        c = res['converge']
        for n in sorted(c['sizes'], key=int):
            s = c['sizes'][n]
            for kind, label in (('converge', 'converge'), ('nochange', 'no-change run')):
                ratio = median(s['role'][kind]) / median(s['baseline'][kind])
                summary.append(['real-server role %s, N=%s' % (label, n), '<= %.1fx baseline' % c['targets'][kind],
                                '%sx' % f(ratio, 2), yes(ratio <= c['targets'][kind])])
        m = converge_texts.marginal(c)
        if m:
            for kind, label in (('converge', 'converge'), ('nochange', 'no-change run')):
                d = m[kind]
                r = d['ratio']
                summary.append([
                    'real-server role %s, **marginal cost per host** (slope N=%d to N=%d)' % (label, d['lo'], d['hi']),
                    '<= %.1fx baseline\'s' % c['targets'][kind],
                    '%sx (%s / %s s per host)' % (f(r, 2), f(d['role']['slope'], 2), f(d['baseline']['slope'], 2))
                    if r is not None else 'n/a (baseline slope not positive)',
                    yes(r is not None and r <= c['targets'][kind])])
            notes.append(
                'The per-N rows compare whole runs (medians of the wall time), each with the fixed start-up of '
                'ansible-playbook; the marginal rows compare the cost of one more host: the slope of the median '
                'wall time between N=%d and N=%d, role over baseline (section 1).' % (
                    m['converge']['lo'], m['converge']['hi']))
    if summary:
        out += ['## Targets', '', table(['what', 'target', 'measured', ''], summary), '']
        if notes:
            out += [' '.join(notes), '']
    for key, fn in (('converge', section_converge), ('modules', section_modules),
                    ('dataplane', section_dataplane), ('config', section_config)):
        if key in res:
            out += fn(res[key])
    with open(DOC, 'w') as fh:
        fh.write('\n'.join(out).rstrip() + '\n')
