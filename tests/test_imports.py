"""Start-up cost: importing the processors pulls in neither torch nor coffea's slow-to-import
tools; they are imported where they are used (model evaluation, the golden-JSON mask, JER
smearing)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["processors.hnl", "hnl_coffea.processors"])
def test_importing_the_processor_imports_no_heavy_tool(module):
    code = (
        f"import sys, {module}\n"
        "heavy = ('torch', 'coffea.lumi_tools', 'coffea.jetmet_tools')\n"
        "heavy = sorted(m for m in heavy if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_models_package_names_load_on_first_use():
    code = (
        "import sys, hnl_coffea.models as m\n"
        "assert 'torch' not in sys.modules\n"
        "assert m.ModelRunner.__module__ == 'hnl_coffea.models.inference'\n"
        "assert 'torch' in sys.modules\n"
        "assert sorted(dir(m)) == sorted(m.__all__)\n"
        "try:\n    m.nope\nexcept AttributeError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "has no attribute 'nope'" in out.stdout
