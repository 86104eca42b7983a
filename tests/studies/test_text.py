import pytest

from studies.text import or_dash, plural, size


@pytest.mark.parametrize(
    "n, noun, text", [(0, "cell", "0 cells"), (1, "cell", "1 cell"), (2, "region", "2 regions")]
)
def test_plural(n, noun, text):
    assert plural(n, noun) == text


@pytest.mark.parametrize(
    "n, text", [(1000, "1,000"), ("1000", "1,000"), (8, "8"), ("all", "all"), (4000, "4,000")]
)
def test_size(n, text):
    assert size(n) == text


@pytest.mark.parametrize(
    "x, spec, text", [(None, ".2f", "-"), (-7.081, ".2f", "-7.08"), (1.25, ".1f", "1.2")]
)
def test_or_dash(x, spec, text):
    assert or_dash(x, spec) == text
