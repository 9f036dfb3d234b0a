"""docs/python.md's PyLate example, run as written (PythonDocsTest)."""

import os
import re

from conftest import REPOSITORY


def test_the_pylate_example_of_docs_python_md_runs_as_written(tmp_path, monkeypatch):
    text = open(os.path.join(REPOSITORY, "docs", "python.md")).read()
    block = re.search(r"<!-- python-example:begin -->\n```python\n(.*?)```\n<!-- python-example:end -->", text, re.S)
    assert block, "docs/python.md has no python-example block"
    model = os.path.join(REPOSITORY, "models", "minilm-colbert")
    assert os.path.exists(os.path.join(model, "model.safetensors")), "run scripts/setup.sh: it assembles the default model"
    # Run from a scratch folder that has the checkout's models folder, as the example expects.
    os.symlink(os.path.join(REPOSITORY, "models"), tmp_path / "models")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    exec(compile(block.group(1), "docs/python.md", "exec"), {"__name__": "docs_python_md"})
    assert (tmp_path / "pylate-index" / "notes" / "manifest.plaid").exists()
