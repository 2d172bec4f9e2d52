# Make the working tree importable as ansible_collections.lvs.dr: scripts/bootstrap links the
# repository into .cache/collections, the same path ansible.cfg gives Ansible.
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, '.cache', 'collections')

if not os.path.isdir(os.path.join(COLLECTIONS, 'ansible_collections', 'lvs', 'dr')):
    raise RuntimeError('%s is missing: run scripts/bootstrap first.' % COLLECTIONS)
sys.path.insert(0, COLLECTIONS)
