"""The method chooser (docs/methods.md) quotes the data-plane figures of docs/performance.md, which
bench/run regenerates: the quoted row must match the generated table (requests/s, p50, p99)."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METHODS = ('sysctl', 'arptables', 'iptables', 'firewalld')


def read(name):
    with open(os.path.join(ROOT, 'docs', name)) as f:
        return f.read()


def test_method_chooser_quotes_the_measured_data_plane():
    section = read('performance.md').split('## 3. Data plane per method', 1)[1]
    measured = {}
    for method in METHODS:
        cells = re.search(r'^\| %s \|(.*)\|$' % method, section, re.M).group(1).split('|')
        rps, p50, p99 = int(cells[2]), float(cells[3]), float(cells[5])
        measured[method] = '{0:,}; {1:.2f} / {2:.1f} ms'.format(rps, p50, p99)
    row = re.search(r'^\| measured in the lab .*$', read('methods.md'), re.M).group(0)
    quoted = [cell.strip() for cell in row.strip('|').split('|')[1:]]
    assert quoted == [measured[m] for m in METHODS], 'update docs/methods.md from docs/performance.md'
