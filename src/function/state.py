"""The observed state a composition reads and the desired state it writes, as plain dicts.

Crossplane sends resources as protobuf Structs, whose numbers are all doubles; `to_dict` turns whole numbers back
into ints, as Kubernetes' JSON decoding does for the unstructured objects Crossplane itself works with
(k8s.io/apimachinery/pkg/util/json: "converts float64 to int64 where possible").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import resource
from google.protobuf import struct_pb2

Object = dict[str, Any]


class Waiting(Exception):
    """A composed resource needs a value that is not known yet, typically an ARN that AWS assigns on creation."""


def _whole_numbers_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _whole_numbers_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers_as_ints(item) for item in value]
    return value


def to_dict(struct: struct_pb2.Struct) -> Object:
    return _whole_numbers_as_ints(resource.struct_to_dict(struct))


@dataclass
class Observed:
    """What Crossplane observed: the composite, and the composed resources by composition resource name."""

    composite: Object
    resources: dict[str, Object]
    connection_details: dict[str, dict[str, bytes]]

    @classmethod
    def from_request(cls, req: fnv1.RunFunctionRequest) -> Observed:
        return cls(
            composite=to_dict(req.observed.composite.resource),
            resources={name: to_dict(r.resource) for name, r in req.observed.resources.items()},
            connection_details={name: dict(r.connection_details) for name, r in req.observed.resources.items()},
        )

    @property
    def parameters(self) -> Object:
        return self.composite.get("spec", {}).get("parameters", {})

    @property
    def name(self) -> str:
        return self.composite["metadata"]["name"]

    @property
    def uid(self) -> str:
        return self.composite["metadata"]["uid"]

    def claim(self) -> tuple[str, str]:
        """(namespace, name) of the claim, from the labels Crossplane puts on a claim's composite."""
        labels = self.composite.get("metadata", {}).get("labels", {})
        namespace, name = labels.get("crossplane.io/claim-namespace"), labels.get("crossplane.io/claim-name")
        if not namespace or not name:
            raise Waiting("the composite's claim labels (crossplane.io/claim-namespace, crossplane.io/claim-name)")
        return namespace, name

    def status(self, key: str) -> str:
        """A value the composite's status carries between composed resources (an ARN); Waiting until it is there."""
        value = self.composite.get("status", {}).get(key)
        if not value:
            raise Waiting(f"status.{key}")
        return value

    def with_status(self, status: Object) -> Observed:
        """This observation with `status` filling what the composite's status lacks."""
        composite = {**self.composite, "status": {**status, **self.composite.get("status", {})}}
        return Observed(composite, self.resources, self.connection_details)

    def at_provider(self, name: str, key: str) -> Any:
        """`status.atProvider.<key>` of an observed composed resource, or None."""
        return self.resources.get(name, {}).get("status", {}).get("atProvider", {}).get(key)


@dataclass
class Desired:
    """What one composition wants: composed resources in order, composite status and connection details."""

    resources: dict[str, Object] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    connection_details: dict[str, str] = field(default_factory=dict)
    waiting: dict[str, str] = field(default_factory=dict)


def without_none(values: Object) -> Object:
    """An optional parameter that is absent leaves its field out, rather than writing null."""
    return {key: value for key, value in values.items() if value is not None}
