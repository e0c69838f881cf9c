"""Where the processes a run started listen: every TCP listener and bound UDP socket, by process."""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import psutil


def exposed(processes: Iterable[psutil.Process]) -> list[str]:
    """Each socket of `processes` bound to anything but a loopback address ("pid cmd: ip:port")."""
    found = []
    for process in processes:
        try:
            sockets = process.net_connections(kind="inet")
            name = " ".join(process.cmdline())[:120]
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        for sock in sockets:
            listening = sock.status == psutil.CONN_LISTEN or (sock.type == 2 and not sock.raddr)
            if listening and not ipaddress.ip_address(sock.laddr.ip).is_loopback:
                found.append(f"{process.pid} {name}: {sock.laddr.ip}:{sock.laddr.port}")
    return found


def listening(processes: Iterable[psutil.Process]) -> int:
    """How many listening or bound sockets `processes` hold (so a check that found none exposed saw some)."""
    count = 0
    for process in processes:
        try:
            count += sum(1 for s in process.net_connections(kind="inet")
                         if s.status == psutil.CONN_LISTEN or (s.type == 2 and not s.raddr))
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return count


def started_by(root_pid: int, marker: str) -> list[psutil.Process]:
    """`root_pid`'s descendants, and the processes whose command line holds `marker` (a data directory): servers
    that daemonize (PostgreSQL under pg_ctl) are not descendants."""
    found = {p.pid: p for p in psutil.Process(root_pid).children(recursive=True)}
    for process in psutil.process_iter(["cmdline"]):
        if marker in " ".join(process.info["cmdline"] or []):
            found[process.pid] = process
    return list(found.values())
