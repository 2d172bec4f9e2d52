"""Runs inside a lab container (copied there by module_cost.py): times each AnsiballZ payload
against its equivalent command, interleaved, and the interpreter floor. Prints JSON.
argv: N, a JSON list of [name, payload_path, command_argv], and optionally --no-floor (a second
call for more rows measures the floor only once)."""
import json
import shutil
import subprocess
import sys
import time


def once(argv):
    t0 = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = (time.perf_counter() - t0) * 1000.0
    return dt, p.returncode, p.stdout.decode('utf-8', 'replace')


def changed(stdout):
    """The module result's `changed` (the whole output: a large result would not fit a tail)."""
    try:
        return bool(json.loads(stdout[stdout.index('{'):]).get('changed'))
    except ValueError:
        return False


def main():
    n = int(sys.argv[1])
    jobs = json.loads(sys.argv[2])
    floor = '--no-floor' not in sys.argv[3:]
    out = {'rows': {}}
    for name, payload, cmd in jobs:
        row = out['rows'][name] = {'module': [], 'command': [], 'module_changed': 0, 'module_rc': [], 'command_rc': []}
        for _ in range(n):
            dt, rc, so = once([sys.executable, payload])
            row['module'].append(dt)
            row['module_rc'].append(rc)
            row['module_changed'] += changed(so)
            dt, rc, _ = once(cmd)
            row['command'].append(dt)
            row['command_rc'].append(rc)
    if floor:
        out['floor'] = {'python': [], 'python_S': [], 'pyroute2': []}
        # what lvs_redirect's firewalld backend ran in every absent call before its fast path
        firewall_cmd = shutil.which('firewall-cmd')
        if firewall_cmd:
            out['floor']['firewall_cmd_state'] = []
        for _ in range(n):
            out['floor']['python'].append(once([sys.executable, '-c', 'pass'])[0])
            out['floor']['python_S'].append(once([sys.executable, '-S', '-c', 'pass'])[0])
            out['floor']['pyroute2'].append(once([sys.executable, '-c', 'import pyroute2'])[0])
            if firewall_cmd:
                out['floor']['firewall_cmd_state'].append(once([firewall_cmd, '--state'])[0])
    print(json.dumps(out))


if __name__ == '__main__':
    main()
