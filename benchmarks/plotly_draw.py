"""Benchmark plotly's own drawing of the patient chart, alone on a blank page.

    .venv/bin/python benchmarks/plotly_draw.py [--draws 12]

Builds the default chart view (the dose strip and the five vital-sign panels) of the first
demo patient with `dashboard.charts.patient_chart`, exactly as the chart page does, and times
`Plotly.newPlot` of it `draws` times in Debian chromium on a page holding nothing else (the
plotly.js that ships with the plotly package). This is the floor any page showing that chart
pays in the browser. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

DRAW = """async ([figure, draws]) => {
  const times = [];
  for (let i = 0; i < draws; i++) {
    const box = document.createElement("div");
    box.style.width = "1800px";
    document.body.appendChild(box);
    const began = performance.now();
    await Plotly.newPlot(box, figure.data, figure.layout, {displaylogo: false});
    times.push(performance.now() - began);
    Plotly.purge(box);
    box.remove();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return times;
}"""


def chart_json(url: str) -> str:
    """Return the default chart of the first demo patient (by bed) as plotly JSON."""
    from dashboard import charts
    from il2_tox.assess import assess
    from il2_tox.rules.config import load_rules
    from il2_tox.services.course_io import list_admissions, load_course_from_db
    from il2_tox.services.ward import bed_order
    from il2_tox.store.engine import Database

    db = Database(url)
    rules = load_rules()
    first = min(list_admissions(db), key=lambda a: bed_order(a.bed or ""))
    course = load_course_from_db(db, first.admission_id)
    figure = charts.patient_chart(
        course, assess(course, rules), rules, tz=ZoneInfo("UTC"), groups=(charts.VITALS,)
    )
    db.dispose()
    return str(figure.to_json())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--draws", type=int, default=12)
    args = parser.parse_args()
    import plotly
    from playwright.sync_api import sync_playwright

    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/ward.db"
        env = {**os.environ, "IL2TOX_DATABASE_URL": url}
        subprocess.run([sys.executable, "-m", "il2_tox", "demo"], cwd=REPO, env=env,
                       check=True, capture_output=True)  # fmt: skip
        figure = json.loads(chart_json(url))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.set_content("<html><body></body></html>")
        page.add_script_tag(path=str(plotly_js))
        times: list[float] = page.evaluate(DRAW, [figure, args.draws])
        version = page.evaluate("Plotly.version")
        browser.close()
    later = times[1:] or times
    print(f"command: .venv/bin/python benchmarks/plotly_draw.py --draws {args.draws}")
    print(f"plotly.js {version}; {len(figure['data'])} traces; Plotly.newPlot in ms: "
          f"first {times[0]:.0f}, then median {statistics.median(later):.0f} "
          f"(min {min(later):.0f}, max {max(later):.0f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
