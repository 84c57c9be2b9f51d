"""The wheel carries the widgets' JavaScript and the sample data; the package imports nothing heavy."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_carries_the_widget_files_and_sample_data(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("nbrag-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "nbrag/views/static/boundary.js" in names
    assert "nbrag/views/static/boundary.css" in names
    samples = ["nbrag/data/__init__.py", "nbrag/data/samples/questions.csv",
               *(f"nbrag/data/samples/corpus/{doc}.md" for doc in ("lighthouses", "tea", "weather_station"))]
    assert set(samples) <= set(names)
    assert not any(n.startswith(("tests/", "notebooks/", "widgets/", "tools/")) for n in names)


def test_import_nbrag_loads_no_model_library():
    code = "import sys, nbrag; print([m for m in ('torch', 'transformers', 'chromadb') if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
