"""The child process that parses one uploaded file: `python -m agents.regulatory.reader_process
FILENAME MAX_PAGES CPU_SECONDS MEMORY_BYTES`, the file on stdin, a JSON answer on stdout
(`{"text": ...}` or `{"rejected": reason}`).

It limits itself before parsing: CPU seconds and address space (the kernel stops it past them),
a few open files, no files written and no processes started; the parent gives it none of the
worker's environment (no keys) and kills it at its wall-clock limit. Nothing here imports Django or
Temporal.
"""

from __future__ import annotations

import json
import resource
import sys

from agents.regulatory.extract import DocumentRejected, extract_text

# stdin, stdout, stderr and a few the interpreter keeps: a parser needs no more.
READER_OPEN_FILES = 16


def main(argv: list[str]) -> int:
    filename, max_pages, cpu_seconds, memory_bytes = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (READER_OPEN_FILES, READER_OPEN_FILES))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    data = sys.stdin.buffer.read()
    try:
        answer = {"text": extract_text(data, filename, max_pages=max_pages)}
    except DocumentRejected as err:
        answer = {"rejected": str(err)}
    except MemoryError:
        answer = {"rejected": "Reading this document needed more memory than allowed."}
    sys.stdout.write(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
