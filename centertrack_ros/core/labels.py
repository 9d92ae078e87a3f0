"""The one rule between class ids and the labels published for them.

A detection's class id is 1-based (the heatmap channel + 1). Its published label
(``results[0].hypothesis.class_id``, ``LabelInfo``, MOT files' class column read back, the debug
image) is the model's class name for that id, or the id itself as text when the model names no
classes. :class:`ClassIds` reads labels back to ids by the same rule, for evaluation.
"""

from __future__ import annotations

from typing import Mapping, Sequence

# Labels that are neither a configured name nor a number get ids above this, so they can
# never collide with a real class id.
_FIRST_FOREIGN_ID = 1001


def class_label(class_names: Sequence[str], class_id: int) -> str:
    """Label of a 1-based class id: its name, else the id as text."""
    if 1 <= class_id <= len(class_names):
        return class_names[class_id - 1]
    return str(class_id)


def class_labels(class_names: Sequence[str], num_classes: int) -> tuple[str, ...]:
    """Labels of class ids 1..``num_classes`` in id order."""
    return tuple(class_label(class_names, class_id) for class_id in range(1, num_classes + 1))


class ClassIds:
    """Labels back to 1-based class ids, the inverse of :func:`class_label`.

    A configured name gets its position + 1 (case-insensitively); a numeric label keeps its
    number; any other label gets a fresh id above both; '' is unknown (-1), which the metrics
    match with any class.
    """

    def __init__(self, class_names: Sequence[str] = ()) -> None:
        self.names = tuple(class_names)
        self._ids: dict[str, int] = {n.lower(): k + 1 for k, n in enumerate(self.names)}
        self._next = max(len(self.names) + 1, _FIRST_FOREIGN_ID)

    def __call__(self, label: str) -> int:
        """Class id of a label."""
        if not label:
            return -1
        key = label.lower()
        if key in self._ids:
            return self._ids[key]
        if key.lstrip('-').isdigit():
            return int(key)
        self._ids[key] = self._next
        self._next += 1
        return self._ids[key]

    @property
    def mapping(self) -> Mapping[str, int]:
        """Every label seen so far (and the configured names) with its id."""
        return dict(self._ids)
