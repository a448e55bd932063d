"""The demo's Celery broker when there is no Redis: kombu's filesystem transport, with
each message written under a temporary name and then renamed into the queue folder.

kombu 5.x creates the message file under its final name, then locks it and writes: a
worker listing the folder in between moves the still-empty file away, fails to decode it
and stops ("Unrecoverable error: JSONDecodeError"), which took `make run`'s worker down
now and then. Here a message is written under a temporary name, then renamed: a rename
within one folder is atomic, so a worker sees whole messages or none. Selected by
CELERY_BROKER_TRANSPORT in the settings."""

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        # kombu's own name (its order is the queue's), so its _get finds the message; the
        # temporary name does not end in ".<queue>.msg", so _get skips it.
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + ".part"
        try:
            with open(partial, "wb", buffering=0) as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
