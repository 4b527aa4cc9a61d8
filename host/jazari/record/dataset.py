"""Labelled examples on disk, in the layout training reads.

    DIR/manifest.json              {"format": 1, "examples": [...]}, one entry per example
    DIR/<label>/<label>.<n>.csv    t_us, then one column per channel

An example is written under a temporary name and renamed once complete;
the manifest is replaced atomically after each one, so an interrupted
session leaves every finished example and nothing half-written.
docs/datasets.md describes every field.
"""

import json
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from jazari.errors import JazariError
from jazari.files import write_atomically
from jazari.i18n import _

MANIFEST = "manifest.json"
FORMAT = 1
# Characters that cannot be in a folder name on Windows, macOS or Linux.
_FORBIDDEN = re.compile(r'[\x00-\x1f<>:"|?*]')


def check_label(label):
    """The label, or a JazariError saying why it cannot name a folder."""
    if any(separator in label for separator in ("/", "\\")):
        raise JazariError(
            _("The label '{label}' contains a path separator (/ or \\): use a plain word, e.g. 'wave'.").format(label=label)
        )
    if not label.strip() or label.strip(".") == "" or _FORBIDDEN.search(label) or label != label.strip():
        raise JazariError(
            _("The label '{label}' cannot name a folder: use letters, digits, '-' or '_', e.g. 'wave'.").format(label=label)
        )
    return label


def utc_now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def read_manifest(root):
    """The examples listed in `root`/manifest.json ([] if there is none yet)."""
    path = Path(root) / MANIFEST
    if not path.exists():
        return []
    try:
        return list(json.loads(path.read_text(encoding="utf-8"))["examples"])
    except (ValueError, KeyError, TypeError):
        raise JazariError(
            _("{path} is not a dataset manifest: move it away or pick another folder with --dataset DIR.").format(path=path)
        ) from None


class Dataset:
    """A dataset folder: where the next example of a label goes, and its manifest."""

    def __init__(self, root):
        self.root = Path(root)
        self.manifest_path = self.root / MANIFEST
        self._check_writable()
        self.examples = read_manifest(self.root)

    def _check_writable(self):
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root):
                pass
        except OSError as failure:
            raise JazariError(
                _("Cannot write in the dataset folder {folder} ({reason}): pick another with --dataset DIR.").format(folder=self.root, reason=failure.strerror or failure)
            ) from None

    def next_path(self, label):
        """DIR/<label>/<label>.<n>.csv with n one more than any example there."""
        folder = self.root / check_label(label)
        folder.mkdir(exist_ok=True)
        pattern = re.compile(r"^%s\.(\d+)\.\w+$" % re.escape(label))
        taken = [int(match.group(1)) for match in map(pattern.match, os.listdir(folder)) if match]
        taken += [int(m.group(1)) for m in (pattern.match(Path(e["file"]).name) for e in self.examples) if m]
        return folder / ("%s.%d.csv" % (label, max(taken, default=0) + 1))

    def add(self, entry):
        """Record one finished example (its file relative to the root) in the manifest."""
        self.examples.append(entry)
        # One example per line: easy to read, and to compare between two sessions.
        lines = ",\n".join(" " + json.dumps(entry, ensure_ascii=False) for entry in self.examples)
        write_atomically(self.manifest_path, [('{"format": %d, "examples": [\n%s\n]}\n' % (FORMAT, lines)).encode()])

    def relative(self, path):
        return Path(path).relative_to(self.root).as_posix()


def load_examples(root, skip_flagged=False):
    """[(manifest entry, t_us, values)] of a dataset folder, in recording order.

    What training reads: `values` is (samples, channels) float32 in the
    entry's units. With `skip_flagged`, examples with holes are left out.
    """
    from jazari.record.writers import read_csv

    loaded = []
    for entry in read_manifest(root):
        if skip_flagged and entry.get("flagged"):
            continue
        _names, t_us, values = read_csv(Path(root) / entry["file"])
        loaded.append((entry, t_us, values))
    return loaded
