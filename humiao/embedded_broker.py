"""An embedded MQTT broker (amqtt 0.12, MQTT 3.1.1 only) for ``humiao demo``. Never production:
production uses Mosquitto (README, deploy/)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time


class EmbeddedBroker:
    def __init__(self, host: str = "127.0.0.1", port: int = 18830):
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._broker = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="amqtt", daemon=True)

    def start(self) -> EmbeddedBroker:
        from amqtt.broker import Broker

        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.CRITICAL)  # it logs every probe and disconnect as an error
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self._thread.start()

        async def boot():
            broker = Broker(config)
            self._broker = broker
            await broker.start()

        asyncio.run_coroutine_threadsafe(boot(), self._loop).result(timeout=15)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the embedded broker did not start on {self.host}:{self.port}")

    def stop(self) -> None:
        if self._broker is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
