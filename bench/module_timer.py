"""Runs inside a lab container (copied there by module_cost.py): times each AnsiballZ payload
against its equivalent command, interleaved, and the interpreter floor. Prints JSON.
argv: N then a JSON list of [name, payload_path, command_argv]."""
import json
import subprocess
import sys
import time


def once(argv):
    t0 = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = (time.perf_counter() - t0) * 1000.0
    return dt, p.returncode, p.stdout[-300:].decode('utf-8', 'replace')


def main():
    n = int(sys.argv[1])
    jobs = json.loads(sys.argv[2])
    out = {'rows': {}, 'floor': {'python': [], 'python_S': [], 'pyroute2': []}}
    for name, payload, cmd in jobs:
        row = out['rows'][name] = {'module': [], 'command': [], 'module_changed': 0, 'module_rc': [], 'command_rc': []}
        for _ in range(n):
            dt, rc, so = once([sys.executable, payload])
            row['module'].append(dt)
            row['module_rc'].append(rc)
            try:
                row['module_changed'] += bool(json.loads(so[so.index('{'):]).get('changed'))
            except ValueError:
                pass
            dt, rc, _ = once(cmd)
            row['command'].append(dt)
            row['command_rc'].append(rc)
    for _ in range(n):
        out['floor']['python'].append(once([sys.executable, '-c', 'pass'])[0])
        out['floor']['python_S'].append(once([sys.executable, '-S', '-c', 'pass'])[0])
        out['floor']['pyroute2'].append(once([sys.executable, '-c', 'import pyroute2'])[0])
    print(json.dumps(out))


if __name__ == '__main__':
    main()
