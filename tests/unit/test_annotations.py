import json

import pytest

from contracts.annotations import annotation_set_to_json, load_annotation_set, load_manifest
from contracts.errors import DatasetError

GOOD = {
    "format": "edgecv-annotations/1",
    "frames": [{
        "image": "frames/000001.png", "width": 1280, "height": 720,
        "pallets": [
            {"bbox": [412.0, 188.5, 803.0, 655.0], "damaged": False,
             "label": {"bbox": [560.0, 300.0, 640.0, 420.0], "pro": "4827119301", "dest": "MEM"}},
            {"bbox": [60.0, 210.0, 350.0, 640.0], "damaged": True, "label": None},
        ],
    }],
}


def write(tmp_path, data):
    (tmp_path / "annotations.json").write_text(json.dumps(data) if not isinstance(data, str) else data)
    return tmp_path


def test_spec_example_round_trips(tmp_path):
    ds = load_annotation_set(write(tmp_path, GOOD))
    assert ds.frames[0].pallets[0].label.pro == "4827119301"
    assert ds.frames[0].people is None  # not annotated: not scored
    assert annotation_set_to_json(ds) == GOOD


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.update(format="edgecv-annotations/2"), "unknown format"),
    (lambda d: d.pop("format"), "unknown format"),
    (lambda d: d["frames"][0]["pallets"][0].update(bbox=[10, 10, 5, 20]), "x1 < x2"),
    (lambda d: d["frames"][0]["pallets"][0]["label"].update(pro="4827119302"), "check digit"),
    (lambda d: d["frames"][0]["pallets"][0]["label"].update(dest="mem"), "frames.0.pallets.0.label.dest"),
    (lambda d: d["frames"][0].update(image="../etc/passwd"), "relative"),
    (lambda d: d["frames"][0]["pallets"][0].update(colour="red"), "Extra inputs"),
])
def test_malformed_sets_give_one_clear_line(tmp_path, mutate, message):
    data = json.loads(json.dumps(GOOD))
    mutate(data)
    with pytest.raises(DatasetError, match=message) as info:
        load_annotation_set(write(tmp_path, data))
    assert "\n" not in str(info.value)


def test_not_json_and_missing(tmp_path):
    with pytest.raises(DatasetError, match="not valid JSON"):
        load_annotation_set(write(tmp_path, "{nope"))
    with pytest.raises(DatasetError, match="not found"):
        load_annotation_set(tmp_path / "absent")


def test_manifest(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"format": "edgecv-manifest/1", "truck_id": "TRK-1042", "door": "D07",
                                "pallets": [{"pro": "4827119301", "dest": "MEM"}]}))
    assert load_manifest(path).pallets[0].dest == "MEM"
    path.write_text(json.dumps({"format": "edgecv-manifest/0", "truck_id": "T", "door": "D", "pallets": []}))
    with pytest.raises(DatasetError, match="unknown format"):
        load_manifest(path)
