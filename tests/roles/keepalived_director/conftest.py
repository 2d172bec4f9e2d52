"""Run the keepalived_director test playbook once per session.

Every case (cases/*.yml, bad_cases.yml, the absent cases) is a host of one generated inventory
on the local connection, so a single ansible-playbook run renders all of them through the role
(tests/roles/keepalived_director/playbook.yml); the tests read what it left in out_dir.
"""
import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
import time

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
COLLECTIONS = os.path.join(ROOT, '.cache', 'collections')
CASES_DIR = os.path.join(HERE, 'cases')
MARKER = 'Written by the lvs.dr.keepalived_director role'

# Inventory groups the bad cases refer to.
BAD_GROUPS = {
    'bad_realservers': {'rs-bad': {'ansible_host': 'rs-bad.example.com'}},
    'empty_realservers': {},
}
# name -> initial content of the configuration file before keepalived_director_state=absent.
ABSENT_CASES = {
    'absent_ours': '# %s.\nglobal_defs {\n}\n' % MARKER,
    'absent_foreign': '# hand-written\nglobal_defs {\n}\n',
}


def load_yaml(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def render_cases():
    """{case name: case data} from cases/*.yml."""
    return {
        name[:-len('.yml')]: load_yaml(os.path.join(CASES_DIR, name))
        for name in sorted(os.listdir(CASES_DIR)) if name.endswith('.yml')
    }


def bad_cases():
    return load_yaml(os.path.join(HERE, 'bad_cases.yml'))


def default_interface():
    """The interface of the default route (keepalived -t wants a real, non-loopback one)."""
    try:
        with open('/proc/net/route') as handle:
            for line in handle.readlines()[1:]:
                fields = line.split()
                if fields[1] == '00000000':
                    return fields[0]
    except OSError:
        pass
    candidates = [name for name in sorted(os.listdir('/sys/class/net')) if name != 'lo']
    return candidates[0] if candidates else None


def build_inventory(out_dir, interface):
    render_hosts, children = {}, {}
    for name, case in render_cases().items():
        children['case_%s' % name] = {'hosts': {host: None for host in case['hosts']}}
        for host, spec in case['hosts'].items():
            render_hosts[host] = spec['vars']
        for group, hosts in (case.get('groups') or {}).items():
            children.setdefault(group, {'hosts': {}})['hosts'].update(hosts)
    for group, hosts in BAD_GROUPS.items():
        children[group] = {'hosts': dict(hosts)}
    children['render_cases'] = {'hosts': render_hosts}
    children['bad_cases'] = {'hosts': {case['name']: case['vars'] for case in bad_cases()}}
    children['absent_cases'] = {'hosts': {name: None for name in ABSENT_CASES}}
    return {'all': {
        'vars': {
            'ansible_connection': 'local',
            'ansible_python_interpreter': sys.executable,
            'out_dir': out_dir,
            'test_interface': interface,
            'test_track_interface': 'lo',
            'keepalived_director_config_owner': pwd.getpwuid(os.getuid()).pw_name,
            'keepalived_director_config_group': grp.getgrgid(os.getgid()).gr_name,
        },
        'children': children,
    }}


class DirectorRun:
    def __init__(self, out_dir, interface, proc, seconds):
        self.out_dir = out_dir
        self.interface = interface
        self.returncode = proc.returncode
        self.output = proc.stdout + proc.stderr
        self.seconds = seconds

    def path(self, name):
        return os.path.join(self.out_dir, name)

    def result(self, name):
        path = self.path(name)
        if not os.path.exists(path):
            pytest.fail('%s was not written; ansible-playbook output:\n%s' % (name, self.output[-20000:]))
        with open(path) as handle:
            return json.load(handle)


def ansible_playbook():
    candidate = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    return candidate if os.path.exists(candidate) else shutil.which('ansible-playbook')


@pytest.fixture(scope='session')
def director_run(tmp_path_factory):
    if not shutil.which('keepalived'):
        pytest.skip('keepalived is not installed: the rendered files cannot be validated')
    if not ansible_playbook():
        pytest.skip('ansible-playbook not found')
    interface = default_interface()
    if not interface:
        pytest.skip('no non-loopback interface for the VRRP instances')
    out_dir = str(tmp_path_factory.mktemp('keepalived_director'))
    inventory = os.path.join(out_dir, 'inventory.yml')
    with open(inventory, 'w') as handle:
        yaml.safe_dump(build_inventory(out_dir, interface), handle, default_flow_style=False)
    for name, content in ABSENT_CASES.items():
        with open(os.path.join(out_dir, name + '.conf'), 'w') as handle:
            handle.write(content)
    env = dict(os.environ)
    env.update({
        'ANSIBLE_COLLECTIONS_PATH': COLLECTIONS,
        'ANSIBLE_FORKS': '8',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_LOCALHOST_WARNING': 'False',
        'ANSIBLE_RETRY_FILES_ENABLED': 'False',
    })
    started = time.monotonic()
    proc = subprocess.run(
        [ansible_playbook(), '-i', inventory, '-e', 'out_dir=%s' % out_dir,
         os.path.join(HERE, 'playbook.yml')],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    run = DirectorRun(out_dir, interface, proc, time.monotonic() - started)
    if run.returncode != 0:
        pytest.fail('ansible-playbook failed (rc %d):\n%s' % (run.returncode, run.output[-20000:]))
    return run
