"""The committed reference pages (docs/modules/) match what scripts/docs generates from the
modules' DOCUMENTATION and the roles' argument specs: edit those, then run scripts/docs."""
import filecmp
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAGES = os.path.join(ROOT, 'docs', 'modules')


def test_docs_current(tmp_path):
    env = dict(os.environ)
    # ansible-doc from the interpreter running the tests (the project's .venv under scripts/test).
    env['PATH'] = os.path.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
    env.setdefault('VENV', os.path.dirname(os.path.dirname(sys.executable)))
    result = subprocess.run([os.path.join(ROOT, 'scripts', 'docs'), '--out', str(tmp_path)],
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    generated = sorted(os.listdir(str(tmp_path)))
    committed = sorted(os.listdir(PAGES))
    assert generated == committed, 'docs/modules/ has other files than scripts/docs writes'
    match, mismatch, errors = filecmp.cmpfiles(str(tmp_path), PAGES, generated, shallow=False)
    assert not mismatch and not errors, 'out of date: %s; run scripts/docs' % ', '.join(mismatch + errors)
    assert match == generated
