"""Snapshots of what lvs.dr touches on a host, for before/after comparisons (removal, bad input,
concurrency). A snapshot is one shell script run on the host (`lab/lab exec`, or an Ansible
shell task: the scripts are plain strings) whose output is split into named sections; volatile
parts (rule counters, generation dates, address lifetimes) are normalised away."""
import difflib
import os
import re
import subprocess
import time

# Filters iptables-save/ip6tables-save text down to what a rule set is: rules (-A), user chains
# and non-ACCEPT policies; counters and the "# Generated ... on <date>" comments go. Empty
# built-in tables/chains, which the kernel creates on first use, vanish too.
_IPT_NORMALISE = r"""sed -E 's/ \[[0-9]+:[0-9]+\]$//' | grep -E '^-A |^:[^ ]+ (-|DROP|REJECT)' """

REALSERVER = r"""
set +e
LC_ALL=C; export LC_ALL
sec() { echo "### $1"; }
ipt() { "$@" 2>&1 | """ + _IPT_NORMALISE + r"""; }
sec addresses
ip -o addr show | sed -E 's/\\? +valid_lft .*//'
sec arp_sysctls
grep -H . /proc/sys/net/ipv4/conf/*/arp_* | sed 's|/proc/sys/net/ipv4/conf/||'
sec iptables
ipt iptables-save
sec ip6tables
ipt ip6tables-save
sec arptables
arptables -L -n 2>&1
sec firewalld
echo "active=$(systemctl is-active firewalld) enabled=$(systemctl is-enabled firewalld 2>/dev/null)"
if systemctl -q is-active firewalld && firewall-cmd --state >/dev/null 2>&1; then
  echo '# direct'; firewall-cmd --direct --get-all-rules
  echo '# direct permanent'; firewall-cmd --permanent --direct --get-all-rules
  echo '# zone'; firewall-cmd --list-all
  echo '# zone permanent'; firewall-cmd --permanent --list-all
fi
sec files
find /etc/lvs-dr /run/lvs-dr /etc/sysctl.d /etc/iptables /etc/systemd/system /etc/sysconfig/arptables \
  -printf '%p %y %m %l\n' 2>/dev/null | sort
sec file_contents
for f in $(find /etc/lvs-dr /run/lvs-dr /etc/sysctl.d/90-lvs-dr-arp.conf /etc/systemd/system/lvs-dr-*.service \
             /etc/sysconfig/arptables -type f 2>/dev/null | sort); do
  echo "# $f"; cat "$f"
done
# Files a hostile path option could name: their digests.
sha256sum /etc/fstab /etc/hosts /etc/sysctl.d/* 2>/dev/null
for f in /etc/iptables/rules.v4 /etc/iptables/rules.v6; do
  [ -f "$f" ] && { echo "# $f (rules)"; """ + _IPT_NORMALISE + r""" < "$f"; }
done
sec units
systemctl list-unit-files --no-legend 'lvs-dr*' 2>/dev/null | awk '{print $1, $2}'
exit 0
"""

DIRECTOR = r"""
set +e
LC_ALL=C; export LC_ALL
sec() { echo "### $1"; }
sec addresses
ip -o addr show | sed -E 's/\\? +valid_lft .*//'
sec keepalived_conf
if [ -e /etc/keepalived/keepalived.conf ]; then cat /etc/keepalived/keepalived.conf; else echo '(none)'; fi
sec ipvs
ipvsadm -S -n 2>&1
sec keepalived_service
echo "active=$(systemctl is-active keepalived) enabled=$(systemctl is-enabled keepalived 2>/dev/null)"
exit 0
"""

SCRIPTS = {'realserver': REALSERVER, 'director': DIRECTOR}


def parse(text):
    """{section: text} from a snapshot script's output."""
    sections, name = {}, None
    for line in text.splitlines():
        m = re.match(r'^### (\S+)$', line)
        if m:
            name = m.group(1)
            sections[name] = []
        elif name is not None:
            sections[name].append(line.rstrip())
    return {k: '\n'.join(v) for k, v in sections.items()}


def kind_of(lab, host):
    return 'director' if host.startswith('dir') else 'realserver'


def take(lab, host, kind=None):
    """Snapshot of `host` now."""
    kind = kind or kind_of(lab, host)
    for dummy in range(3):
        res = lab.run(host, 'sh', '-c', SCRIPTS[kind])
        if res.returncode == 0:
            break
    assert res.returncode == 0, res.stdout
    snap = parse(res.stdout)
    assert 'addresses' in snap, res.stdout
    return snap


def diff(before, after, names=('before', 'after')):
    """A unified diff per differing section; '' when the snapshots are equal."""
    out = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key, '(section missing)'), after.get(key, '(section missing)')
        if a != b:
            out.append('--- section %s\n' % key)
            diff = difflib.unified_diff(a.splitlines(), b.splitlines(), names[0], names[1], n=1, lineterm='')
            out.extend(line + '\n' for line in diff)
    return ''.join(out)


