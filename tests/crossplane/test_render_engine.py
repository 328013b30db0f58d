"""tools.patch_and_transform evaluates the P&T semantics our compositions rely on, and refuses the rest."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tools.patch_and_transform.composite import PlatformAPI
from tools.patch_and_transform.errors import RenderError
from tools.patch_and_transform.fieldpath import FieldNotFound, get_value, parse_field_path, set_value
from tools.patch_and_transform.gofmt import go_sprintf
from tools.patch_and_transform.pipeline import render
from tools.patch_and_transform.transforms import apply_transforms

CLAIM = {
    "apiVersion": "test.notejam.io/v1alpha1",
    "kind": "Thing",
    "metadata": {"name": "thing", "namespace": "team-a"},
    "spec": {"parameters": {"size": "small", "count": 3, "enabled": True}},
}


def api(resources: list[dict[str, Any]], patch_sets: list | None = None, **spec: Any) -> dict[str, PlatformAPI]:
    """A one-kind platform API whose composition has the given P&T resources."""
    definition = {
        "spec": {
            "group": "test.notejam.io",
            "names": {"kind": "XThing", "plural": "xthings"},
            "claimNames": {"kind": "Thing", "plural": "things"},
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "parameters": {
                                            "type": "object",
                                            "properties": {
                                                "size": {"type": "string", "enum": ["small", "large"]},
                                                "count": {"type": "integer", "default": 1},
                                                "enabled": {"type": "boolean"},
                                                "tier": {"type": "string", "default": "gold"},
                                            },
                                        }
                                    },
                                },
                                "status": {"type": "object", "properties": {"sourceArn": {"type": "string"}}},
                            },
                        }
                    },
                }
            ],
            **spec,
        }
    }
    composition = {
        "metadata": {"name": "xthings.test"},
        "spec": {
            "mode": "Pipeline",
            "pipeline": [
                {
                    "step": "pt",
                    "functionRef": {"name": "function-patch-and-transform"},
                    "input": {
                        "apiVersion": "pt.fn.crossplane.io/v1beta1",
                        "kind": "Resources",
                        "patchSets": patch_sets or [],
                        "resources": resources,
                    },
                },
                {"step": "ready", "functionRef": {"name": "function-auto-ready"}},
            ],
        },
    }
    return {"Thing": PlatformAPI(definition, composition)}


def resource(name: str = "r", patches: list | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "base": {"apiVersion": "x.aws.upbound.io/v1beta1", "kind": "X", "spec": {}},
        "patches": patches or [],
        **extra,
    }


def from_composite(from_path: str, to_path: str | None = None, **extra: Any) -> dict[str, Any]:
    patch = {"type": "FromCompositeFieldPath", "fromFieldPath": from_path, **extra}
    if to_path:
        patch["toFieldPath"] = to_path
    return patch


def rendered_spec(resources, claim=CLAIM, **kwargs):
    return render(claim, apis=api(resources, **kwargs)).resources[0]["spec"]


# --- field paths -----------------------------------------------------------------------------------------------


def test_field_paths_split_on_dots_and_brackets():
    assert parse_field_path("metadata.labels[crossplane.io/claim-name]") == [
        "metadata",
        "labels",
        "crossplane.io/claim-name",
    ]
    assert parse_field_path("spec.rule[0].expiration[1].days") == ["spec", "rule", 0, "expiration", 1, "days"]


@pytest.mark.parametrize("path", ["spec..x", "spec.items[*].x", "spec[", "spec[]", ""])
def test_bad_or_unsupported_field_paths_are_errors(path):
    with pytest.raises(RenderError):
        parse_field_path(path)


def test_missing_paths_are_not_found_and_wrong_shapes_cannot_be_set():
    obj = {"spec": {"items": ["a"], "name": "x"}}
    assert get_value(obj, "spec.items[0]") == "a"
    for path in ("spec.items[1]", "spec.missing", "spec.name.first"):
        with pytest.raises(FieldNotFound):
            get_value(obj, path)
    with pytest.raises(RenderError, match="indexes a non-array"):
        set_value(obj, "spec.name[0]", "y")
    with pytest.raises(RenderError, match="is a field of a non-object"):
        set_value(obj, "spec.items.first", "y")


def test_set_value_creates_objects_and_grows_arrays():
    target: dict[str, Any] = {}
    set_value(target, "spec.rule[1].days", 5)
    assert target == {"spec": {"rule": [None, {"days": 5}]}}
    assert get_value(target, "spec.rule[1].days") == 5


# --- Go formatting ---------------------------------------------------------------------------------------------


def test_go_sprintf_verbs_and_explicit_indexes():
    assert go_sprintf("%s-%s", ["a", "b"]) == "a-b"
    assert go_sprintf("%[2]s/%[1]s/%[2]s", ["a", "b"]) == "b/a/b"
    assert go_sprintf("%d%% %v %v", [5, True, 2.0]) == "5% true 2"


@pytest.mark.parametrize(("fmt", "args"), [("%s", [5]), ("%d", ["5"]), ("%s", ["a", "b"]), ("%s-%s", ["a"])])
def test_go_sprintf_refuses_what_go_would_print_as_garbage(fmt, args):
    with pytest.raises(RenderError):
        go_sprintf(fmt, args)


# --- transforms ------------------------------------------------------------------------------------------------


def test_map_transform_needs_a_string_key_that_exists():
    transform = [{"type": "map", "map": {"small": "db.t4g.micro", "true": False}}]
    assert apply_transforms(transform, "small") == "db.t4g.micro"
    assert apply_transforms(transform, "true") is False
    with pytest.raises(RenderError, match="key big is not found in map"):
        apply_transforms(transform, "big")
    with pytest.raises(RenderError, match="type bool is not supported for map transform"):
        apply_transforms(transform, True)


def test_convert_transform_between_go_types():
    def convert(to_type, value):
        return apply_transforms([{"type": "convert", "convert": {"toType": to_type}}], value)

    assert convert("string", True) == "true"
    assert convert("string", 7) == "7"
    assert convert("int64", "42") == 42
    assert convert("bool", "false") is False
    assert convert("float64", 2) == 2.0
    assert convert("int", 2.9) == 2
    assert convert("int64", True) == 1
    assert convert("bool", 1) is True
    assert convert("string", 2.0) == "2"
    # strconv.FormatFloat(f, 'f', -1, 64): never an exponent.
    assert convert("string", 1e-7) == "0.0000001"
    assert convert("string", 1.5) == "1.5"
    assert convert("bool", 1.0) is True
    assert convert("string", "same") == "same"
    assert apply_transforms([{"type": "convert", "convert": {"toType": "string", "format": "none"}}], 3) == "3"
    with pytest.raises(RenderError, match="cannot convert 'x' to int64"):
        convert("int", "x")
    with pytest.raises(RenderError, match="conversion from string to object is not supported"):
        convert("object", "x")


def test_string_transforms():
    def string(config, value):
        return apply_transforms([{"type": "string", "string": config}], value)

    assert string({"type": "Format", "fmt": "%s-master"}, "db") == "db-master"
    assert string({"type": "Convert", "convert": "ToUpper"}, "db") == "DB"
    assert string({"type": "Convert", "convert": "ToLower"}, True) == "true"
    assert string({"type": "Convert", "convert": "ToBase64"}, "db") == "ZGI="
    assert string({"type": "Convert", "convert": "ToJson"}, {"b": 1, "a": [True]}) == '{"a":[true],"b":1}'
    # Go's encoding/json keeps UTF-8 and escapes HTML characters.
    assert string({"type": "Convert", "convert": "ToJson"}, "é<&>") == '"é\\u003c\\u0026\\u003e"'
    assert string({"type": "Join", "join": {"separator": ","}}, ["a", 1]) == "a,1"
    with pytest.raises(RenderError, match="only separators of at most one character"):
        string({"type": "Join", "join": {"separator": ", "}}, ["a", "b"])
    # The input schema's `default: Format` is never applied to function input: P&T rejects a missing type.
    with pytest.raises(RenderError, match="string transform type is required"):
        string({"fmt": "%s"}, "db")
    with pytest.raises(RenderError, match="'Regexp' is not supported"):
        string({"type": "Regexp", "regexp": {"match": "x"}}, "x")


def test_math_transforms():
    def math(config, value):
        return apply_transforms([{"type": "math", "math": config}], value)

    assert math({"type": "Multiply", "multiply": 1024}, 20) == 20480
    assert math({"type": "ClampMin", "clampMin": 7}, 3) == 7
    assert math({"type": "ClampMax", "clampMax": 35}, 40) == 35
    assert math({"type": "ClampMax", "clampMax": 35}, 14) == 14
    with pytest.raises(RenderError, match="required to be a number"):
        math({"type": "Multiply", "multiply": 2}, "3")
    with pytest.raises(RenderError, match="math transform type is required"):
        math({"multiply": 2}, 3)


def test_transform_without_configuration_is_an_error():
    with pytest.raises(RenderError, match="requires configuration"):
        apply_transforms([{"type": "map"}], "a")


# --- patches ---------------------------------------------------------------------------------------------------


def test_to_field_path_defaults_to_from_field_path_and_defaults_apply():
    spec = rendered_spec(
        [
            resource(
                patches=[
                    from_composite("spec.parameters.tier"),
                    from_composite("spec.parameters.count", "spec.forProvider.count"),
                ]
            )
        ]
    )
    assert spec == {"parameters": {"tier": "gold"}, "forProvider": {"count": 3}}


def test_optional_patch_from_a_missing_field_is_skipped():
    spec = rendered_spec([resource(patches=[from_composite("spec.parameters.absent", "spec.forProvider.x")])])
    assert spec == {}


def test_required_patch_from_a_missing_field_keeps_the_resource_out():
    rendering = render(
        CLAIM,
        apis=api(
            [
                resource("kept"),
                resource(
                    "waiting",
                    [from_composite("status.arn", "spec.forProvider.arn", policy={"fromFieldPath": "Required"})],
                ),
            ]
        ),
    )
    assert [r["metadata"]["annotations"]["crossplane.io/composition-resource-name"] for r in rendering.resources] == [
        "kept"
    ]
    assert "'waiting'" in rendering.warnings[0]


def test_required_patch_on_an_existing_resource_is_skipped_and_the_resource_kept():
    # P&T (fn.go): a resource that exists is never dropped from the desired state, which would delete it.
    patches = [
        from_composite("spec.parameters.size", "spec.forProvider.size"),
        from_composite("status.arn", "spec.forProvider.arn", policy={"fromFieldPath": "Required"}),
        from_composite("spec.parameters.count", "spec.forProvider.count"),
    ]
    apis = api([resource("existing", patches)])
    observed = {
        "apiVersion": "x.aws.upbound.io/v1beta1",
        "kind": "X",
        "metadata": {"name": "existing-1", "annotations": {"crossplane.io/composition-resource-name": "existing"}},
    }
    rendering = render(CLAIM, [observed], apis=apis)
    [kept] = rendering.resources
    assert kept["metadata"]["name"] == "existing-1"
    assert kept["spec"]["forProvider"] == {"size": "small", "count": 3}
    assert "ignoring 'policy.fromFieldPath: Required'" in rendering.warnings[0]


def test_patch_errors_other_than_a_missing_source_are_fatal():
    bad_map = from_composite(
        "spec.parameters.size", "spec.forProvider.size", transforms=[{"type": "map", "map": {"large": "x"}}]
    )
    with pytest.raises(RenderError, match=r"resource 'r' FromCompositeFieldPath patch at index 0: .*key small"):
        render(CLAIM, apis=api([resource(patches=[bad_map])]))


def test_combine_from_composite_and_patch_sets():
    combine = {
        "type": "CombineFromComposite",
        "toFieldPath": "metadata.annotations[crossplane.io/external-name]",
        "combine": {
            "strategy": "string",
            "string": {"fmt": "%s-%s"},
            "variables": [
                {"fromFieldPath": "metadata.labels[crossplane.io/claim-namespace]"},
                {"fromFieldPath": "metadata.labels[crossplane.io/claim-name]"},
            ],
        },
    }
    rendering = render(
        CLAIM,
        apis=api(
            [resource(patches=[{"type": "PatchSet", "patchSetName": "names"}])],
            patch_sets=[{"name": "names", "patches": [combine]}],
        ),
    )
    assert rendering.resources[0]["metadata"]["annotations"]["crossplane.io/external-name"] == "team-a-thing"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"type": "FromEnvironmentFieldPath", "fromFieldPath": "a"}, "'FromEnvironmentFieldPath' is not supported"),
        ({"type": "PatchSet", "patchSetName": "nope"}, "cannot find PatchSet by name nope"),
        ({"type": "FromCompositeFieldPath"}, "fromFieldPath is required"),
        (from_composite("a", policy={"toFieldPath": "MergeObjects"}), "'MergeObjects' is not supported"),
        (from_composite("a", policy={"fromFieldPath": "Sometimes"}), "invalid fromFieldPath policy"),
        (
            {"type": "CombineFromComposite", "combine": {"variables": [{"fromFieldPath": "a"}]}},
            "toFieldPath is required",
        ),
    ],
)
def test_unsupported_or_invalid_patches_are_errors(patch, message):
    with pytest.raises(RenderError, match=message):
        render(CLAIM, apis=api([resource(patches=[patch])]))


def test_nested_patch_set_is_an_error():
    with pytest.raises(RenderError, match="cannot be of type PatchSet"):
        render(
            CLAIM,
            apis=api(
                [resource(patches=[{"type": "PatchSet", "patchSetName": "outer"}])],
                patch_sets=[{"name": "outer", "patches": [{"type": "PatchSet", "patchSetName": "x"}]}],
            ),
        )


def test_to_composite_patch_carries_an_observed_value_to_another_resource():
    resources = [
        resource(
            "source",
            [
                {
                    "type": "ToCompositeFieldPath",
                    "fromFieldPath": "status.atProvider.arn",
                    "toFieldPath": "status.sourceArn",
                }
            ],
        ),
        resource(
            "sink", [from_composite("status.sourceArn", "spec.forProvider.arn", policy={"fromFieldPath": "Required"})]
        ),
    ]
    apis = api(resources)
    first = render(CLAIM, apis=apis)
    observed = copy.deepcopy(first.resources[0])
    observed["metadata"]["name"] = "thing-abc-source"
    observed["status"] = {"atProvider": {"arn": "arn:aws:x:::source"}}
    second = render(CLAIM, [observed], apis=apis)
    assert second.composite["status"] == {"sourceArn": "arn:aws:x:::source"}
    assert second.resources[1]["spec"]["forProvider"]["arn"] == "arn:aws:x:::source"
    assert second.resources[0]["metadata"]["name"] == "thing-abc-source"
    assert "generateName" not in second.resources[0]["metadata"]


def test_status_the_xrd_does_not_declare_is_pruned_and_reaches_nobody():
    # The API server prunes unknown fields of the composite's structural schema, so a ToComposite patch to an
    # undeclared status field never feeds another resource.
    resources = [
        resource(
            "source",
            [{"type": "ToCompositeFieldPath", "fromFieldPath": "status.atProvider.arn", "toFieldPath": "status.arn"}],
        ),
        resource("sink", [from_composite("status.arn", "spec.forProvider.arn", policy={"fromFieldPath": "Required"})]),
    ]
    apis = api(resources)
    observed = copy.deepcopy(render(CLAIM, apis=apis).resources[0])
    observed["metadata"]["name"] = "source-1"
    observed["status"] = {"atProvider": {"arn": "arn:aws:x:::source"}}
    rendering = render(CLAIM, [observed], apis=apis)
    assert "status" not in rendering.composite
    assert [r["metadata"]["annotations"]["crossplane.io/composition-resource-name"] for r in rendering.resources] == [
        "source"
    ]
    assert any("status.arn is not in the XRD's schema" in warning for warning in rendering.warnings)


# --- composite, metadata, connection details -------------------------------------------------------------------


def test_composed_resources_carry_crossplane_metadata():
    rendering = render(CLAIM, apis=api([resource("bucket")]))
    composite = rendering.composite
    assert composite["metadata"]["name"].startswith("thing-")
    # claim-name/namespace from the claim controller; composite (its own name) from the composite reconciler.
    assert composite["metadata"]["labels"] == {
        "crossplane.io/claim-name": "thing",
        "crossplane.io/claim-namespace": "team-a",
        "crossplane.io/composite": composite["metadata"]["name"],
    }
    metadata = rendering.resources[0]["metadata"]
    assert metadata["generateName"] == f"{composite['metadata']['name']}-"
    assert metadata["annotations"] == {"crossplane.io/composition-resource-name": "bucket"}
    assert metadata["labels"] == {
        "crossplane.io/composite": composite["metadata"]["name"],
        "crossplane.io/claim-name": "thing",
        "crossplane.io/claim-namespace": "team-a",
    }
    [owner] = metadata["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("XThing", composite["metadata"]["name"], True)


def test_claim_labels_and_annotations_reach_the_composite_except_kubernetes_io_ones():
    claim = copy.deepcopy(CLAIM)
    claim["metadata"]["labels"] = {"team": "a", "app.kubernetes.io/component": "database"}
    claim["metadata"]["annotations"] = {
        "argocd.argoproj.io/sync-wave": "-1",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
        "example.k8s.io/x": "y",
    }
    patch = from_composite("metadata.labels[team]", "spec.forProvider.team")
    rendering = render(claim, apis=api([resource(patches=[patch])]))
    metadata = rendering.composite["metadata"]
    assert metadata["labels"]["team"] == "a"
    assert "app.kubernetes.io/component" not in metadata["labels"]
    assert metadata["annotations"] == {"argocd.argoproj.io/sync-wave": "-1"}
    assert rendering.resources[0]["spec"]["forProvider"]["team"] == "a"
    # Composed resources get only Crossplane's own labels, not the claim's.
    assert "team" not in rendering.resources[0]["metadata"]["labels"]


def test_template_name_or_generate_name_is_kept():
    named = resource("named")
    named["base"]["metadata"] = {"name": "fixed-name"}
    prefixed = resource("prefixed")
    prefixed["base"]["metadata"] = {"generateName": "custom-"}
    resources = render(CLAIM, apis=api([named, prefixed])).resources
    assert resources[0]["metadata"]["name"] == "fixed-name"
    assert "generateName" not in resources[0]["metadata"]
    assert resources[1]["metadata"]["generateName"] == "custom-"


def test_composite_names_are_reproducible_and_differ_per_claim():
    other = copy.deepcopy(CLAIM)
    other["metadata"]["namespace"] = "team-b"
    apis = api([resource()])
    names = {render(claim, apis=apis).composite["metadata"]["name"] for claim in (CLAIM, CLAIM, other)}
    assert len(names) == 2


def test_connection_details_from_observed_resources_filtered_by_the_xrd():
    details = [
        {"name": "host", "type": "FromFieldPath", "fromFieldPath": "status.atProvider.address"},
        {"name": "port", "type": "FromFieldPath", "fromFieldPath": "status.atProvider.port"},
        {"name": "password", "type": "FromConnectionSecretKey", "fromConnectionSecretKey": "attribute.password"},
        {"name": "missing", "type": "FromConnectionSecretKey", "fromConnectionSecretKey": "nope"},
        {"name": "database", "type": "FromValue", "value": "notejam"},
        {"name": "secretive", "type": "FromValue", "value": "not published"},
    ]
    apis = api(
        [resource("db", connectionDetails=details)],
        connectionSecretKeys=["host", "port", "password", "missing", "database"],
    )
    assert render(CLAIM, apis=apis).connection_details == {}  # nothing observed yet
    observed = {
        "apiVersion": "x/v1",
        "kind": "X",
        "metadata": {"name": "db-1", "annotations": {"crossplane.io/composition-resource-name": "db"}},
        "status": {"atProvider": {"address": "db.example", "port": 5432}},
    }
    rendering = render(CLAIM, [observed], {"db": {"attribute.password": "pw"}}, apis=apis)
    assert rendering.connection_details == {
        "host": "db.example",
        "port": "5432",
        "password": "pw",
        "database": "notejam",
    }


def test_empty_connection_secret_keys_publish_every_key():
    # XRD connectionSecretKeys: "If the list is empty, all keys will be published."
    details = [{"name": "a", "type": "FromValue", "value": "1"}, {"name": "b", "type": "FromValue", "value": "2"}]
    apis = api([resource("db", connectionDetails=details)], connectionSecretKeys=[])
    observed = {"metadata": {"name": "db-1", "annotations": {"crossplane.io/composition-resource-name": "db"}}}
    assert render(CLAIM, [observed], apis=apis).connection_details == {"a": "1", "b": "2"}


def test_connection_detail_without_its_source_field_is_an_error():
    apis = api([resource("db", connectionDetails=[{"name": "x", "type": "FromValue"}])])
    observed = {"metadata": {"name": "db-1", "annotations": {"crossplane.io/composition-resource-name": "db"}}}
    with pytest.raises(RenderError, match="connection detail 'x' of type FromValue needs value"):
        render(CLAIM, [observed], apis=apis)


def test_unsupported_connection_detail_type_is_an_error():
    apis = api([resource("db", connectionDetails=[{"name": "x", "type": "FromEnvironment"}])])
    observed = {"metadata": {"name": "db", "annotations": {"crossplane.io/composition-resource-name": "db"}}}
    with pytest.raises(RenderError, match="connection detail type 'FromEnvironment' is not supported"):
        render(CLAIM, [observed], apis=apis)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"spec": {"parameters": {"size": "huge"}}}, r"spec\.parameters\.size: 'huge' is not one of"),
        ({"apiVersion": "other.io/v1alpha1"}, "is not in group test.notejam.io"),
        ({"apiVersion": "test.notejam.io/v9"}, "version v9 is not served"),
        ({"kind": "Gadget"}, "no platform API offers claim kind 'Gadget'"),
        ({"metadata": {"name": "thing"}}, "needs metadata.name and metadata.namespace"),
    ],
)
def test_invalid_claims_are_refused_clearly(change, message):
    with pytest.raises(RenderError, match=message):
        render({**CLAIM, **change}, apis=api([resource()]))


def test_observed_resource_without_its_composition_name_is_an_error():
    with pytest.raises(RenderError, match=r"lacks annotation crossplane\.io/composition-resource-name"):
        render(CLAIM, [{"kind": "X", "metadata": {"name": "x"}}], apis=api([resource()]))


def test_unknown_function_mode_or_input_is_an_error():
    apis = api([resource()])
    composition = apis["Thing"].composition
    composition["spec"]["pipeline"][1]["functionRef"]["name"] = "function-go-templating"
    with pytest.raises(RenderError, match="'function-go-templating' is not supported"):
        render(CLAIM, apis=apis)
    composition["spec"]["pipeline"][0]["input"]["kind"] = "GoTemplate"
    with pytest.raises(RenderError, match=r"pipeline input must be pt\.fn\.crossplane\.io/v1beta1 Resources"):
        render(CLAIM, apis=apis)
    composition["spec"]["mode"] = "Resources"
    with pytest.raises(RenderError, match="only mode Pipeline"):
        render(CLAIM, apis=apis)


def test_resource_templates_need_unique_names_and_a_base():
    with pytest.raises(RenderError, match="needs a name"):
        render(CLAIM, apis=api([{"base": {}}]))
    with pytest.raises(RenderError, match="used twice"):
        render(CLAIM, apis=api([resource("a"), resource("a")]))
    with pytest.raises(RenderError, match="has no base template"):
        render(CLAIM, apis=api([{"name": "a"}]))
