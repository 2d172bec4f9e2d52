"""Module cost on the target: each module's AnsiballZ payload run directly inside a lab
container N times, interleaved with the equivalent ip/sysctl/iptables/arptables command, plus
`python3 -X importtime` on each payload. Uses a lab of its own (bench-mod, 1 real server)."""
import json
import os
import re
import subprocess

from common import ROOT, BENCH, LAB, ansible_env, tool, median, percentile, loadavg

LAB_NAME = os.environ.get('BENCH_MOD_LAB', 'bench-mod')
TASKS = ['lvs_arp_suppress sysctl', 'lvs_vip', 'lvs_redirect iptables', 'lvs_arp_suppress arptables']


def sh(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=True, **kw).stdout


def importtime(container, payload):
    """[(top-level module, cumulative us)] largest first, and the total, for one payload run."""
    p = subprocess.run(['podman', 'exec', container, 'python3', '-X', 'importtime', payload],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    top, total = [], 0
    for line in p.stderr.splitlines():
        m = re.match(r'import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)', line)
        if not m:
            continue
        cum, indent, name = int(m.group(2)), len(m.group(3)), m.group(4)
        if indent <= 1:  # top level: one space after the bar
            total += cum
        # the top-level imports and their children (the AnsiballZ loader imports the module,
        # which imports ansible.module_utils.basic, pyroute2, ...); the loader itself left out
        if indent <= 3 and not name.endswith('_ansiballz._loader'):
            top.append((name, cum))
    top.sort(key=lambda x: -x[1])
    return top, total


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
        # the equivalent commands: what one run of the guide's step costs (idempotent forms)
        sh(['podman', 'exec', container, 'iptables', '-w', '-t', 'nat', '-A', 'PREROUTING', '-d', vip + '/32', '-p',
            'tcp', '-m', 'tcp', '--dport', '80', '-m', 'comment', '--comment', 'bench', '-j', 'REDIRECT'])
        commands = {
            'lvs_arp_suppress sysctl': ['sysctl', '-q', '-w', 'net.ipv4.conf.all.arp_ignore=1',
                                        'net.ipv4.conf.all.arp_announce=2'],
            'lvs_vip': ['ip', 'addr', 'replace', vip + '/32', 'dev', 'lo'],
            'lvs_redirect iptables': ['iptables', '-w', '-t', 'nat', '-C', 'PREROUTING', '-d', vip + '/32', '-p', 'tcp',
                                      '-m', 'tcp', '--dport', '80', '-m', 'comment', '--comment', 'bench',
                                      '-j', 'REDIRECT'],
            'lvs_arp_suppress arptables': ['arptables', '-L', 'INPUT', '-n'],
        }
        jobs = [[t, p, commands[t]] for t, p in zip(TASKS, payloads)]
        sh(['podman', 'cp', os.path.join(BENCH, 'module_timer.py'), container + ':/root/module_timer.py'])
        la = loadavg()[0]
        raw = json.loads(sh(['podman', 'exec', container, 'python3', '/root/module_timer.py', str(n), json.dumps(jobs)]))
        rows = []
        for t, p in zip(TASKS, payloads):
            r = raw['rows'][t]
            rows.append({'module': t.split()[0], 'args': ' '.join(t.split()[1:]) or '(vip on lo)',
                         'command': ' '.join(commands[t]).replace(vip, '<vip>'),
                         'module_ms': {'median': median(r['module']), 'p90': percentile(r['module'], 90)},
                         'command_ms': {'median': median(r['command']), 'p90': percentile(r['command'], 90)},
                         'module_changed_runs': r['module_changed'], 'module_rcs': sorted(set(r['module_rc'])),
                         'command_rcs': sorted(set(r['command_rc'])), 'raw_module_ms': r['module'],
                         'raw_command_ms': r['command']})
        imports = []
        for t, p in zip(TASKS, payloads):
            top_, total = importtime(container, p)
            imports.append({'module': t, 'total_us': total, 'top': top_[:10]})
        fl = raw['floor']
        res = {'container': container, 'n': n, 'rows': rows, 'importtime': imports, 'loadavg1': la,
               'baseline': {'python_ms': median(fl['python']), 'python_S_ms': median(fl['python_S']),
                            'import_pyroute2_ms': median(fl['pyroute2'])}}
        res['analysis'] = analysis(res)
        return res
    finally:
        if not keep_lab:
            subprocess.run([LAB, '--name', LAB_NAME, 'down'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def analysis(res):
    b = res['baseline']
    med = [r['module_ms']['median'] for r in res['rows']]
    cmd = [r['command_ms']['median'] for r in res['rows']]
    return ('**What dominates**: a module call costs %.0f-%.0f ms against %.0f-%.0f ms for the command. '
            'The interpreter alone (`python3 -c pass`) is %.0f ms and `python3 -c "import pyroute2"` %.0f ms in '
            'the same container; the import profile above shows how much of each payload is imports '
            '(AnsiballZ extraction, `ansible.module_utils.basic`, pyroute2) rather than netlink or file work. '
            'Per converge these costs are paid once per task per host; what Ansible adds around them '
            '(connection, payload transfer, result handling: see part 1) is larger still.' % (
                min(med), max(med), min(cmd), max(cmd), b['python_ms'], b['import_pyroute2_ms']))


if __name__ == '__main__':
    from common import dump
    print(dump(run(n=int(os.environ.get('BENCH_N', '20')), keep_lab=bool(os.environ.get('BENCH_KEEP_LAB')))))
