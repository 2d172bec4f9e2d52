"""Smoke proof of the lab: real IPVS in DR mode from a UML director to two containers.

Everything is hand-written (ip, sysctl, ipvsadm): this tests the lab, not the collection.
Runs its own lab named `smoke` (second address slot), so a developer's default lab is left
alone. Run as root:  .venv/bin/pytest -s lab/tests
"""
import json
import os
import re
import subprocess
import time

import pytest

LAB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab")
NAME = "smoke"
TIMINGS = {}


def lab(*args, check=True):
    t0 = time.time()
    res = subprocess.run([LAB, "--name", NAME, *args], capture_output=True, text=True)
    TIMINGS.setdefault(args[0], time.time() - t0)  # first call of each: up, exec, down
    if check:
        assert res.returncode == 0, res.stderr + res.stdout
    return res.stdout


def sh(host, cmd):
    """Run a shell command on a lab host; return stdout."""
    return lab("exec", host, "--", "sh", "-c", cmd)


@pytest.fixture(scope="module")
def st():
    lab("up", "--realservers", "2", "--directors", "1", "--client")
    state = json.load(open(os.path.join(os.path.dirname(LAB), "..", ".cache", "lab", NAME,
                                        "lab.json")))
    try:
        yield state
    finally:
        lab("down")
        print("\ntimings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in TIMINGS.items()))


def test_dr_service(st):
    vip4, vip6 = st["vip4"], st["vip6"]
    for rs in ("rs1", "rs2"):
        # ARP suppression first, then the VIP (a single gratuitous ARP would steal it).
        sh(rs, "sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2"
               f" && ip addr add {vip4}/32 dev lo && ip -6 addr add {vip6}/128 dev lo")
    rs = [st["hosts"][h] for h in ("rs1", "rs2")]
    vs = [f"-t {vip4}:80", f"-u {vip4}:9999", f"-t [{vip6}]:80"]
    rules = []
    for v in vs:
        rules.append(f"ipvsadm -A {v} -s rr")
        for r in rs:
            addr = f"[{r['ip6']}]" if v.startswith("-t [") else r["ip4"]
            port = v.rsplit(":", 1)[1]
            rules.append(f"ipvsadm -a {v} -r {addr}:{port} -g")
    sh("dir1", f"ip addr add {vip4}/32 dev vec0 && ip -6 addr add {vip6}/128 dev vec0 nodad"
               " && " + " && ".join(rules))

    names = [sh("client", f"curl -s -m 5 http://{vip4}/").strip() for _ in range(4)]
    assert sorted(set(names)) == ["rs1", "rs2"], names
    names6 = [sh("client", f"curl -s -m 5 -g http://[{vip6}]/").strip() for _ in range(2)]
    assert sorted(set(names6)) == ["rs1", "rs2"], names6

    udp = sh("client", "python3 -c 'import socket; s = socket.socket(socket.AF_INET, "
                       "socket.SOCK_DGRAM); s.settimeout(5); "
                       f"s.sendto(b\"q\", (\"{vip4}\", 9999)); print(s.recv(100).decode())'")
    assert udp.strip() in ("rs1", "rs2"), udp

    out = sh("client", f"arping -c 2 -w 5 -I eth0 {vip4} || true")
    macs = {m.lower() for m in re.findall(r"reply from \S+ \[([0-9A-Fa-f:]+)\]", out)}
    assert macs == {st["hosts"]["dir1"]["mac"]}, out

    stats = sh("dir1", f"ipvsadm -L -n --stats -t {vip4}:80")
    print(stats)


def test_down_leaves_nothing(st):
    lab("down")
    labels = f"label=io.lvsdr.lab={NAME}"
    assert subprocess.run(["podman", "ps", "-aq", "--filter", labels],
                          capture_output=True, text=True).stdout.strip() == ""
    assert subprocess.run(["podman", "network", "ls", "-q", "--filter", labels],
                          capture_output=True, text=True).stdout.strip() == ""
    links = json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True,
                                      text=True).stdout)
    assert not [ln for ln in links if ln.get("ifalias") == f"io.lvsdr.lab={NAME}"]
    procs = subprocess.run(["pgrep", "-f", f"uml_dir=.*/.cache/lab/{NAME}/uml"],
                           capture_output=True, text=True).stdout.split()
    assert procs == []
    assert f"/.cache/lab/{NAME}/" not in open("/proc/mounts").read()
    assert not os.path.exists(f"/sys/class/net/{st['bridge']}"), "bridge left behind"
