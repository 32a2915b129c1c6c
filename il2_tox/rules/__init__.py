"""Clinical rules: one module per concern, each a small pure function of an indexed course.

Thresholds are never written here: they come from the site rules file (`data/rules.toml`,
`il2_tox.rules.config`), each with its source.
"""
