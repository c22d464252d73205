"""The catalog on an object store: the data set and every layer on S3 (moto's server here)."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from spml.data import ImageFolder, decode_images
from spml.demo import ensure_demo_coco
from spml.pseudo import pseudo_labels_at
from spml.tables import label_matrix
from tests.conftest import PROJECT_ROOT, TINY_PARAMETERS, kedro

BUCKET = "spml-study"


def _catalogued_paths(catalog: dict) -> dict[str, str]:
    """Every entry's file or folder (inside an MLflow artifact wrapper too), with the file's
    own shorthands such as `${_images}` spelled out, down to `${_data_dir}`/`${_data_root}`."""
    shorthands = {
        f"${{{key}}}": value
        for key, value in catalog.items()
        if key.startswith("_") and key not in ("_data_dir", "_data_root")
    }
    paths = {}
    for name, entry in catalog.items():
        if isinstance(entry, dict) and "type" in entry:
            inner = entry.get("dataset", entry)
            path = str(inner.get("filepath", inner.get("path")))
            for shorthand, value in shorthands.items():
                path = path.replace(shorthand, value)
            paths[name] = path
    return paths


@pytest.mark.parametrize("catalog", sorted(PROJECT_ROOT.glob("conf/*/catalog.yml")), ids=str)
def test_every_catalogued_file_lives_under_data_dir_or_data_root(catalog: Path) -> None:
    paths = _catalogued_paths(yaml.safe_load(catalog.read_text()))
    assert paths
    outside = {
        name: path
        for name, path in paths.items()
        if not path.startswith(("${_data_dir}/", "${_data_root}"))
    }
    assert not outside  # such a file would stay on this machine under --env shared


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An S3 server on 127.0.0.1 with an empty bucket; the AWS variables point at it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    try:
        yield endpoint
    finally:
        server.stop()


def test_the_data_and_the_first_pipelines_run_on_s3_and_read_back(
    tiny_project: Path, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.mkdir(BUCKET)
    demo = ensure_demo_coco(tmp_path / "demo", seed=0, **TINY_PARAMETERS["demo"])
    fs.put(str(demo), f"{BUCKET}/coco_demo", recursive=True)
    shared = tiny_project / "conf" / "shared"
    shared.mkdir()
    shutil.copy(tiny_project / "conf" / "local" / "parameters.yml", shared)
    (shared / "globals.yml").write_text(
        f"data_root: s3://{BUCKET}/coco_demo\ndata_dir: s3://{BUCKET}/study\n"
    )
    monkeypatch.setenv("SPML_CACHE_DIR", str(tmp_path / "worker-cache"))

    pipelines = "data_engineering,teacher,pseudo_labeling"
    result = kedro(tiny_project, "run", "--env", "shared", "--pipelines", pipelines)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (tiny_project / "data" / "03_primary" / "full_labels.parquet").exists()

    def read(key: str) -> bytes:
        return fs.cat_file(f"{BUCKET}/study/{key}")

    full = pd.read_parquet(io.BytesIO(read("03_primary/full_labels.parquet")))
    images = np.load(io.BytesIO(read("05_model_input/train_images.npy")))
    size = TINY_PARAMETERS["image_size"]
    assert images.shape == (len(full), 3, size, size)
    decoded_here = decode_images(ImageFolder(demo / "train2014"), list(full["file_name"][:5]), size)
    np.testing.assert_array_equal(images[:5], decoded_here)  # the S3 images, decoded on S3

    probabilities = pd.read_parquet(
        io.BytesIO(read("07_model_output/teacher_probabilities.parquet"))
    )
    for tau, slug in ((0.3, "tau_0_30"), (0.5, "tau_0_50")):
        pseudo = pd.read_parquet(io.BytesIO(read(f"05_model_input/pseudo_labels_{slug}.parquet")))
        np.testing.assert_array_equal(
            label_matrix(pseudo), pseudo_labels_at(label_matrix(probabilities), tau)
        )
        quality = json.loads(read(f"07_model_output/pseudo_label_quality_{slug}.json"))
        assert quality["tau"] == tau and 0 < quality["recall"] <= 1
    assert len(fs.ls(f"{BUCKET}/study/06_models/teacher.pt")) == 1  # one saved version
    assert (tmp_path / "worker-cache").is_dir()  # the memory-mapped copy of the image cache
