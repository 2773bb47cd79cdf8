"""The release quality gate: run scenarios under network profiles P0-P8 against a node,
measure what a learner sees and hears, judge it against versioned thresholds and a
baseline, and write JSON, JUnit XML and HTML reports (docs/quality-gate.md).

Pure parts: `profiles`, `thresholds`, `aggregate`, `baseline`, `counters`, `host` (all but
its monitor), `figures` (a run's figures from its recorded series), `model`, `svg`,
`outputs`. IO: `node`, `taps` (what the gate reads of aiortc), `run` (one run, `GateRun`),
`runner` (all runs), `cli` (the `liveroom-gate` command).
"""
