"""Printable sheets: the I-PASS handoff and the vitals sheet (content models, CSV and PDF).

The content (`handoff`, `vitals`) is pure: a function of a course, its assessment and the
clock. `pdf` lays it out with ReportLab. Reading the database, the role check and the audit
entry of every export are in `il2_tox.services.sheets`.
"""
