import pytest

from nforge_app.spaces import get_space


@pytest.fixture(scope="module")
def surface():
    return get_space("fsaverage5")


@pytest.fixture(scope="module")
def parcels():
    return get_space("schaefer1000")