def assert_same(before, after, what=''):
    d = diff(before, after)
    assert not d, 'host state differs %s:\n%s' % (what, d)


# ----------------------------------------------------------------------------------- traffic
# A bounded client stream: one curl to the VIP every `interval` s, `count` times at most and
# never longer than `limit` s, or until the stop file appears on the client; each line
# "<epoch> <ok|fail> <body or curl exit code>". Client and host share the kernel's clock.
STREAM = r"""
rm -f %(stop)s; n=0; end=$(( $(date +%%s) + %(limit)d ))
while [ $n -lt %(count)d ] && [ $(date +%%s) -lt $end ] && [ ! -e %(stop)s ]; do
  n=$((n + 1)); t=$(date +%%s.%%N)
  body=$(curl -s -w '=%%{time_total}' -m %(timeout)s --connect-timeout %(timeout)s %(ports)s http://%(vip)s/ 2>/dev/null)
  rc=$?; body=$(echo $body | tr -d ' \n')
  if [ $rc -eq 0 ] && [ -n "${body%%=*}" ]; then echo "$t ok $body"; else echo "$t fail $rc"; fi
  sleep %(interval)s
done
"""


class Stream(object):
    """curl to the VIP from the client in the background: start(), then stop() -> records."""

    def __init__(self, lab, count=3000, interval=0.1, timeout=0.5, limit=600, vip=None, fresh_ports=False):
        """fresh_ports: every request from its own source port (30001, 30002, ...). A DR director
        sends a new connection that reuses the source port of one it still tracks (FIN_WAIT, 2 min)
        to that connection's real server, drained or not, under net.ipv4.vs.conn_reuse_mode 1 (the
        kernel default; keepalived_director sets 2, which reschedules such a connection); with
        fresh ports a test of scheduling does not depend on either setting."""
        self.lab = lab
        self.stopfile = '/tmp/rel-stream.stop'
        assert not fresh_ports or count < 30000
        self.script = STREAM % dict(count=count, interval=interval, timeout=timeout, limit=limit,
                                    vip=vip or lab.vars['lab_vip4'], stop=self.stopfile,
                                    ports='--local-port $((30000 + n))' if fresh_ports else '')
        self.limit = limit
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.lab.command('client', 'sh', '-c', self.script),
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return self

    def stop(self):
        """Ends the stream (stop file) and returns [(t, ok, detail)]."""
        self.lab.run('client', 'touch', self.stopfile)
        out, dummy = self.proc.communicate(timeout=self.limit + 60)
        return parse_stream(out)


def parse_stream(out):
    """[(t, ok, detail, seconds)]: detail is the answering host (ok) or curl's exit code."""
    records = []
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[1] in ('ok', 'fail'):
            detail, dummy, secs = (parts[2] if len(parts) > 2 else '').partition('=')
            records.append((float(parts[0]), parts[1] == 'ok', detail, float(secs) if secs else None))
    return records


def outages(records):
    """[(last good t or None, first good t after or None, [failed records])] for every run of failures."""
    result, last_ok, failed = [], None, []
    for record in records:
        if record[1]:
            if failed:
                result.append((last_ok, record[0], failed))
            last_ok, failed = record[0], []
        else:
            failed.append(record)
    if failed:
        result.append((last_ok, None, failed))
    return result


def wait_for(predicate, timeout, step=0.5):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def wait_until_served(lab, timeout=30):
    """True once HTTP through the IPv4 VIP answers from the client. A director converged from
    scratch holds the VIP only after VRRP's master-down interval (about 3 advert_int) and serves
    it once keepalived has set up IPVS: a proof measuring the service starts after that."""
    url = 'http://%s/' % lab.vars['lab_vip4']
    return wait_for(lambda: lab.run('client', 'curl', '-s', '-m', '1', '-o', '/dev/null', url).returncode == 0,
                    timeout)


HERE = os.path.dirname(os.path.abspath(__file__))


def save_figures(name, figures):
    """Measured figures of a proof, kept in .cache/reliability/<name>.json (docs/reliability.md
    quotes them) and printed."""
    import json
    root = os.path.dirname(os.path.dirname(HERE))
    path = os.path.join(root, '.cache', 'reliability', name + '.json')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(figures, f, indent=1, sort_keys=True)
    print('\n%s FIGURES %s' % (name, json.dumps(figures, sort_keys=True)))


# Extra vars of every converge of examples/site.yml in these tests: the lab overlay, and the
# package tasks skipped (every package is in the lab image; the tests measure the roles' effect
# on the host, not the package manager, and must not depend on a mirror).
SITE_EXTRA = ['-e', '@examples/lab.yml',
              '-e', '{"keepalived_director_manage_packages": false, "lvs_dr_realserver_install_packages": false}']


def site(lab, *args):
    """ansible-playbook examples/site.yml on the lab with SITE_EXTRA and `args`."""
    return lab.playbook(os.path.join(lab.root, 'examples', 'site.yml'), *(SITE_EXTRA + list(args)))
