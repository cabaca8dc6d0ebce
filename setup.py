"""Packages for setuptools (the metadata is in pyproject.toml): hodphys, plus the repository's
problems/ and meshes/ folders shipped inside it as hodphys/problems and hodphys/meshes, so an
installed hodphys finds its built-in problems (see hodphys.io.resources)."""
from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["hodphys", "hodphys.*"]), "hodphys.problems", "hodphys.meshes"],
      package_dir={"hodphys.problems": "problems", "hodphys.meshes": "meshes"})
