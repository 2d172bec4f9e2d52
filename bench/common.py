"""Shared helpers of bench/: paths, the Ansible tools, machine description, timing."""
import json
import os
import platform
import shutil
import subprocess
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
LAB = os.path.join(ROOT, 'lab', 'lab')
# The project's venv (scripts/bootstrap creates it from requirements-dev.txt); overridable.
VENV_BIN = os.environ.get('BENCH_ANSIBLE_BIN', os.path.join(ROOT, '.venv', 'bin'))


def tool(name):
    path = os.path.join(VENV_BIN, name)
    return path if os.path.exists(path) else shutil.which(name)


def ansible_env(**extra):
    env = dict(os.environ)
    env['PATH'] = VENV_BIN + os.pathsep + env.get('PATH', '')
    env.setdefault('ANSIBLE_HOST_KEY_CHECKING', 'False')
    env['ANSIBLE_RETRY_FILES_ENABLED'] = 'False'
    env.update({k: str(v) for k, v in extra.items()})
    return env


def loadavg():
    with open('/proc/loadavg') as f:
        return [float(x) for x in f.read().split()[:3]]


def machine():
    model = ''
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                model = line.split(':', 1)[1].strip()
                break
    try:
        ansible_version = subprocess.run([tool('ansible'), '--version'], capture_output=True, text=True,
                                         env=ansible_env()).stdout.splitlines()[0]
    except Exception:  # pragma: no cover - informative only
        ansible_version = '?'
    git = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no', '--', 'roles', 'plugins', 'bench'],
                           cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {'nproc': os.cpu_count(), 'cpu_model': model, 'kernel': platform.release(),
            'director': 'user-mode-linux (Debian linux.uml 6.1) guest with real IPVS',
            'python': platform.python_version(), 'ansible': ansible_version,
            'git': git + (' (roles/, plugins/ or bench/ with uncommitted changes)' if dirty else ''),
            'loadavg_start': loadavg()}


def timed(argv, **kw):
    """(seconds, CompletedProcess) of one command, output captured."""
    t0 = time.monotonic()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    return time.monotonic() - t0, proc


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def median(values):
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2.0


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True)
