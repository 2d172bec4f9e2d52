"""Packet tests of the safety order: while a real server is given the VIP and has it taken
away again, the client keeps asking who has the VIP and records every ARP reply on the wire.
The lab has no director, so under the safe order nobody may answer at all; each negative
control (VIP without working suppression) proves the watcher does see a real server that
answers. Two orders are tested: suppression before the VIP (arp_safety.yml), and arptables
rules brought ahead of another tool's ACCEPTs before the VIP (arp_rule_order.yml)."""
import os
import re
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# A backstop only: the client asks and watches until the playbook has returned, so every moment the
# VIP was held was watched, however slow the machine.
WATCH_LIMIT = 300
STOP = '/tmp/lvsdr-stop-asking'


def vip_claims(lab, playbook, safe):
    """MACs that claimed the VIP on the wire (ARP replies for it, or ARP sent with it as the
    sender address) while `playbook` gave the real server the VIP and took it away."""
    vip = lab.vars['lab_vip4']
    lab.run('client', 'rm', '-f', STOP)
    # tcpdump -e prints the sender's MAC first; five broadcast requests a second ask for the VIP.
    watcher = subprocess.Popen(
        lab.command('client', 'timeout', str(WATCH_LIMIT), 'tcpdump', '-l', '-n', '-e', '-i', 'eth0', 'arp'),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    asker = subprocess.Popen(
        lab.command('client', 'sh', '-c', 'end=$(($(date +%%s) + %d)); while [ ! -e %s ] && [ "$(date +%%s)" -lt '
                    '"$end" ]; do arping -q -b -c 1 -w 1 -I eth0 %s & sleep 0.2; done; wait'
                    % (WATCH_LIMIT, STOP, vip)),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        converge = lab.playbook(os.path.join(HERE, playbook), '-e', 'safe=%s' % safe)
    finally:
        lab.run('client', 'touch', STOP)
        asker.wait(timeout=30)
        time.sleep(1)  # the answers to the last requests reach the wire
        lab.run('client', 'pkill', '-INT', '-x', 'tcpdump')
        out, dummy = watcher.communicate(timeout=30)
    assert converge.returncode == 0, converge.stdout[-6000:]
    vip_re = re.escape(vip)
    assert re.search(r'Request who-has %s \(' % vip_re, out), \
        'the watcher saw no ARP request for the VIP: the test would prove nothing\n' + out
    claims = []
    for line in out.splitlines():
        if re.search(r'Reply %s is-at |tell %s,' % (vip_re, vip_re), line):
            claims.append(line.split()[1])
    return claims


def test_safe_order_never_answers_arp_for_the_vip(lab):
    assert vip_claims(lab, 'arp_safety.yml', safe=True) == []


def test_negative_control_unsuppressed_vip_is_answered(lab):
    assert lab.hosts['rs1']['lab_mac'] in vip_claims(lab, 'arp_safety.yml', safe=False)


def test_rules_moved_ahead_of_foreign_accepts_never_answer_arp_for_the_vip(lab):
    assert vip_claims(lab, 'arp_rule_order.yml', safe=True) == []


def test_negative_control_rules_behind_foreign_accepts_are_answered(lab):
    assert lab.hosts['rs1']['lab_mac'] in vip_claims(lab, 'arp_rule_order.yml', safe=False)
