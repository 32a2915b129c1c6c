"""il2-tox dashboard entry point: page set-up and navigation.

Run with `make run` (or `streamlit run dashboard/streamlit_app.py` from the repository).
"""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run` puts only this folder on sys.path; the product's core lives one level up.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

st.set_page_config(page_title="il2-tox · HD IL-2 ward", page_icon="🩺", layout="wide")

PAGES = ROOT / "dashboard" / "app_pages"
navigation = st.navigation(
    [st.Page(str(PAGES / "ward.py"), title="Ward overview", icon=":material/bed:", default=True)]
)
navigation.run()
