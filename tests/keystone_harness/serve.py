"""Serve keystone's public WSGI application with waitress on 127.0.0.1 (test harness only).

Environment:
  OS_KEYSTONE_CONFIG_FILES      keystone.conf to load (read by keystone itself)
  KEYSTONE_HARNESS_PORT_FILE    where to write the port once the socket listens

Run with `python -I` so nothing next to this file can shadow a stdlib module.
"""

import os
import sys


def main():
    port_file = os.environ["KEYSTONE_HARNESS_PORT_FILE"]
    # keystone parses sys.argv with oslo.config: leave it nothing to misread.
    sys.argv = [sys.argv[0]]

    import waitress.server
    from keystone.server import wsgi

    app = wsgi.initialize_public_application()
    # Port 0: the kernel picks a free port, so parallel tests never race for one.
    server = waitress.server.create_server(
        app, host="127.0.0.1", port=0, threads=4, ident="keystone-harness"
    )
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%s\n" % server.effective_port)
    os.rename(tmp, port_file)
    server.run()


if __name__ == "__main__":
    main()
