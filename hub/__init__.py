"""The hub: ingest, statute rules, alarms, cases, accounts, the inspectors' panel and reports (see hub/README.md)."""
