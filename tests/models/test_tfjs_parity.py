"""The ONNX graph our builder makes from face-api's weights computes what face-api itself computes:
the same crops through face-api's own AgeGenderNet under TensorFlow.js (Node, CPU backend), from
the same npm tarball, give the same ages."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from humiao.edge.age import build_age_estimator
from humiao.models.prepare import cache_dir

pytestmark = pytest.mark.slow

TFJS = "4.22.0"  # the TF.js face-api 1.7.15 was built against (its dist/tfjs.version.js)

SCRIPT = """
const fs = require('fs');
const tf = require('@tensorflow/tfjs');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
  await faceapi.nets.ageGenderNet.loadFromDisk('node_modules/@vladmandic/face-api/model');
  const buf = fs.readFileSync(process.argv[2]);
  const px = 112 * 112 * 3;
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const ages = [];
  for (let i = 0; i < all.length / px; i++) {
    const t = tf.tensor3d(all.slice(i * px, (i + 1) * px), [112, 112, 3]);
    ages.push((await faceapi.nets.ageGenderNet.predictAgeAndGender(t)).age);
    t.dispose();
  }
  console.log(JSON.stringify(ages));
})();
"""


@pytest.fixture(scope="module")
def tfjs_faceapi(tmp_path_factory):
    """A scratch Node project with TF.js and face-api from the tarball `humiao models prepare` fetched."""
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are needed to run face-api under TF.js (sudo apt-get install -y npm)")
    tarballs = sorted((cache_dir() / "npm").glob("vladmandic-face-api-*.tgz"))
    if not tarballs:
        pytest.skip("run `humiao models prepare` first (it fetches the face-api tarball with npm)")
    root = tmp_path_factory.mktemp("tfjs")
    done = subprocess.run(
        [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--silent",
            f"@tensorflow/tfjs@{TFJS}",
            f"@tensorflow/tfjs-backend-wasm@{TFJS}",
            str(tarballs[0]),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (root / "parity.js").write_text(SCRIPT)
    return root


def test_our_graph_gives_face_apis_own_ages(tfjs_faceapi, full_range, mesh, group_photo, astronaut):
    from humiao.edge.pipeline import observe_face
    from humiao.edge.quality import QualityConfig

    faceapi = build_age_estimator("faceapi-agegender", flip=False)
    crops = []
    for img in (group_photo, astronaut):
        for det in full_range.detect(img):
            seen = observe_face(img, det, mesh, QualityConfig())
            if seen is not None:
                crops.append(faceapi.crop(seen[0]))
    batch = np.stack(crops).astype(np.float32)
    (tfjs_faceapi / "crops.f32").write_bytes(batch.tobytes())
    run = subprocess.run(
        ["node", "parity.js", "crops.f32"], cwd=tfjs_faceapi, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    theirs = np.array(json.loads(run.stdout.strip().splitlines()[-1]))
    ours = faceapi.model.run(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))[0]
    assert len(theirs) == len(ours) == 7
    np.testing.assert_allclose(ours, theirs, atol=2e-3)  # years; float32 arithmetic in a different order
