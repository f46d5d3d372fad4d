"""Kubernetes objects checked offline against the Kubernetes 1.30 API schemas, strictly: an
unknown field, a wrong type or a kind 1.30 no longer serves is an error.

The virtualenv's kubernetes-validate (1.24.1, requirements-dev.txt) carries the 1.20 schemas;
no release carries both 1.20's and 1.30's (1.28.3 is the last with 1.20's, 1.30.0 the first
with 1.30's), and one virtualenv cannot hold two versions of one package. So `make setup`
installs a newer one apart, in .tools/kube-schemas (requirements-kube-schemas.txt), and this
module reads only its schema files, with the virtualenv's jsonschema and referencing, as
kubernetes-validate itself does.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[1]
KUBE_SCHEMAS = ROOT / ".tools" / "kube-schemas"
SCHEMAS = KUBE_SCHEMAS / "kubernetes_validate" / "kubernetes-json-schema"
SCHEMAS_1_30 = SCHEMAS / "v1.30.0-local-strict"


def schema_file(obj: dict[str, Any]) -> Path:
    # kubernetes-validate's file names: rbac.authorization.k8s.io/v1 -> rbac-v1, v1 -> v1.
    api_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", obj["apiVersion"])
    return SCHEMAS_1_30 / f"{obj['kind'].lower()}-{api_version}.json"


@functools.cache
def _registry() -> Registry:
    definitions = json.loads((SCHEMAS_1_30 / "_definitions.json").read_text())
    return Registry().with_resource(definitions["$id"], Resource.from_contents(definitions))


@functools.cache
def _validator(path: Path) -> jsonschema.protocols.Validator:
    schema = json.loads(path.read_text())
    return jsonschema.Draft202012Validator(schema, registry=_registry())


def kubernetes_1_30_errors(obj: dict[str, Any]) -> list[str]:
    """What the Kubernetes 1.30 API's schema refuses in obj, each as "path: message"; [] when
    it is valid. The first call reads about 4 MB of definitions (kept for the process)."""
    _registry()  # FileNotFoundError when `make setup` has not installed the schemas
    path = schema_file(obj)
    if not path.is_file():
        return [f"$: Kubernetes 1.30 serves no {obj['kind']} in {obj['apiVersion']}"]
    errors = _validator(path).iter_errors(obj)
    return sorted(f"{error.json_path}: {error.message}" for error in errors)
