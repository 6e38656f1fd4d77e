"""gradio is imported by the web app without rewriting its type stubs (start-up time)."""

import subprocess
import sys


def test_gradio_is_imported_without_its_stub_writer():
    code = ("import nforge_app.ui, gradio, gradio.component_meta as meta; "
            "print(meta.create_or_modify_pyi.__name__, hasattr(gradio, 'Blocks'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["_skip_stubs", "True"]
