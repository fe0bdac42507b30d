"""stallproxy — a TCP proxy that can freeze a connection mid-stream.

StallProxy(target_port) listens on a free 127.0.0.1 port and relays each
connection to 127.0.0.1:target_port. While .stall is true, once the
client-to-server bytes contain .marker, nothing more is passed on in that
direction (.stalled is set): the server never sees the end of the data.
When either side closes, the other side is closed at once, so a server
behind a frozen connection sees a transfer that never finished.
"""

import socket
import threading

import smtpsink  # scripts/, on the path through conftest.py


class StallProxy(smtpsink.Server):
    def __init__(self, target_port, marker=b"STALL-HERE"):
        self.target_port = target_port
        self.marker = marker
        self.stall = True
        self.stalled = threading.Event()
        smtpsink.Server.__init__(self)

    def connection(self, c):
        try:
            s = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
        except OSError:
            c.close()
            return
        s.settimeout(None)
        threading.Thread(target=self._pump, args=(s, c, False), daemon=True).start()
        self._pump(c, s, True)

    def _pump(self, src, dst, upstream):
        seen = b""
        frozen = False
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if upstream and self.stall and not frozen:
                    seen = (seen + data)[-(len(self.marker) + 65536):]
                    i = seen.find(self.marker)
                    if i >= 0:
                        # pass on what came before the marker, hold the rest
                        keep = len(data) - (len(seen) - i)
                        if keep > 0:
                            dst.sendall(data[:keep])
                        frozen = True
                        self.stalled.set()
                        continue
                if not frozen:
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            for x in (src, dst):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    x.close()
                except OSError:
                    pass
