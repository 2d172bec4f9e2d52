"""A packet test of the safety order: while a real server is given the VIP and has it taken
away again, the client keeps asking who has the VIP and records every ARP reply on the wire.
The lab has no director, so under the safe order nobody may answer at all; the negative
control (VIP without suppression) proves the watcher does see a real server that answers."""
import re
import subprocess



WATCH_SECONDS = 40


def arp_replies(lab, safe):
    vip = lab.vars['lab_vip4']
    # tcpdump -e prints the sender's MAC; arping keeps asking for the VIP five times a second.
    watcher = subprocess.Popen(
        ['lab/lab', '--name', lab.name, 'exec', 'client', '--', 'timeout', str(WATCH_SECONDS),
         'tcpdump', '-l', '-n', '-e', '-i', 'eth0', 'arp and host %s' % vip],
        cwd=lab.root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    asker = subprocess.Popen(
        ['lab/lab', '--name', lab.name, 'exec', 'client', '--', 'arping', '-q', '-i', '0.2',
         '-w', str(WATCH_SECONDS - 5), '-I', 'eth0', vip],
        cwd=lab.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        converge = lab.playbook('arp_safety.yml', '-e', 'safe=%s' % safe)
    finally:
        asker.wait(timeout=WATCH_SECONDS + 30)
        out, dummy = watcher.communicate(timeout=WATCH_SECONDS + 30)
    assert converge.returncode == 0, converge.stdout[-6000:]
    requests = re.findall(r'Request who-has %s ' % re.escape(vip), out)
    replies = re.findall(r'Reply %s is-at ([0-9a-f:]{17})' % re.escape(vip), out)
    assert requests, 'the watcher saw no ARP request for the VIP: the test would prove nothing\n' + out
    return replies


def test_safe_order_never_answers_arp_for_the_vip(lab):
    assert arp_replies(lab, safe=True) == []


def test_negative_control_unsuppressed_vip_is_answered(lab):
    rs_mac = lab.hosts['rs1']['lab_mac']
    assert rs_mac in arp_replies(lab, safe=False)
