"""Director config scale: keepalived.conf for 1,000 virtual servers x 20 real servers rendered
and validated through the keepalived_director role on localhost (ansible-playbook wall time,
target < 10 s), with a profile_tasks breakdown and `keepalived -t` timed alone."""
import ipaddress
import os
import re
import shutil
import tempfile

import yaml

from common import ROOT, BENCH, ansible_env, timed, tool, loadavg

TARGET_S = 10.0


def default_interface():
    with open('/proc/net/route') as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == '00000000':
                return fields[0]
    return 'lo'


def structure(n_vs, n_rs, interface):
    """n_vs TCP virtual servers (10 VIPs x n_vs/10 ports) of n_rs real servers each, HTTP_GET
    check, documentation addresses only (198.51.100.0/24 VIPs, 203.0.113.0/24 real servers)."""
    vips = ['198.51.100.%d' % (10 + i) for i in range(10)]
    rss = [str(ipaddress.ip_address('203.0.113.11') + i) for i in range(n_rs)]
    vs = []
    for i in range(n_vs):
        vs.append({'ip': vips[i % len(vips)], 'port': 1000 + i // len(vips), 'protocol': 'TCP',
                   'lb_algo': 'wlc', 'delay_loop': 6,
                   'checks': [{'type': 'TCP_CHECK', 'connect_timeout': 3}],
                   'real_servers': [{'ip': ip, 'weight': 1 + j % 3} for j, ip in enumerate(rss)]})
    return {
        'keepalived_director_vrrp_instances': [{
            'name': 'VI_BENCH', 'interface': interface, 'virtual_router_id': 51, 'state': 'MASTER',
            'priority': 150, 'virtual_ipaddress': ['%s/32 dev %s' % (v, interface) for v in vips]}],
        'keepalived_director_virtual_servers': vs,
    }


def profile(output):
    """[(task, seconds)] from the profile_tasks recap."""
    rows = []
    for line in output.splitlines():
        m = re.match(r'^(.*?) -+ (\d+\.\d+)s$', line.strip())
        if m:
            rows.append((m.group(1).strip(), float(m.group(2))))
    return rows


def analysis(res):
    """Which tasks dominate, from the first (fresh) run's profile; nothing here names how the role
    does its work: the texts follow the task names and times of the results file."""
    runs = res['runs']
    r = runs[0]
    tasks = r['tasks']
    if not tasks:
        return ''
    in_tasks = sum(s for _, s in tasks)
    floor = max(0.5, 0.05 * r['seconds'])
    big = sorted([(t, s) for t, s in tasks if s >= floor], key=lambda x: -x[1])
    rest = [(t, s) for t, s in tasks if s < floor]
    later = dict(runs[-1]['tasks']) if len(runs) > 1 else {}

    def one(t, s):
        name = t.split(' : ', 1)[-1]
        if 'Validating arguments against arg spec' in name:
            name = name.split(' - ', 1)[0]
        text = '`%s` %.1f s (%.0f%%' % (name, s, 100.0 * s / r['seconds'])
        if 'Validating arguments against arg spec' in t:
            text += '; the role\'s argument-spec check of the variables'
        elif 'Write and validate' in t and 'keepalived.conf' in t:
            text += '; `keepalived -t` on the file alone takes %.1f s' % res['keepalived_t_seconds']
            if t in later:
                text += ('; in the no-change run, where the template action renders and compares without '
                         'validating, the same task takes %.1f s' % later[t])
        return text + ')'
    out = '**What dominates** (fresh run, %.1f s in all): %s. The other %d tasks take %.1f s together; ' \
          'outside the tasks %.1f s (ansible-playbook start-up alone about %.1f s, parsing the vars file with ' \
          'libyaml %.1f s, then inventory, variables and play set-up).' % (
              r['seconds'], '; '.join(one(t, s) for t, s in big) or 'no task over %.1f s' % floor, len(rest),
              sum(s for _, s in rest), r['seconds'] - in_tasks, res['ansible_startup_seconds'],
              res['vars_yaml_parse_seconds'])
    target = res['target_seconds']
    if res['met']:
        out += ' Every run is under the %.0f s target (%s).' % (
            target, ', '.join('%s %.1f s' % (x['kind'], x['seconds']) for x in runs))
    else:
        worst = max(runs, key=lambda x: x['seconds'])
        out += ' The %.0f s target is missed (the slowest run, %s, by %.1f s)' % (
            target, worst['kind'], worst['seconds'] - target)
        if big:
            t, s = big[0]
            out += '; the largest task alone takes %.0f%% of the target' % (100.0 * s / target)
        out += '.'
    return out


def run(reps=2, n_vs=1000, n_rs=20):
    work = tempfile.mkdtemp(prefix='lvsdr-bench-config-')
    try:
        vars_file = os.path.join(work, 'vars.yml')
        with open(vars_file, 'w') as f:
            yaml.safe_dump(structure(n_vs, n_rs, default_interface()), f, default_flow_style=False)
        out_dir = os.path.join(work, 'out')
        os.makedirs(out_dir)
        env = ansible_env(ANSIBLE_CALLBACKS_ENABLED='ansible.posix.profile_tasks',
                          PROFILE_TASKS_TASK_OUTPUT_LIMIT='all', PROFILE_TASKS_SORT_ORDER='none')
        argv = [tool('ansible-playbook'), '-i', 'localhost,', os.path.join(BENCH, 'config_scale.yml'),
                '-e', '@' + vars_file, '-e', 'bench_out_dir=' + out_dir]
        runs = []
        for rep in range(reps):
            # rep 0 writes the file (fresh), later reps find it unchanged (no-change run)
            if rep == 0 and os.path.exists(os.path.join(out_dir, 'keepalived.conf')):
                os.unlink(os.path.join(out_dir, 'keepalived.conf'))
            la = loadavg()[0]
            secs, proc = timed(argv, cwd=ROOT, env=env, timeout=600)
            if proc.returncode != 0:
                raise SystemExit('config scale run failed:\n' + proc.stdout[-5000:])
            runs.append({'kind': 'fresh' if rep == 0 else 'no-change', 'seconds': round(secs, 2),
                         'loadavg1': la, 'tasks': profile(proc.stdout)})
        conf = os.path.join(out_dir, 'keepalived.conf')
        size = os.path.getsize(conf)
        with open(conf) as f:
            text = f.read()
        kt, kproc = timed(['keepalived', '-t', '-f', conf], timeout=120)
        # the pieces of the playbook outside the tasks: start-up, vars file parse
        st, _ = timed([tool('ansible-playbook'), '--version'], env=env)
        yt = timed(['python3', '-c', 'import yaml,sys; yaml.load(open(sys.argv[1]), Loader=yaml.CSafeLoader)',
                    vars_file])[0]
        res = {'virtual_servers': n_vs, 'real_servers_each': n_rs,
                'config_bytes': size, 'config_lines': text.count('\n'),
                'real_server_blocks': text.count('real_server '),
                'vars_file_bytes': os.path.getsize(vars_file),
                'runs': runs, 'keepalived_t_seconds': round(kt, 2), 'keepalived_t_rc': kproc.returncode,
                'ansible_startup_seconds': round(st, 2), 'vars_yaml_parse_seconds': round(yt, 2),
                'target_seconds': TARGET_S,
                'met': all(r['seconds'] < TARGET_S for r in runs)}
        res['analysis'] = analysis(res)
        return res
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    from common import dump
    print(dump(run()))
