"""The bump rule and the registration record, without git."""

from __future__ import annotations

import pytest
from conftest import DIGEST_A, META, REPOSITORY, meta, tiny_onnx

from gitops_ml.errors import UserError
from gitops_ml.registry import record, versioning
from gitops_ml.registry.state import Registry
from gitops_ml.registry.tags import parse


def fp(meta_=META, weight=1.0):
    return record.fingerprint(meta_, tiny_onnx(weight))


def registered(*versions: tuple[str, record.Fingerprint | None]) -> Registry:
    events = []
    for i, (version, fingerprint) in enumerate(versions):
        message = "" if fingerprint is None else record.Record(
            "model", version, "minor", "test", fingerprint).message()
        events.append(parse(f"model@{version}", commit=f"{i:040d}", created=i, message=message))
    return Registry("model", events)


def test_decide_bump_feature_schema_change_is_major():
    renamed = meta(features=[{**META["features"][0], "name": "months"}, META["features"][1]])
    assert versioning.decide_bump(fp(), fp(renamed))[0] == "major"


def test_decide_bump_new_category_is_major():
    plan = {**META["features"][1], "categories": ["basic", "pro", "team"]}
    assert versioning.decide_bump(fp(), fp(meta(features=[META["features"][0], plan])))[0] \
        == "major"


def test_decide_bump_retrain_is_minor():
    assert versioning.decide_bump(fp(), fp(weight=2.0)) == ("minor",
                                                            "retrained: model.onnx changed")


def test_decide_bump_new_numeric_range_is_not_a_schema_change():
    tenure = {**META["features"][0], "max": 96.0}
    changed = meta(features=[tenure, META["features"][1]])
    assert versioning.decide_bump(fp(), fp(changed, weight=2.0))[0] == "minor"


def test_decide_bump_metadata_only_is_patch():
    assert versioning.decide_bump(fp(), fp(meta(metrics={"accuracy": 0.91})))[0] == "patch"


def test_decide_bump_commit_and_version_fields_change_nothing():
    assert versioning.decide_bump(fp(), fp(meta(git_commit="e" * 40, version="v9.9.9"))) \
        == (None, "model unchanged")


def test_onnx_sha256_ignores_graph_name_and_opset_order():
    import onnx

    a = onnx.load_model_from_string(tiny_onnx(1.0, graph_name="b789910c"))
    a.opset_import.add(domain="ai.onnx.ml", version=1)
    b = onnx.load_model_from_string(tiny_onnx(1.0, graph_name="62adb485"))
    extra = list(b.opset_import)
    del b.opset_import[:]
    b.opset_import.add(domain="ai.onnx.ml", version=1)
    b.opset_import.extend(extra)
    assert a.SerializeToString() != b.SerializeToString()
    assert record.onnx_sha256(a.SerializeToString()) == record.onnx_sha256(b.SerializeToString())


def test_onnx_sha256_rejects_bytes_that_are_not_onnx():
    with pytest.raises(UserError, match="model.onnx: not an ONNX model"):
        record.onnx_sha256(b"\xff\x00 not a model")


@pytest.mark.parametrize(("latest", "bump", "expected"), [
    (None, "initial", "v1.0.0"), ((1, 2, 3), "major", "v2.0.0"),
    ((1, 2, 3), "minor", "v1.3.0"), ((1, 2, 3), "patch", "v1.2.4"),
])
def test_next_version_bumps_the_right_part(latest, bump, expected):
    assert versioning.next_version(latest, bump) == expected


def test_plan_first_model_is_v1_0_0():
    assert versioning.plan(registered(), fp()).version == "v1.0.0"


def test_plan_compares_with_the_highest_version():
    reg = registered(("v1.0.0", fp(weight=1.0)), ("v1.1.0", fp(weight=2.0)))
    plan = versioning.plan(reg, fp(weight=2.0))
    assert (plan.version, plan.bump, plan.previous.name) == ("v1.1.0", None, "v1.1.0")


def test_plan_without_a_previous_record_assumes_a_retrain():
    plan = versioning.plan(registered(("v1.0.0", None)), fp())
    assert (plan.version, plan.bump) == ("v1.1.0", "minor")


def test_plan_bump_override_wins_over_the_rule():
    plan = versioning.plan(registered(("v1.0.0", fp())), fp(), bump="patch")
    assert (plan.version, plan.bump) == ("v1.0.1", "patch")


def test_record_message_round_trips():
    rec = record.Record("model", "v1.2.0", "minor", "retrained", fp(),
                        record.image_ref(REPOSITORY, DIGEST_A), {"accuracy": 0.9})
    assert rec.message().startswith("Register model v1.2.0 (minor: retrained)\n")
    assert record.Record.from_message(rec.message()) == rec


def test_record_from_plain_gto_message_is_none():
    assert record.Record.from_message("Registering artifact model version v1.0.0") is None


@pytest.mark.parametrize(("repository", "digest", "flag"), [
    ("ghcr.io/Acme/churn", DIGEST_A, "--image"),
    ("ghcr.io/acme/churn:v1", DIGEST_A, "--image"),
    (REPOSITORY, "sha256:abc", "--digest"),
    (REPOSITORY, "a" * 64, "--digest"),
])
def test_image_ref_rejects_malformed_input_naming_the_flag(repository, digest, flag):
    with pytest.raises(UserError, match=f"^{flag}"):
        record.image_ref(repository, digest)
