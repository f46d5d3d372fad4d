"""The test cluster's DNS records, kept in a hosts file that dnsmasq serves to the pods.

kube-test-cluster.sh runs no kube-proxy (a ClusterIP routes nowhere there) and no CoreDNS
(Debian has none). dnsmasq answers the pods instead, from a file this loop rewrites: each
Service's name gets the addresses of its ready endpoints, as a headless Service's does on a
real cluster, so a name leads to a pod that answers (on the pod's port, the targetPort):

    <service>.<namespace>.svc.cluster.local              every ready address
    <hostname>.<service>.<namespace>.svc.cluster.local   an address with a hostname (StatefulSets)

Standard library only: it runs before any virtualenv exists, with the admin certificates.

usage:
  kube_dns_sync.py sync --api URL --ca CA --cert CERT --key KEY --out FILE [--interval S]
      list the Endpoints of every namespace each interval (0.5 s) and replace FILE (atomically,
      only when its text changes); runs until killed
  kube_dns_sync.py query --server IP NAME
      ask the DNS server at IP for NAME's A records: print "ADDRESS TTL" lines, exit 0 when
      there is at least one (1 when there is none, 2 when nobody answers)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import ssl
import struct
import sys
import time
import urllib.request

DOMAIN = "cluster.local"


def records(endpoints: dict, domain: str = DOMAIN) -> str:
    """The hosts-file text for an EndpointsList: one "ADDRESS NAME" line per pair, sorted."""
    pairs = set()
    for item in endpoints.get("items") or []:
        meta = item["metadata"]
        service = f"{meta['name']}.{meta['namespace']}.svc.{domain}"
        for subset in item.get("subsets") or []:
            # Only `addresses`: `notReadyAddresses` are pods that would not answer yet.
            for address in subset.get("addresses") or []:
                pairs.add((address["ip"], service))
                if address.get("hostname"):
                    pairs.add((address["ip"], f"{address['hostname']}.{service}"))
    lines = [f"{ip} {name}\n" for ip, name in sorted(pairs, key=lambda p: (p[1], p[0]))]
    return "# written by kube_dns_sync.py: ready endpoints of every Service\n" + "".join(lines)


def write_if_changed(path: str, text: str) -> bool:
    try:
        with open(path) as current:
            if current.read() == text:
                return False
    except FileNotFoundError:
        pass
    # A dot name: dnsmasq's --hostsdir skips it, and reads `path` once, whole, at the rename.
    folder, name = os.path.split(path)
    partial = os.path.join(folder, f".{name}.partial")
    with open(partial, "w") as out:
        out.write(text)
    os.replace(partial, path)
    return True


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def sync(args: argparse.Namespace) -> None:
    context = ssl.create_default_context(cafile=args.ca)
    context.load_cert_chain(args.cert, args.key)
    # resourceVersion=0: served from the API server's cache, no etcd read each second.
    url = f"{args.api.rstrip('/')}/api/v1/endpoints?resourceVersion=0"
    failing = ""
    log(f"listing {url} every {args.interval:g} s into {args.out}")
    while True:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(url, context=context, timeout=5) as answer:
                text = records(json.load(answer))
        except Exception as error:  # noqa: BLE001 -- any failure: keep the last records
            if str(error) != failing:
                failing = str(error)
                log(f"cannot list the endpoints (the last records stay): {failing}")
        else:
            if failing:
                failing = ""
                log("the API server answers again")
            if write_if_changed(args.out, text):
                log(f"{text.count(chr(10)) - 1} records")
        time.sleep(max(0.0, args.interval - (time.monotonic() - started)))


def _skip_name(packet: bytes, at: int) -> int:
    while True:
        length = packet[at]
        if length == 0:
            return at + 1
        if length & 0xC0 == 0xC0:  # a compression pointer ends the name
            return at + 2
        at += 1 + length


def ask(server: str, name: str, timeout: float = 1.0) -> list[tuple[str, int]]:
    """(address, ttl) of NAME's A records from SERVER; raises OSError when nobody answers."""
    ident = random.randrange(1 << 16)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    query = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question + b"\0\0\1\0\1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(query, (server, 53))
        while True:
            packet = sock.recv(4096)
            if packet[:2] == query[:2]:
                break
    _, _, questions, answers, _, _ = struct.unpack(">HHHHHH", packet[:12])
    at = 12
    for _ in range(questions):
        at = _skip_name(packet, at) + 4
    found = []
    for _ in range(answers):
        at = _skip_name(packet, at)
        kind, _, ttl, length = struct.unpack(">HHIH", packet[at : at + 10])
        at += 10
        if kind == 1 and length == 4:
            found.append((socket.inet_ntoa(packet[at : at + 4]), ttl))
        at += length
    return found


def query(args: argparse.Namespace) -> int:
    try:
        found = ask(args.server, args.name)
    except OSError as error:
        print(f"no answer from {args.server}: {error}", file=sys.stderr)
        return 2
    for address, ttl in found:
        print(address, ttl)
    return 0 if found else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    s = verbs.add_parser("sync")
    s.add_argument("--api", required=True)
    s.add_argument("--ca", required=True)
    s.add_argument("--cert", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--interval", type=float, default=0.5)
    q = verbs.add_parser("query")
    q.add_argument("--server", required=True)
    q.add_argument("name")
    args = parser.parse_args(argv)
    if args.verb == "sync":
        sync(args)
        return 0
    return query(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
