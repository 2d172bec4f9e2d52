"""The lab as the lab-backed test suites see it: `lab_up()` brings a lab of its own up
(lab/lab, a name and subnet of its own) and always takes it down; `Lab` reads its inventory
and runs playbooks and commands against it."""
import contextlib
import os
import subprocess

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = os.path.join(ROOT, 'lab', 'lab')


class Lab(object):
    def __init__(self, name):
        self.name = name
        self.root = ROOT
        self.inventory = os.path.join(ROOT, '.cache', 'lab', name, 'inventory.yml')
        with open(self.inventory) as f:
            top = yaml.safe_load(f)['all']
        self.vars = top['vars']
        self.hosts = {}
        for group in top['children'].values():
            self.hosts.update(group.get('hosts') or {})

    def playbook(self, playbook, *args):
        """ansible-playbook from the repository root (ansible.cfg finds lvs.dr there)."""
        return subprocess.run(['ansible-playbook', '-i', self.inventory, playbook] + list(args),
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)

    def command(self, host, *argv):
        """argv list to run on a lab host through `lab/lab exec` (podman exec or ssh)."""
        return [LAB, '--name', self.name, 'exec', host, '--'] + list(argv)

    def run(self, host, *argv):
        return subprocess.run(self.command(host, *argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, check=False)


@contextlib.contextmanager
def lab_up(name, *up_args):
    """A lab named `name` (overridable by tests through their own env var) for the block."""
    subprocess.run([LAB, '--name', name, 'up'] + list(up_args), check=True)
    try:
        yield Lab(name)
    finally:
        subprocess.run([LAB, '--name', name, 'down'], check=True)
