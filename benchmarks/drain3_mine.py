"""Drain3's whole process, as a user would run it: one message per line in, one JSON object out.

The counterpart of ``logpipe patterns mine FILE`` in ``benchmarks/patterns.py``'s whole-process
comparison: read the file, mine each line with Drain3 (its defaults plus the masks of its example
``drain3.ini``, the same as the accuracy table), and write ``{"line", "cluster_id", "template"}``
per input line with the cluster's template after the whole file (Drain3's final grouping).

Usage: python benchmarks/drain3_mine.py FILE > out.jsonl
"""

from __future__ import annotations

import json
import sys

from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

# Drain3's example config (drain3/examples/drain3.ini): ids, IPs, hex sequences, hex, numbers.
DRAIN3_MASKS = [
    (r"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))((?=[^A-Za-z0-9])|$)", "ID"),
    (r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})((?=[^A-Za-z0-9])|$)", "IP"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9a-f]{6,} ?){3,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9A-F]{4} ?){4,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)(0x[a-f0-9A-F]+)((?=[^A-Za-z0-9])|$)", "HEX"),
    (r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "NUM"),
]


def main(path: str) -> int:
    config = TemplateMinerConfig()
    config.masking_instructions = [MaskingInstruction(p, m) for p, m in DRAIN3_MASKS]
    miner = TemplateMiner(config=config)
    add = miner.add_log_message
    with open(path, encoding="utf-8", errors="replace") as fh:
        ids = [add(line.rstrip("\r\n"))["cluster_id"] for line in fh]
    templates = {c.cluster_id: c.get_template() for c in miner.drain.clusters}
    out = sys.stdout
    dumps = json.dumps
    for number, cid in enumerate(ids, 1):
        out.write(dumps({"line": number, "cluster_id": cid, "template": templates[cid]}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
