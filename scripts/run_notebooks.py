#!/usr/bin/env python3
"""Executes the notebooks in notebooks/ against a VOIDX server this script starts.

    python scripts/run_notebooks.py            # test: run copies, fail if a cell errors
    python scripts/run_notebooks.py --update   # re-execute and write the outputs back
    python scripts/run_notebooks.py 02_train_explain   # only notebooks whose name contains this

The server is `target/debug/voidx serve --demo` (`VOIDXTEST_BIN` overrides the path, as for the
integration tests; a `VOIDX_*` name would be read by the server as configuration) on free loopback
ports with its own temporary data directory, removed afterwards. The notebooks find it through
the libpq variables PGHOST, PGPORT, PGUSER and PGDATABASE, and its HTTP address through
VOIDX_HTTP_URL, which this script sets. They run in name order against the same server, as an
analyst would go through them: 03 monitors the versions 02 trained.

In test mode the committed notebooks are never written: each runs as a copy in the temporary
directory. A missing dependency, a missing binary, a server that does not start, a cell that
raises or a committed notebook without outputs is an error (exit status 1), never a skip.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
# Committed notebooks stay reviewable and cheap to clone.
MAX_NOTEBOOK_BYTES = 1_000_000
# A debug build runs each notebook in well under a minute; this bounds one cell.
CELL_TIMEOUT_S = 300
STARTUP_TIMEOUT_S = 600

try:
    import nbformat
    import psycopg
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
except ImportError as e:  # never skip silently: the test command installs these
    sys.exit(
        f"run_notebooks: missing Python dependency ({e}). "
        "Help: pip install -r tests/clients/requirements.txt (scripts/test.sh does it in .venv)"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary: Path, tmp: Path):
    """Starts `serve --demo` and waits until it answers a query over pgwire."""
    pg_port, http_port = free_port(), free_port()
    # The server reads VOIDX_* variables as configuration: none of the caller's leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOIDX_")}
    log_path = tmp / "server.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [
            str(binary), "serve", "--demo",
            "--data-dir", str(tmp / "data"),
            "--pg-addr", f"127.0.0.1:{pg_port}",
            "--http-addr", f"127.0.0.1:{http_port}",
        ],
        cwd=tmp,  # no voidx.toml of the checkout is picked up
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} while starting:\n{tail(log_path)}")
        try:
            with psycopg.connect(host="127.0.0.1", port=pg_port, user="voidx", dbname="voidx", connect_timeout=2) as c:
                c.execute("SELECT count(*) FROM voidx.models").fetchone()
            break
        except psycopg.Error:
            if time.monotonic() > deadline:
                stop_server(proc)
                raise RuntimeError(f"the server did not answer within {STARTUP_TIMEOUT_S} s:\n{tail(log_path)}")
            time.sleep(0.5)
    return proc, pg_port, http_port, log_path


def stop_server(proc) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # a clean shutdown flushes the prediction log
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def isolate_kernel(tmp: Path) -> None:
    """Keeps the kernel inside the temporary directory.

    Jupyter, IPython and matplotlib otherwise write connection files, a profile and a font
    cache under $HOME, and a `python3` kernelspec installed there would run the notebooks with
    another interpreter. This one runs this script's Python (the venv with the clients).
    """
    spec = tmp / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (run_notebooks)",
        "language": "python",
    }))
    os.environ.update(
        JUPYTER_PATH=str(tmp / "jupyter"),
        JUPYTER_DATA_DIR=str(tmp / "jupyter"),
        JUPYTER_RUNTIME_DIR=str(tmp / "jupyter" / "runtime"),
        JUPYTER_CONFIG_DIR=str(tmp / "jupyter" / "config"),
        IPYTHONDIR=str(tmp / "ipython"),
        MPLCONFIGDIR=str(tmp / "matplotlib"),
        JUPYTER_PLATFORM_DIRS="1",
    )


def has_outputs(nb) -> bool:
    code = [c for c in nb.cells if c.cell_type == "code"]
    return all(c.get("execution_count") is not None for c in code)


def run_one(src: Path, workdir: Path, update: bool) -> tuple[bool, float, str]:
    """Executes one notebook; returns (ok, seconds, message)."""
    nb = nbformat.read(src, as_version=4)
    if not update and not has_outputs(nb):
        return False, 0.0, f"{src.name} is committed without outputs. Help: python scripts/run_notebooks.py --update"
    # Execution timestamps would make every re-run a diff.
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    start = time.monotonic()
    try:
        client.execute()
    except CellExecutionError as e:
        return False, time.monotonic() - start, f"{src.name}: a cell failed\n{e}"
    seconds = time.monotonic() - start
    out = src if update else workdir / src.name
    nbformat.write(nb, out)
    size = out.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        return False, seconds, f"{src.name} is {size} bytes with outputs (limit {MAX_NOTEBOOK_BYTES}): smaller plots or fewer rows"
    return True, seconds, f"{size // 1024} KiB"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--update", action="store_true", help="write the executed notebooks back to notebooks/")
    ap.add_argument("filter", nargs="?", default="", help="only notebooks whose name contains this")
    args = ap.parse_args()

    binary = Path(os.environ.get("VOIDXTEST_BIN", ROOT / "target" / "debug" / "voidx"))
    if not binary.is_file():
        print(f"run_notebooks: no server binary at {binary}. Help: cargo build (or set VOIDXTEST_BIN)")
        return 1
    notebooks = sorted(p for p in NOTEBOOKS.glob("*.ipynb") if args.filter in p.stem)
    if not notebooks:
        print(f"run_notebooks: no notebook in {NOTEBOOKS} matches '{args.filter}'")
        return 1

    tmp = Path(tempfile.mkdtemp(prefix="voidx-notebooks-"))
    proc = None
    failures = []
    try:
        proc, pg_port, http_port, log_path = start_server(binary, tmp)
        isolate_kernel(tmp)
        os.environ.update(
            PGHOST="127.0.0.1",
            PGPORT=str(pg_port),
            PGUSER="voidx",
            PGDATABASE="voidx",
            VOIDX_HTTP_URL=f"http://127.0.0.1:{http_port}",
            MPLBACKEND="module://matplotlib_inline.backend_inline",
        )
        os.environ.pop("PGPASSWORD", None)
        print(f"server {binary} on pg {pg_port}, http {http_port}, data {tmp / 'data'}")
        for nb in notebooks:
            ok, seconds, message = run_one(nb, tmp, args.update)
            print(f"  {'ok  ' if ok else 'FAIL'} {nb.name:<28} {seconds:6.1f} s  {message}")
            if not ok:
                failures.append(nb.name)
        if failures:
            print(f"\nserver log (last lines):\n{tail(log_path)}")
    except RuntimeError as e:
        print(f"run_notebooks: {e}")
        return 1
    finally:
        if proc is not None:
            stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"notebooks: {len(notebooks) - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
