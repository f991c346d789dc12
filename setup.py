"""Packaging hook: the repository's top-level ``data/`` folder (configuration, corrections,
model artifacts, lumi masks, site files) ships inside the package as ``hnl_coffea/_data``, so
a wheel carries every runtime file and :mod:`hnl_coffea.paths` finds it with
``importlib.resources``. Everything else lives in ``pyproject.toml``."""

from setuptools import find_namespace_packages, find_packages, setup

CODE = find_packages(include=["hnl_coffea", "hnl_coffea.*", "processors", "processors.*"])
DATA = [
    "hnl_coffea._data",
    *(f"hnl_coffea._data.{p}" for p in find_namespace_packages("data", exclude=["*__pycache__*"])),
]

setup(
    packages=CODE + DATA,
    package_dir={"hnl_coffea._data": "data"},
    package_data={"hnl_coffea": ["py.typed"], **dict.fromkeys(DATA, ["*"])},
)
