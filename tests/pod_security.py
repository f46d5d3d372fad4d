"""The Kubernetes "restricted" Pod Security Standard, as a check of one pod spec.

Kubernetes 1.20 (the test cluster's) cannot enforce it (Pod Security admission came in 1.23),
so the tests ask it of every pod the chart renders and every workspace pod the spawner makes.
The rules, from https://kubernetes.io/docs/concepts/security/pod-security-standards/
("Baseline", then "Restricted"), as they apply to the fields our pods use.
"""

from __future__ import annotations

from typing import Any

# Restricted: only these volume types.
VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SECCOMP_TYPES = {"RuntimeDefault", "Localhost"}
HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")


def violations(spec: dict[str, Any]) -> list[str]:
    """What in this pod spec (the API's camelCase JSON) the restricted standard forbids."""
    found = [f"spec.{field}" for field in HOST_NAMESPACES if spec.get(field)]
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= VOLUME_TYPES:
            found.append(f"volume {volume['name']}: {', '.join(sorted(kinds - VOLUME_TYPES))}")
    pod = spec.get("securityContext") or {}
    if pod.get("runAsUser") == 0:
        found.append("spec.securityContext.runAsUser: 0")
    for container in [*(spec.get("initContainers") or []), *spec["containers"]]:
        found += [f"{container['name']}: {problem}" for problem in _container(container, pod)]
    return found


def _container(container: dict[str, Any], pod: dict[str, Any]) -> list[str]:
    context = container.get("securityContext") or {}
    problems = []
    if context.get("privileged"):
        problems.append("privileged")
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    capabilities = context.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        problems.append("capabilities do not drop ALL")
    if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
        problems.append(f"capabilities added: {capabilities['add']}")
    if not context.get("runAsNonRoot", pod.get("runAsNonRoot")):
        problems.append("runAsNonRoot is not true")
    if context.get("runAsUser") == 0:
        problems.append("runAsUser: 0")
    seccomp = (context.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
    if seccomp not in SECCOMP_TYPES:
        problems.append(f"seccompProfile is {seccomp!r}, not RuntimeDefault or Localhost")
    if any(port.get("hostPort") for port in container.get("ports") or []):
        problems.append("hostPort")
    return problems
