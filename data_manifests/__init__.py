"""The data manifests (``*.json``: every data set's files, sources, sha256 and license; see ``README.md``).

This folder is a package only so that ``pip install`` ships the manifests with mmcore and specvae (installed under
the name ``specvae_data_manifests``, which no other project's package takes): a benchmark run
from an installed copy verifies its data against the same files as one run from the repository. Nothing here is
code; ``mmcore.data.manifest`` reads the files through ``importlib.resources``.
"""
