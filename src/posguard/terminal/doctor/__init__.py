"""``posguard terminal doctor``: the catalog's checklists, run for real against this
terminal's setup, over the same channel, answer verdict and receipt renderer as a sale, so a
doctor's verdict and a sale's failure name the same catalog code.

- :mod:`.registry`: the checks by id (host, printer, local) and running them
  (``run_check`` / ``run_all`` and their async forms)
- :mod:`.host_checks`: DNS, TCP, TLS, ISO echo, round trip
- :mod:`.printer_checks`: printer status and test print
- :mod:`.local_checks`: configuration, journal storage, reversals waiting
- :mod:`.report`: a finding, its next step from the catalog, the finding over all hosts
- :mod:`.sentences`: findings in words (zh/en), never exception text
- :mod:`.render`: the table for people and the JSON for machines
- :mod:`.config`: the doctor's view of the terminal YAML (``printer:`` section)

A failed check carries its catalog code and the next step from that catalog entry (its
first step that is not just "run this check"), in Chinese and English.
"""

from posguard.terminal.doctor.config import DoctorConfig, PrinterSettings, load_doctor_config
from posguard.terminal.doctor.registry import (
    ALL_CHECKS,
    HOST_CHECKS,
    PRINTER_CHECKS,
    REGISTRY,
    TERMINAL_CHECKS,
    arun_all,
    arun_check,
    run_all,
    run_check,
)
from posguard.terminal.doctor.render import print_report, report_json
from posguard.terminal.doctor.report import CheckReport, next_step

__all__ = [
    "ALL_CHECKS",
    "HOST_CHECKS",
    "PRINTER_CHECKS",
    "REGISTRY",
    "TERMINAL_CHECKS",
    "CheckReport",
    "DoctorConfig",
    "PrinterSettings",
    "arun_all",
    "arun_check",
    "load_doctor_config",
    "next_step",
    "print_report",
    "report_json",
    "run_all",
    "run_check",
]
