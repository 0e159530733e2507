"""Stage `validate`: enforce the data contract; the report is written whether it passes or not."""

from __future__ import annotations

import argparse

from gitops_ml import contract as contract_mod
from gitops_ml.errors import UserError
from gitops_ml.io import read_table, write_json


def main(args: argparse.Namespace) -> None:
    df = read_table(args.data, key="--data")
    contract = contract_mod.load(args.contract)
    report = contract_mod.validate(df, contract)
    report["contract"] = str(args.contract)
    write_json(report, args.report)
    if not report["passed"]:
        raise UserError(
            f"data contract {args.contract}: {report['failed_checks']} check(s) failed "
            f"(details in {args.report}):\n{contract_mod.describe_failures(report)}"
        )
    dropped = report.get("unlabelled_rows_dropped", 0)
    note = f"; unlabelled rows dropped: {dropped} (no {contract.target.name!r})" if dropped else ""
    print(f"validate: {report['rows']} rows pass {args.contract}{note}")
