"""The ARP watch of the packet tests (tests/integration/test_arp_safety.py, tests/reliability):
tcpdump on the lab client's eth0 while the client asks who has the VIP, and the claims of the VIP
it saw. A claim is an ARP reply for the VIP or ARP sent with the VIP as the sender address."""
import re
import subprocess
import threading
import time


class ArpWatcher(object):
    """tcpdump of every ARP packet on the client's eth0 (epoch timestamps, link-level headers),
    and a loop asking for the VIP with broadcast arping five times a second."""

    def __init__(self, lab, seconds):
        self.lab = lab
        self.lines = []
        self.tcpdump = subprocess.Popen(
            lab.command('client', 'sh', '-c', 'echo $$ >/tmp/arpwatch.pid; exec timeout %d tcpdump -l -n -e -tt '
                        '-i eth0 arp 2>&1' % seconds),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        deadline = time.time() + 20
        while not any('listening on' in line for line in self.lines):
            if time.time() > deadline or self.tcpdump.poll() is not None:
                self._kill()
                raise AssertionError('tcpdump did not start: %s' % self.lines)
            time.sleep(0.1)
        lab.run('client', 'rm', '-f', '/tmp/arpwatch.stop')
        # arping -w takes whole seconds: one arping per request, started every 0.2 s.
        self.asker = subprocess.Popen(
            lab.command('client', 'sh', '-c', 'while [ ! -e /tmp/arpwatch.stop ]; do '
                        'arping -q -b -c 1 -w 1 -I eth0 %s & sleep 0.2; done; wait' % lab.vars['lab_vip4']),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _read(self):
        for line in self.tcpdump.stdout:
            self.lines.append(line.rstrip('\n'))

    def _kill(self):
        self.lab.run('client', 'sh', '-c', 'kill $(cat /tmp/arpwatch.pid)')
        self.tcpdump.wait(timeout=30)

    def stop(self):
        """Ends the asking, then the watch; fails if the watch had ended before (its backstop)."""
        self.lab.run('client', 'touch', '/tmp/arpwatch.stop')
        try:
            self.asker.wait(timeout=30)
            time.sleep(1.5)  # the last requests' replies
            assert self.tcpdump.poll() is None, 'tcpdump ended before the watch (its time limit?): %s' % self.lines[-5:]
        finally:
            self._kill()
            self.reader.join(timeout=30)

    def packets(self):
        """(time, sender MAC, text) of every ARP packet seen."""
        result = []
        for line in self.lines:
            words = line.split()
            if len(words) > 2 and re.match(r'^\d+\.\d+$', words[0]):
                result.append((float(words[0]), words[1].lower(), line))
        return result


def requests(packets, vip, asker=None):
    """How many ARP requests for vip (from asker, an IPv4 address, or anyone) were seen: none means the
    watch proves nothing. Broadcast arping's requests print the target MAC: who-has VIP (ff:ff:...) tell"""
    pattern = re.compile(r'Request who-has %s (\([0-9a-f:]+\) )?tell %s,'
                         % (re.escape(vip), re.escape(asker) if asker else r'\S+'))
    return sum(1 for dummy, dummy2, text in packets if pattern.search(text))


def claims(packets, vip):
    """[(sender MAC, text)] of the packets that claim vip."""
    pattern = re.compile(r'Reply %s is-at |tell %s,' % (re.escape(vip), re.escape(vip)))
    return [(mac, text) for dummy, mac, text in packets if pattern.search(text)]
