"""A TLS front for the Swift harness (test use only).

    python3 -I tls_front.py CERT KEY UPSTREAM_PORT

Listens on a free 127.0.0.1 port, prints it on stdout, terminates TLS with CERT/KEY and
relays the plain bytes to 127.0.0.1:UPSTREAM_PORT, one thread pair per connection. It dies
with its parent (PR_SET_PDEATHSIG), like the harness's servers.
"""

import ctypes
import os
import signal
import socket
import ssl
import sys
import threading


def die_with_parent():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:
        sys.exit("parent already gone")


def relay(src, dst, done):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        done()


def serve(conn, context, upstream):
    try:
        client = context.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError):
        conn.close()
        return
    try:
        backend = socket.create_connection(("127.0.0.1", upstream))
    except OSError:
        client.close()
        return

    def close_both():
        for sock in (client, backend):
            try:
                sock.close()
            except OSError:
                pass

    def client_done():
        try:
            backend.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    back = threading.Thread(target=relay, args=(backend, client, close_both), daemon=True)
    back.start()
    relay(client, backend, client_done)
    back.join()


def main():
    cert, key, upstream = sys.argv[1], sys.argv[2], int(sys.argv[3])
    die_with_parent()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, context, upstream), daemon=True).start()


if __name__ == "__main__":
    main()
