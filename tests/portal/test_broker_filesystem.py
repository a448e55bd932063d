"""The demo's filesystem broker never hands a worker a half-written message: a producer
and a consumer racing on one queue folder, every message arrives whole, once."""

import threading
import uuid

from kombu import Connection

MESSAGES = 300
PADDING = 200_000  # characters: writing a message takes a while


def _race(transport: str, folder) -> tuple[list, list[Exception]]:
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(folder / "control"),
        "polling_interval": 0,  # the worker looks at the folder all the time
    }
    # A fresh queue name: kombu keeps the bindings it declared in memory for the whole
    # process, and would not write them again into this test's folder.
    name = f"race-{uuid.uuid4().hex}"
    received, errors = [], []
    done = threading.Event()

    def consume():
        with Connection("filesystem://", transport=transport, transport_options=options) as c:
            queue = c.SimpleQueue(name)
            while len(received) < MESSAGES and not done.is_set():
                try:
                    message = queue.get(timeout=0.05)
                except queue.Empty:
                    continue
                except Exception as error:  # a half-written message: what must not happen
                    errors.append(error)
                    continue
                received.append(message.payload)
                message.ack()

    with Connection("filesystem://", transport=transport, transport_options=options) as c:
        queue = c.SimpleQueue(name)  # declared, its binding on disk, before the consumer
        consumer = threading.Thread(target=consume)
        consumer.start()
        for n in range(MESSAGES):
            queue.put({"n": n, "padding": "x" * PADDING})
    consumer.join(timeout=60)
    done.set()
    consumer.join()
    return received, errors


def test_every_message_arrives_whole_and_once(tmp_path):
    received, errors = _race("portal.broker_filesystem:Transport", tmp_path)
    assert errors == []
    assert sorted(m["n"] for m in received) == list(range(MESSAGES))
    assert all(len(m["padding"]) == PADDING for m in received)
