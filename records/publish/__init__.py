"""`lab publish`: the publication bundle (compiled paper and its arXiv source, blog post, slides,
model zoo with model cards, demo notebooks), built only from counted findings (rated, not
preliminary), every number taken from the validator's results. See records/publish/bundle.py."""
