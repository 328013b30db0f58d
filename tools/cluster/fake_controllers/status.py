"""What every stand-in shares: the clock, conditions written as the real controllers write them, Events, and the
annotation that injects a failure.

A stand-in's state is a function of the object and of time since it was created (durations scaled down from the
real controllers' minutes to seconds, in the real order). It writes a status only when that state changes, keeping a
condition's `lastTransitionTime` while its status stays the same (as the controller-runtime helpers do).
"""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

from tools.cluster.kube import Kube, KubeError, Object

# How much faster than the real components the stand-ins' clocks run (durations of minutes become seconds); the HPA
# controller's periods (tools/cluster/controlplane.py) and the windows of the HPA under test
# (tests/live/test_event.py) are divided by the same.
TIME_SCALE = 10
# Any object a stand-in reconciles can be told to fail: `standin.notejam.io/fail: "<message>"`. The stand-in then
# reports the failure state its real controller reports, with this message (set it in the served copy, as a commit).
FAIL_ANNOTATION = "standin.notejam.io/fail"


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def timestamp(when: datetime.datetime | None = None) -> str:
    return (when or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def age(obj: Object) -> float:
    """Seconds since the object was created (the API server runs on this machine: one clock)."""
    return (now() - parse_time(obj["metadata"]["creationTimestamp"])).total_seconds()


def injected_failure(obj: Object) -> str | None:
    return (obj["metadata"].get("annotations") or {}).get(FAIL_ANNOTATION)


def condition(type_: str, status: str, reason: str, message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": timestamp()}


def conditions_of(obj: Object) -> dict[str, dict[str, Any]]:
    return {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}


def is_true(obj: Object, *types: str) -> bool:
    found = conditions_of(obj)
    return all((found.get(t) or {}).get("status") == "True" for t in types)


def merged(obj: Object, new: list[dict[str, str]]) -> tuple[list[dict[str, Any]], bool]:
    """The object's conditions with `new` set (other types kept), and whether anything a reader sees changed."""
    current = conditions_of(obj)
    result = dict(current)
    changed = False
    for c in new:
        old = current.get(c["type"])
        if old and all(old.get(k, "") == c[k] for k in ("status", "reason", "message")):
            continue
        changed = True
        if old and old.get("status") == c["status"]:
            c = {**c, "lastTransitionTime": old.get("lastTransitionTime", c["lastTransitionTime"])}
        result[c["type"]] = c
    return list(result.values()), changed


def log(controller: str, message: str) -> None:
    print(f"{timestamp()} fake {controller}: {message}", flush=True)


class Reporter:
    """Writes status and Events for one stand-in controller, and logs what it reported."""

    def __init__(self, kube: Kube, controller: str, component: str) -> None:
        self.kube = kube
        self.controller = controller
        self.component = component  # the Event source, as the real controller names itself

    def status(
        self, path: str, obj: Object, conditions: list[dict[str, str]], extra: Object | None = None, say: str = ""
    ) -> bool:
        """Set conditions (and other status fields) if they change; return whether they did."""
        updated, changed = merged(obj, conditions)
        extra = extra or {}
        if not changed and all((obj.get("status") or {}).get(k) == v for k, v in extra.items()):
            return False
        self.kube.merge_patch(f"{path}/status", {"status": {"conditions": updated, **extra}})
        if say:
            log(self.controller, say)
        return True

    def event(self, obj: Object, kind: str, api_version: str, type_: str, reason: str, message: str) -> None:
        """A core/v1 Event on `obj`, once per distinct message (the real controllers' recorders aggregate repeats).
        `kind` and `api_version` are given: the items of a list of a built-in kind carry neither."""
        metadata = obj["metadata"]
        namespace = metadata.get("namespace") or "default"
        digest = hashlib.sha256(f"{metadata['uid']}/{reason}/{message}".encode()).hexdigest()[:10]
        name = f"{metadata['name']}.{digest}"
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {
                "apiVersion": api_version,
                "kind": kind,
                "name": metadata["name"],
                "namespace": metadata.get("namespace", ""),
                "uid": metadata["uid"],
            },
            "type": type_,
            "reason": reason,
            "message": message,
            "source": {"component": self.component},
            "firstTimestamp": timestamp(),
            "lastTimestamp": timestamp(),
            "count": 1,
        }
        try:
            self.kube.create(f"/api/v1/namespaces/{namespace}/events", event)
        except KubeError as error:
            if error.status != 409:  # already recorded
                raise
