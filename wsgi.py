"""The app's entry points.

Production: ``gunicorn wsgi:server`` (each worker builds one app from the environment when it imports this
module; see README). Development: ``python wsgi.py [--host HOST] [--port PORT]`` (defaults from
TWINSCOPE_HOST / TWINSCOPE_PORT, else 127.0.0.1:8050).
"""

from __future__ import annotations

import argparse
import os
import sys

from app import create_app

app = create_app()
server = app.server


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="twinscope development server")
    parser.add_argument("--host", default=os.environ.get("TWINSCOPE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("TWINSCOPE_PORT", "8050")))
    args = parser.parse_args(argv)
    print(f"twinscope running at http://{args.host}:{args.port}/", flush=True)
    app.run(host=args.host, port=args.port, debug=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
