"""Object UUIDs: one per track, stable for its life, never shared by two tracks.

Autoware identifies a tracked object by a 16-byte UUID (``unique_identifier_msgs/UUID``). Ours
is derived from where the track lives (the node's fully qualified name, the camera and an
optional instance string) and the track id, so it needs no state and is the same in the node
and in an offline bag run. Layout, byte by byte (an RFC 9562 version-8 UUID, "custom"):

==========  =====================================================================================
bytes 0-9   ``SHA-256(b'centertrack_ros/object_id/v1' + 0x00 + node + 0x00 + camera + 0x00 +
            instance)[0:10]`` (strings UTF-8), with the UUID version in the high nibble of byte
            6 (``0x8``) and the variant in the two high bits of byte 8 (``0b10``)
bytes 10-15 the track id, unsigned, big-endian (48 bits)
==========  =====================================================================================

Printed (``uuid.UUID(bytes=...)``), the last 12 hex digits are the track id.

- Within one node and camera, two tracks never share a UUID: the first 10 bytes are equal and
  the track ids differ (track ids are never reused, and :data:`~centertrack_ros.core.tracker.
  MAX_TRACK_ID` = 2**48 - 1 keeps every id inside its 6 bytes: the tracker raises before it
  would hand out a larger one).
- Across cameras and nodes, the 74 hash bits differ unless SHA-256 collides on them
  (probability 2**-74 for a pair of node/camera names). Track ids are also unique across the
  cameras of one node (one counter), so even equal prefixes could not collide there.
- ``instance`` separates runs of one node name that must not share UUIDs (e.g. the start time of
  the process, when a restarted node's track 1 must differ from the previous run's); empty by
  default, which makes the UUIDs of a node reproducible.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Optional

from ..core.tracker import MAX_TRACK_ID

UUID_NAMESPACE = b'centertrack_ros/object_id/v1'
TRACK_ID_BYTES = 6
PREFIX_BYTES = 16 - TRACK_ID_BYTES


def uuid_prefix(node: str, camera: str = '', instance: str = '') -> bytes:
    """Return the 10 leading bytes shared by every UUID of one node, camera and instance."""
    digest = hashlib.sha256(b'\0'.join(
        [UUID_NAMESPACE, node.encode('utf-8'), camera.encode('utf-8'),
         instance.encode('utf-8')])).digest()
    prefix = bytearray(digest[:PREFIX_BYTES])
    prefix[6] = 0x80 | (prefix[6] & 0x0F)  # version 8
    prefix[8] = 0x80 | (prefix[8] & 0x3F)  # variant 0b10 (RFC 9562)
    return bytes(prefix)


class ObjectIdSpace:
    """The UUIDs of one camera of one node: ``uuid(track_id)`` (see the module doc)."""

    def __init__(self, node: str, camera: str = '', instance: str = '') -> None:
        self.node = node
        self.camera = camera
        self.instance = instance
        self.prefix = uuid_prefix(node, camera, instance)

    def uuid(self, track_id: int) -> bytes:
        """Return the 16 bytes of a track's UUID.

        Raises:
            ValueError: ``track_id`` is negative or above MAX_TRACK_ID (the tracker never hands
                out such an id).

        """
        track_id = int(track_id)
        if not 0 <= track_id <= MAX_TRACK_ID:
            raise ValueError(f'track id {track_id} does not fit the object UUID (0 to '
                             f'{MAX_TRACK_ID})')
        return self.prefix + track_id.to_bytes(TRACK_ID_BYTES, 'big')

    def text(self, track_id: int) -> str:
        """Return a track's UUID in its canonical text form."""
        return str(uuid.UUID(bytes=self.uuid(track_id)))

    def track_id(self, object_id: bytes) -> Optional[int]:
        """Return the track id of one of this space's UUIDs, or None for another's UUID."""
        object_id = bytes(object_id)
        if len(object_id) != 16 or object_id[:PREFIX_BYTES] != self.prefix:
            return None
        return int.from_bytes(object_id[PREFIX_BYTES:], 'big')
