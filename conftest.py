"""pytest set-up shared by the test suite and the docstring examples of the
package (``--doctest-modules``): the names every example may use."""
import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    doctest_namespace.update(np=np, torch=torch)
