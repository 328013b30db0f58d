"""The FunctionRunner Crossplane calls: read the input and the observed state, compose, answer the desired state.

One function serves both platform APIs; each Composition's input names the API it implements (`compose`) and the
settings of that API (package/input/ has its schema). Composing follows the rules every Composition relied on:

* A composed resource that needs a value not known yet (an ARN in the composite's status, see `state.Waiting`) is
  left out of the desired state until it is known, with a Normal result saying what it waits for.
* If such a resource already exists (leaving it out would delete it), it is composed with the value this reconcile
  observes on the resource that reports it; if that is gone too, the function answers Fatal, and Crossplane then
  applies nothing and deletes nothing.
* A composed resource is ready when its observed `Ready` condition is True (what function-auto-ready does).
* While any composed resource waits, the composite is not ready (READY_FALSE on the desired composite): Crossplane
  derives readiness from the desired resources only, so without it an XR whose last resources wait for an ARN would
  report Ready before they exist (crossplane/crossplane#6020; Crossplane honours the field since v1.18).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import crossplane.function.proto.v1.run_function_pb2_grpc as grpcv1
import grpc
from crossplane.function import resource, response

from function import backup, postgresql
from function.state import Desired, Object, Observed, Waiting, to_dict

INPUT_API_VERSION = "fn.platform.notejam.io/v1alpha1"
INPUT_KIND = "Input"
# Input `compose` -> the module that composes that API.
APIS: dict[str, ModuleType] = {"PostgreSQLInstance": postgresql, "DatabaseBackup": backup}


class InputError(ValueError):
    """The Composition's input is not one this function understands."""


def read_input(composition_input: Object) -> tuple[ModuleType, Object]:
    """The API module and its settings, from a Composition step's input."""
    if (composition_input.get("apiVersion"), composition_input.get("kind")) != (INPUT_API_VERSION, INPUT_KIND):
        raise InputError(
            f"input must be {INPUT_API_VERSION} {INPUT_KIND}, got "
            f"{composition_input.get('apiVersion')} {composition_input.get('kind')}"
        )
    api = composition_input.get("compose")
    if api not in APIS:
        raise InputError(f"input.compose must be one of {sorted(APIS)}, got {api!r}")
    if api == "PostgreSQLInstance":
        classes = composition_input.get("instanceClasses")
        if not isinstance(classes, Mapping) or not all(isinstance(v, str) for v in classes.values()):
            raise InputError("input.instanceClasses must map each size to an RDS instance class")
    return APIS[api], composition_input


def compose(api: ModuleType, settings: Object, observed: Observed) -> Desired:
    """Every composed resource of `api` that can be composed now, the composite's status and connection details."""
    desired = Desired()
    builders: dict[str, Callable[[Observed], Object]] = api.resources(settings, observed.parameters)
    for name, build in builders.items():
        try:
            desired.resources[name] = build(observed)
        except Waiting as missing:
            if name not in observed.resources:
                desired.waiting[name] = str(missing)
                continue
            # It exists, so leaving it out would delete it: compose it with what this reconcile observes instead.
            try:
                desired.resources[name] = build(observed.with_status(api.status(observed)))
            except Waiting as still_missing:
                raise Waiting(
                    f"{name} exists but {still_missing} is not known any more; not applying anything until it is"
                ) from missing
    desired.status = api.status(observed)
    desired.connection_details = api.connection_details(observed)
    return desired


def _is_ready(observed_resource: fnv1.Resource | None) -> bool:
    return resource.get_condition(observed_resource, "Ready").status == "True"


class FunctionRunner(grpcv1.FunctionRunnerServiceServicer):
    """Composes our platform APIs."""

    async def RunFunction(
        self, req: fnv1.RunFunctionRequest, _: grpc.aio.ServicerContext | None = None
    ) -> fnv1.RunFunctionResponse:
        rsp = response.to(req)
        composite = to_dict(req.observed.composite.resource)
        try:
            api, settings = read_input(to_dict(req.input))
            desired = compose(api, settings, Observed.from_request(req))
        except (InputError, Waiting) as error:
            response.fatal(rsp, str(error))
            return rsp
        except KeyError as missing:
            # The XRD requires and defaults what the code reads; a KeyError means the two disagree.
            response.fatal(rsp, f"cannot compose {composite.get('kind')}: {missing} is missing")
            return rsp
        for name, desired_resource in desired.resources.items():
            resource.update(rsp.desired.resources[name], desired_resource)
            if _is_ready(req.observed.resources.get(name)):
                rsp.desired.resources[name].ready = fnv1.READY_TRUE
        if desired.status:
            resource.update(rsp.desired.composite, {"status": desired.status})
        for key, value in desired.connection_details.items():
            rsp.desired.composite.connection_details[key] = value.encode()
        for name, needed in desired.waiting.items():
            response.normal(rsp, f"not composing {name} yet: it needs {needed}")
        if desired.waiting:
            rsp.desired.composite.ready = fnv1.READY_FALSE
        return rsp
