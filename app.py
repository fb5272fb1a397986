"""Development server: ``python app.py [--host HOST] [--port PORT]``, the same as ``python wsgi.py``.

Production: ``gunicorn wsgi:server`` (the app's entry lives in ``wsgi.py``, which does not shadow the ``app``
package).
"""

import sys

if __name__ == "__main__":
    from wsgi import main

    sys.exit(main(sys.argv[1:]))
