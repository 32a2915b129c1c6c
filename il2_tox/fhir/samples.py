"""The synthetic FHIR sample bundles in data/samples/ (README there): how they are made.

    python -m il2_tox.fhir.samples            # rewrite data/samples/*.json

`complete-two-cycles.fhir.json` is a simulated two-cycle course (il2_tox.simulate, fixed seed)
with its flags; `small.fhir.json` is a short hand-readable course in SI units with a held dose,
a prior toxicity and a Practitioner the import lists as not imported; `unknown-code.fhir.json`
is `small` with one Observation coded with a LOINC code il2-tox does not know, which the import
refuses. Tests check that the files are what this module writes.
"""

from __future__ import annotations

import copy
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from il2_tox.assess import assess
from il2_tox.course import Course, parse_course
from il2_tox.fhir import codes as fc
from il2_tox.fhir.export import course_to_bundle
from il2_tox.simulate import simulate_course

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
START = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def complete_course() -> Course:
    """Return the simulated two-cycle course of the complete sample."""
    return simulate_course(
        "two_cycles", seed=6, start=START, patient_id="FHIR-SAMPLE-1", name="Sample, Fay", bed="4"
    )


def small_course() -> Course:
    """Return the small hand-readable course: baseline, two doses (one held), a few results."""
    return parse_course(
        {
            "format": "il2-tox-course/1",
            "patient": {
                "id": "FHIR-SAMPLE-2",
                "name": "Sample, Sam",
                "sex": "male",
                "birth_date": "1968-02-14",
                "height_cm": 180,
                "weight_kg": 81.5,
            },
            "admission": {
                "admitted_at": "2026-11-20T06:00:00Z",
                "ward": "7B",
                "bed": "2",
                "regimen_iu_per_kg": 600000,
                "usual_sbp_mmhg": 124,
                "spo2_target": "94-98",
            },
            "history": {
                "brain_metastases": "none",
                "systemic_steroids": False,
                "ecog": 0,
                "prior_therapies": ["pembrolizumab"],
            },
            "prior_toxicities": [
                {
                    "agent": "pembrolizumab",
                    "irae": "colitis",
                    "grade": 2,
                    "onset": "2026-02-10",
                    "resolved": "2026-04-01",
                    "steroids": True,
                    "note": "budesonide, then off steroids",
                }
            ],
            "doses": [
                {"cycle": 1, "number": 1, "time": "2026-11-20T08:00:00Z", "status": "given"},
                {
                    "cycle": 1,
                    "number": 2,
                    "time": "2026-11-20T16:00:00Z",
                    "status": "held",
                    "reason": "SBP 84 on phenylephrine 0.8",
                },
            ],
            "observations": [
                {"time": "2026-11-20T06:10:00Z", "code": "2160-0", "value": 88, "unit": "umol/L"},
                {
                    "time": "2026-11-20T06:10:00Z",
                    "code": "1742-6",
                    "value": 31,
                    "unit": "U/L",
                    "ref_high": 40,
                },
                {"time": "2026-11-20T07:30:00Z", "code": "8480-6", "value": 121, "unit": "mm[Hg]"},
                {"time": "2026-11-20T07:30:00Z", "code": "59408-5", "value": 97, "unit": "%"},
                {"time": "2026-11-20T07:30:00Z", "code": "8310-5", "value": 98.9, "unit": "[degF]"},
                {"time": "2026-11-20T07:30:00Z", "code": "il2tox:acvpu", "value": "A"},
                {"time": "2026-11-20T15:30:00Z", "code": "8480-6", "value": 84, "unit": "mm[Hg]"},
                {
                    "time": "2026-11-20T15:30:00Z",
                    "code": "il2tox:phenylephrine",
                    "value": 0.8,
                    "unit": "ug/kg/min",
                },
                {
                    "time": "2026-11-20T15:30:00Z",
                    "code": "9187-6",
                    "value": 160,
                    "unit": "mL",
                    "period_h": 8,
                },
            ],
        }
    )


def _with_practitioner(bundle: dict[str, Any]) -> dict[str, Any]:
    bundle = copy.deepcopy(bundle)
    bundle["entry"].append(
        {
            "fullUrl": "urn:uuid:0b9f0d52-7c55-4c43-9a57-3a4b0d8e6f01",
            "resource": {
                "resourceType": "Practitioner",
                "id": "0b9f0d52-7c55-4c43-9a57-3a4b0d8e6f01",
                "name": [{"family": "Nurse", "given": ["Ada"]}],
            },
        }
    )
    return bundle


def _with_unknown_code(bundle: dict[str, Any]) -> dict[str, Any]:
    """Return the bundle with its ALT result recoded as LOINC 1234-5 (not a code il2-tox knows)."""
    bundle = copy.deepcopy(bundle)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if fc.has_coding(resource.get("code"), fc.LOINC, "1742-6"):
            resource["code"] = {
                "coding": [{"system": fc.LOINC, "code": "1234-5", "display": "not a known test"}]
            }
            return bundle
    raise AssertionError("the small sample has an ALT result")


def samples() -> dict[str, dict[str, Any]]:
    """Return each sample file's name and bundle."""
    complete = complete_course()
    small = _with_practitioner(course_to_bundle(small_course(), assess(small_course()).flags))
    return {
        "complete-two-cycles.fhir.json": course_to_bundle(complete, assess(complete).flags),
        "small.fhir.json": small,
        "unknown-code.fhir.json": _with_unknown_code(small),
    }


def text_of(bundle: dict[str, Any]) -> str:
    """Return a bundle as the sample files hold it."""
    return json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    SAMPLES.mkdir(parents=True, exist_ok=True)
    for name, bundle in samples().items():
        (SAMPLES / name).write_text(text_of(bundle), encoding="utf-8")
        print(SAMPLES / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
